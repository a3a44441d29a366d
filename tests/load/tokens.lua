-- wrk script: GET with a bearer token taken in turn from a file of tokens,
-- one a line (LOAD_TOKENS). The requests are built once in init, so wrk
-- spends no more per request than with a fixed -H header.
local requests = {}
local next_index = 0
local threads = 0

function setup(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(os.getenv("LOAD_TOKENS")) do
    if line ~= "" then
      requests[#requests + 1] = wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. line })
    end
  end
  -- Threads start at different places in the list.
  next_index = ((thread_number or 0) * 499) % #requests
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
