-- wrk script of callfix-bench: POST /api/v2/conversations/calls with a
-- CreateCallRequest body built per request from a counter, so that callfix
-- sees 100,000 distinct numbers and no cache can help it.
--
--   wrk -t2 -c64 -d5s --latency -s call.lua http://127.0.0.1:PORT/api/v2/conversations/calls -- national
--   wrk ... -- canonical
--
-- national  (call-rewrite):   phoneNumber "(317) 55D-DDDD", callerId another
--                             such number: both fields need rewriting.
-- canonical (call-canonical): the same numbers already as "tel:+131755DDDDD"
--                             and "+131755DDDDD": callfix changes nothing.
--
-- Number k (0 <= k < 100000) is "(317) 55" .. floor(k/10000) .. "-" ..
-- k%10000 on four digits; the callerId is number (k + 50000) % 100000. The
-- bytes are exactly those of callBody in tools/callfix-bench/scenarios.go
-- (a test checks it). Each wrk thread starts at its own offset.

local distinct = 100000
local form = "national"
local k = 0

-- setup runs in wrk's main Lua state, once per thread: number them.
local threads = 0
function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

function init(args)
  form = args[1] or "national"
  if form ~= "national" and form ~= "canonical" then
    error("call.lua: the argument after -- is national or canonical, not " .. tostring(form))
  end
  -- thread_index is set by setup() above; spread the threads apart.
  k = ((thread_index or 0) * 37813) % distinct
end

local function national(n)
  return string.format("(317) 55%d-%04d", math.floor(n / 10000), n % 10000)
end

local function e164(n)
  return string.format("+131755%d%04d", math.floor(n / 10000), n % 10000)
end

local prefix = '{"phoneNumber":"'
local middle = '","callerId":"'
local suffix = '","callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21",' ..
  '"participants":[{"address":"user:2ca3b6e8-0000-4000-8000-000000000001"}]}'

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer bench.token.value"
wrk.headers["Content-Type"] = "application/json"

function request()
  local n = k % distinct
  local c = (n + distinct / 2) % distinct
  k = k + 1
  local phone, caller
  if form == "canonical" then
    phone, caller = "tel:" .. e164(n), e164(c)
  else
    phone, caller = national(n), national(c)
  end
  return wrk.format(nil, nil, nil, prefix .. phone .. middle .. caller .. suffix)
end
