-- nginx-lua target of callfix-bench: the calls route rewritten the way an
-- OpenResty or Kong request-transformer user would do it (access phase):
-- decode the JSON body with cjson, turn a national US number in phoneNumber
-- and callerId into E.164 with a plain digits rule, encode the table again.
--
-- The digits rule: drop "tel:" and every non-digit; 10 digits become
-- +1DDDDDDDDDD, 11 digits starting with 1 become +DDDDDDDDDDD; a value that
-- already starts with "+" (after "tel:") is left alone. phoneNumber gets the
-- "tel:" prefix back, as callfix's address format writes it. A body with
-- nothing to change is forwarded as it came (no re-encoding).
--
-- What cjson does to the rest of the body is the point of the comparison:
-- key order is lost, "/" is escaped as "\/", an empty array [] comes back as
-- {}, and numbers are doubles printed with 14 significant digits. The
-- harness's fidelity check (fidelity.go) shows each of these.
local cjson = require "cjson.safe"

local function e164(v)
  if type(v) ~= "string" then
    return nil
  end
  local s = v:gsub("^tel:", "")
  if s:sub(1, 1) == "+" then
    return nil
  end
  local d = s:gsub("%D", "")
  if #d == 10 then
    return "+1" .. d
  elseif #d == 11 and d:sub(1, 1) == "1" then
    return "+" .. d
  end
  return nil
end

ngx.req.read_body()
local body = ngx.req.get_body_data()
if not body then
  return -- no body, or one nginx spilled to a file: forwarded as sent
end
local doc = cjson.decode(body)
if type(doc) ~= "table" then
  return -- not a JSON object: forwarded as sent
end
local phone = e164(doc.phoneNumber)
local caller = e164(doc.callerId)
if phone then
  doc.phoneNumber = "tel:" .. phone
end
if caller then
  doc.callerId = caller
end
if phone or caller then
  ngx.req.set_body_data(cjson.encode(doc))
end
