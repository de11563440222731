-- wrk script for the chat load benchmark (see README.md beside this file).
--
-- Every request posts one customer question to an existing conversation:
--   POST /v1/conversations/<id>/messages   {"text": "<question>"}
-- The conversation ids are made by run.sh before the run and listed, one per line, in the file
-- named by $WRK_CONVERSATIONS. Each request takes the next id and the next question, so the
-- load spreads over all conversations and all questions.
--
-- done() prints the usual error counts and one machine-readable line for run.sh:
--   RESULT rps=<req/s> p50_ms=<ms> p90_ms=<ms> p99_ms=<ms> requests=<n> non2xx=<n> errors=<n>

local questions = {
  "Where is my order?",
  "How can I track my parcel?",
  "My package is late, what should I do?",
  "How long does standard shipping take?",
  "How much does express delivery cost?",
  "Do you ship internationally?",
  "Can I change my delivery address after ordering?",
  "How do I cancel my order?",
  "An item is missing from my order",
  "I received a damaged item, can I get a replacement?",
  "How do I return something I bought online?",
  "Can I return an online order to a store?",
  "What is your return policy?",
  "When will I get my refund?",
  "My refund has not arrived yet",
  "Can I exchange shoes for a different size?",
  "How do I apply for the Juniper Pay card?",
  "My Juniper Pay card was declined at checkout",
  "How do I pay my Juniper Pay card bill?",
  "I lost my card, how do I block it?",
  "What are the benefits of Juniper Plus membership?",
  "How do I cancel my Juniper Plus membership?",
  "I forgot my password",
  "How do I reset my password?",
  "I can't log in to my account",
  "How do I change the email address on my account?",
  "What are your store opening hours?",
  "Is the store open on public holidays?",
  "Do you price match?",
  "How do I use a gift card online?",
  "Can I talk to a human agent?",
}

-- JSON string escaping for the few characters a question could contain.
local function json_string(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. s .. '"'
end

-- ---- main state: hand each thread a number so threads start at different offsets ----

local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("thread_no", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

-- ---- per-thread state ----

local ids = {}
local bodies = {}
local headers = { ["Content-Type"] = "application/json" }
local counter = 0
non2xx = 0 -- global so that done() can read it with thread:get()

function init(args)
  local path = os.getenv("WRK_CONVERSATIONS")
  if not path or path == "" then
    error("set WRK_CONVERSATIONS to a file of conversation ids, one per line")
  end
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    local id = line:match("^%s*(.-)%s*$")
    if id ~= "" then table.insert(ids, id) end
  end
  file:close()
  if #ids == 0 then error("no conversation ids in " .. path) end

  for i, q in ipairs(questions) do
    bodies[i] = '{"text":' .. json_string(q) .. '}'
  end
  -- Threads start far apart in the rotation (thread_no is set by setup()).
  counter = (thread_no or 0) * 7919
end

function request()
  counter = counter + 1
  local id = ids[counter % #ids + 1]
  local body = bodies[counter % #bodies + 1]
  return wrk.format("POST", "/v1/conversations/" .. id .. "/messages", headers, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local non2xx_total = 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + (tonumber(thread:get("non2xx")) or 0)
  end
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.timeout
  local seconds = summary.duration / 1e6
  local rps = seconds > 0 and summary.requests / seconds or 0

  io.write(string.format("errors: connect=%d read=%d write=%d timeout=%d status>=400=%d non2xx=%d\n",
    e.connect, e.read, e.write, e.timeout, e.status, non2xx_total))
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f requests=%d non2xx=%d errors=%d\n",
    rps,
    latency:percentile(50) / 1000,
    latency:percentile(90) / 1000,
    latency:percentile(99) / 1000,
    summary.requests, non2xx_total, errors))
end
