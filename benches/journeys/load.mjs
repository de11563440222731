// 1,000 simulated customers at once through the order-status journey over the HTTP API.
//
//   node benches/journeys/load.mjs <base_url> [customers=1000] [journey|answers]
//
// Each customer opens a conversation, then says, one turn after the other:
//   journey:  "where is my order"  ->  "JM-<order>"  ->  "<email>"   (orders of the sample CRM)
//   answers:  three knowledge questions (retrieval-only answers), the same load shape
// and finally reads the transcript back. Every turn's latency
// is recorded; the transcript must hold exactly the customer's three messages and three bot
// replies, in order, each once (no message lost, none duplicated), and the last reply must
// report the right order. Prints one JSON line with the figures.

const base = (process.argv[2] || "http://127.0.0.1:8080").replace(/\/$/, "");
const customers = Number(process.argv[3] || 1000);
const mode = process.argv[4] || "journey";
const questions = [
  ["How long do refunds take?", "What are your store hours?", "Can I return without a receipt?"],
  ["How do I reset my password?", "Do you price match?", "How much is same-day delivery?"],
  ["How do I lock my card?", "When is my Juniper Pay bill due?", "Where do you ship?"],
];

// Orders of the sample CRM (knowledge/crm/customers.json) and their owners' emails.
const orders = [
  ["JM-204518837", "maya.thompson@example.com"],
  ["JM-204519204", "maya.thompson@example.com"],
  ["JM-204517390", "daniel.okafor@example.net"],
  ["JM-204518120", "sophie.tremblay@example.org"],
  ["JM-204519455", "sophie.tremblay@example.org"],
  ["JM-204518552", "liam.chen@example.com"],
  ["JM-204518999", "priya.raman@example.com"],
  ["JM-204518020", "ethan.brooks@example.net"],
];

async function post(path, body) {
  const started = performance.now();
  const res = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return [json, performance.now() - started];
}

async function customer(i, latencies) {
  const [order, email] = orders[i % orders.length];
  const [conv] = await post("/v1/conversations", { channel: "web" });
  const said = mode === "journey" ? ["where is my order", order, email] : questions[i % questions.length];
  let last;
  for (const text of said) {
    const [turn, ms] = await post(`/v1/conversations/${conv.id}/messages`, { text });
    latencies.push(ms);
    last = turn;
  }
  const reply = last.reply?.text ?? "";
  if (mode === "journey" && !reply.includes(order)) {
    throw new Error(`customer ${i}: last reply lacks ${order}: ${reply}`);
  }
  const res = await fetch(`${base}/v1/conversations/${conv.id}`);
  const transcript = await res.json();
  const messages = transcript.messages ?? [];
  const customerTexts = messages.filter((m) => m.role === "customer").map((m) => m.text);
  const bots = messages.filter((m) => m.role === "bot").length;
  const ids = new Set(messages.map((m) => m.id));
  return {
    lost: Math.max(0, 3 - customerTexts.length) + Math.max(0, 3 - bots),
    duplicated: Math.max(0, customerTexts.length - 3) + Math.max(0, bots - 3) + (messages.length - ids.size),
    outOfOrder: JSON.stringify(customerTexts) === JSON.stringify(said) ? 0 : 1,
  };
}

const latencies = [];
const started = performance.now();
const results = await Promise.allSettled(
  Array.from({ length: customers }, (_, i) => customer(i, latencies)),
);
const seconds = (performance.now() - started) / 1000;
const failed = results.filter((r) => r.status === "rejected");
const ok = results.filter((r) => r.status === "fulfilled").map((r) => r.value);
const sum = (k) => ok.reduce((a, r) => a + r[k], 0);
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.round((latencies.length - 1) * p))];
console.log(
  JSON.stringify({
    mode,
    customers,
    completed: ok.length,
    failed: failed.length,
    first_error: failed[0]?.reason?.message,
    turns: latencies.length,
    seconds: +seconds.toFixed(2),
    turns_per_second: +(latencies.length / seconds).toFixed(1),
    p50_ms: +pct(0.5).toFixed(1),
    p99_ms: +pct(0.99).toFixed(1),
    max_ms: +latencies[latencies.length - 1].toFixed(1),
    lost: sum("lost"),
    duplicated: sum("duplicated"),
    out_of_order: sum("outOfOrder"),
  }),
);
if (failed.length || sum("lost") || sum("duplicated") || sum("outOfOrder")) process.exit(1);
