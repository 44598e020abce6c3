-- Mixed visitor traffic for bench/mixed.sh: pages, lists, search (new
-- queries keep coming, so its caches fill), feeds and forms shown.
local paths = {
  "/", "/articles", "/articles/windows-update-stuck", "/blog", "/privacy",
  "/cookies", "/contact", "/services", "/chat", "/my-data", "/surveys",
  "/feed.xml", "/sitemap.xml", "/robots.txt", "/tags/windows", "/no-such-page",
}
local words = { "outlook", "printer", "windows", "update", "password", "backup",
  "network", "driver", "email", "office", "slow", "error", "install", "wifi" }
local n = 0
request = function()
  n = n + 1
  if n % 4 == 0 then
    local q = words[n % #words + 1] .. "+" .. words[math.floor(n / 7) % #words + 1] .. "+" .. (n % 997)
    return wrk.format("GET", "/search?q=" .. q .. "&page=" .. (n % 3 + 1))
  end
  return wrk.format("GET", paths[n % #paths + 1])
end
