-- wrk script: search as a visitor would hit it cold. Each request asks
-- for one to three random topic words of the synthetic corpus
-- (bench/corpus.rs), so nearly every query is new to the server, and a
-- random results page (1-100): what a query costs the index, uncached.
local topics = {
  "outlook", "password", "printer", "spooler", "driver", "backup", "restore", "update",
  "windows", "mailbox", "calendar", "sync", "onedrive", "teams", "excel", "macro",
  "network", "wifi", "router", "vpn", "firewall", "license", "activation", "install",
  "uninstall", "crash", "freeze", "slow", "error", "profile", "signin", "scanner",
  "toner", "queue", "duplex", "sharepoint", "permissions", "folder", "archive", "signature",
  "attachment", "meeting", "microphone", "camera", "headset", "monitor", "docking", "bluetooth",
  "keyboard", "battery", "ransomware", "phishing", "spam", "quarantine", "certificate", "browser",
  "cache", "cookies", "invoice", "payroll", "database", "server", "snapshot", "retention",
  "encryption", "bitlocker", "recovery", "laptop", "desktop", "tablet", "iphone", "android",
  "authenticator", "token",
}
math.randomseed(os.time())
request = function()
  local q = topics[math.random(#topics)]
  for _ = 2, math.random(3) do
    q = q .. "+" .. topics[math.random(#topics)]
  end
  return wrk.format("GET", "/search?q=" .. q .. "&page=" .. math.random(100))
end
