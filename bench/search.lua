-- wrk script: each request searches for one of these, in turn.
local queries = {
  "outlook", "outlook+password", "printer+spooler", "windows+update+error",
  "backup+restore", "teams+microphone", "excel+macro+crash", "onedrive+sync+stuck",
  "vpn", "the", "how+to+fix+my+printer", "ransomware+recovery+backup", "bitlocker",
  "signature+attachment", "fix", "zzzz", "print", "passwords",
  "%22+OR+1%3D1+--", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "NEAR(outlook+printer)",
  "upd", "network+router+wifi+slow", "authenticator+token+iphone",
}
local i = 0
request = function()
  i = i % #queries + 1
  return wrk.format("GET", "/search?q=" .. queries[i])
end
