-- wrk script: like search.lua, but each request asks for a random results
-- page (1-100) of one of the queries, so the result cache rarely helps.
local queries = {
  "outlook", "outlook+password", "printer+spooler", "windows+update+error",
  "backup+restore", "teams+microphone", "excel+macro+crash", "onedrive+sync+stuck",
  "vpn", "the", "how+to+fix+my+printer", "ransomware+recovery+backup", "bitlocker",
  "signature+attachment", "fix", "zzzz", "print", "passwords",
  "%22+OR+1%3D1+--", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "NEAR(outlook+printer)",
  "upd", "network+router+wifi+slow", "authenticator+token+iphone",
}
math.randomseed(os.time())
request = function()
  local q = queries[math.random(#queries)]
  return wrk.format("GET", "/search?q=" .. q .. "&page=" .. math.random(100))
end
