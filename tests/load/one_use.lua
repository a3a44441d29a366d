-- wrk script: one request per line of LOAD_LINES, each line sent once
-- while the list lasts (credentials good once: DPoP proofs, client
-- assertions, made ahead by auth-server/examples/dpop_load.rs). A line is
-- the request's DPoP header of a GET (LOAD_LINE_AS=dpop) or ends the form
-- body LOAD_BODY of a POST (LOAD_LINE_AS=body); LOAD_AUTHORIZATION, if
-- set, goes with every request. Thread i of LOAD_THREADS (wrk's -t, 2)
-- takes lines i, i+n, i+2n…, so no two threads send the same line. The
-- requests are built once in init: no time is spent per request.
local requests = {}
local next_index = 0
local threads = 0

function setup(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end

function init(args)
  local stride = tonumber(os.getenv("LOAD_THREADS") or "2")
  local as_dpop = (os.getenv("LOAD_LINE_AS") or "dpop") == "dpop"
  local authorization = os.getenv("LOAD_AUTHORIZATION")
  local body = os.getenv("LOAD_BODY") or ""
  local index = 0
  for line in io.lines(os.getenv("LOAD_LINES")) do
    if line ~= "" then
      if index % stride == (thread_number or 0) then
        local headers = {}
        if authorization and authorization ~= "" then
          headers["Authorization"] = authorization
        end
        if as_dpop then
          headers["DPoP"] = line
          requests[#requests + 1] = wrk.format("GET", nil, headers)
        else
          headers["Content-Type"] = "application/x-www-form-urlencoded"
          requests[#requests + 1] = wrk.format("POST", nil, headers, body .. line)
        end
      end
      index = index + 1
    end
  end
end

function request()
  -- Past the end the list starts again: those replays are refused and
  -- show as Non-2xx; LOAD_ONE_USE_PER_SECOND makes the list long enough.
  next_index = next_index % #requests + 1
  return requests[next_index]
end
