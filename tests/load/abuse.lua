-- wrk script for tests/load/abuse.sh: failed logins at POST /login, each
-- for a different unknown email (so every one costs an argon2id check), and
-- each thread stops itself after its share of ABUSE_REQUESTS answers.
--
-- The login throttle refuses an address after 30 failures, which would turn
-- the run into cheap 429s. To keep the pressure on hashing, each request
-- names a client address of its own in X-Forwarded-For and X-Real-IP
-- (198.18.0.0/15, the benchmarking range: header values only, no traffic
-- goes there); the server believes them only from a trusted proxy, which
-- abuse.sh declares loopback to be.

local threads = {}
local total = tonumber(os.getenv("ABUSE_REQUESTS") or "10000")

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  -- wrk tells a thread nothing of its peers; abuse.sh passes their number.
  share = math.ceil(total / tonumber(os.getenv("ABUSE_THREADS") or "2"))
  sent = 0
  answered = 0
  statuses = {}
end

request = function()
  sent = sent + 1
  local n = id * 1000000 + sent
  -- A new address every 20 attempts, well under the throttle's allowance.
  local address_index = math.floor(n / 20)
  local address = string.format("198.18.%d.%d", math.floor(address_index / 250) % 250, address_index % 250 + 1)
  local body = string.format("username=nobody-%d-%d%%40example.com&password=not-the-password-%d", id, sent, sent)
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Forwarded-For"] = address,
    ["X-Real-IP"] = address,
  }
  return wrk.format("POST", "/login", headers, body)
end

response = function(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if answered == share then
    -- wrk runs for its whole duration; abuse.sh interrupts it (wrk then
    -- prints its summary) once every thread has left this mark.
    local mark = io.open(string.format("%s/thread-%d", os.getenv("ABUSE_DONE_DIR"), id), "w")
    if mark then mark:close() end
    wrk.thread:stop()
  end
end

done = function(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for status, count in pairs(s) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  for status, count in pairs(counts) do
    io.write(string.format("status %d: %d\n", status, count))
  end
  io.write(string.format("requests: %d\n", summary.requests))
  io.write(string.format("p50_ms: %.1f\n", latency:percentile(50) / 1000))
  io.write(string.format("p99_ms: %.1f\n", latency:percentile(99) / 1000))
  io.write(string.format("max_ms: %.1f\n", latency.max / 1000))
end
