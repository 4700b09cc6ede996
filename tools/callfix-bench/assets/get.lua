-- wrk script of callfix-bench: GET (get-small: /api/v2/users/me, get-10m:
-- /api/v2/big; the path comes from the URL on wrk's command line).
--
--   wrk -t2 -c64 -d5s --latency -s get.lua http://127.0.0.1:PORT/api/v2/users/me
--
-- No request() function: wrk then builds the request once and sends the
-- same bytes every time, so the script costs nothing per request.
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer bench.token.value"
