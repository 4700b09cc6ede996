-- wrk script of callfix-bench: put-100k, PUT /api/v2/blob with a 100 KiB
-- body (not intercepted by callfix: streamed through).
--
--   wrk -t2 -c64 -d5s --latency -s put-100k.lua http://127.0.0.1:PORT/api/v2/blob
--
-- The body is built once (no request() function): the same bytes as the Go
-- generator's, 'a'..'z' repeated.
local size = 100 * 1024
local alphabet = "abcdefghijklmnopqrstuvwxyz"
local body = string.rep(alphabet, math.floor(size / 26)) .. alphabet:sub(1, size % 26)
assert(#body == size)

wrk.method = "PUT"
wrk.headers["Authorization"] = "Bearer bench.token.value"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.body = body
