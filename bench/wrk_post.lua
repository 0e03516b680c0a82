-- wrk script: POST pre-signed, distinct Stripe events to /stripe/webhook.
--   wrk -s bench/wrk_post.lua URL -- EVENTS_FILE THREADS [RATE_PER_CONNECTION_MS]
-- EVENTS_FILE has one event a line: "<Stripe-Signature>\t<body>" (bench/ingest.py writes it). Each
-- thread takes every THREADS-th line, so no event is sent twice. With a third argument, each
-- connection waits that many milliseconds between requests (a fixed offered rate).
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  requests, sent, wrapped = {}, 0, 0
  local nthreads = tonumber(args[2])
  pause = tonumber(args[3] or "0")
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      local tab = line:find("\t", 1, true)
      local headers = {["Content-Type"] = "application/json; charset=utf-8", ["Stripe-Signature"] = line:sub(1, tab - 1)}
      requests[#requests + 1] = wrk.format("POST", "/stripe/webhook", headers, line:sub(tab + 1))
    end
    i = i + 1
  end
end

function delay()
  return pause
end

function request()
  sent = sent + 1
  if sent > #requests then
    sent, wrapped = 1, wrapped + 1
  end
  return requests[sent]
end
