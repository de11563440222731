// Websocket load for the web widget, loopback only, bounded in time.
//
//   node benches/widget/load.mjs <base_url> idle <sockets=10000> [hold_seconds=10]
//   node benches/widget/load.mjs <base_url> active <sessions=1000> <ws|rest> [turns=3]
//
// idle:   opens <sockets> conversations over REST, then one widget websocket to each (in
//         batches), waits until every socket has its `hello`, holds them all for a while
//         (checking none closed), and closes them. Prints how many opened and how long it took.
// active: <sessions> customers at once, each opening a conversation and asking <turns>
//         knowledge questions one after the other (retrieval-only answers), over the widget's
//         websocket (turn = from sending the frame to the bot's message arriving) or over REST
//         (turn = the POST .../messages round trip): the same load shape, the peer run.
//         Checks that every message arrives once. Prints p50/p99 turn latency.
import WebSocket from 'ws';
import { readFileSync } from 'node:fs';

const base = (process.argv[2] || 'http://127.0.0.1:8080').replace(/\/$/, '');
const mode = process.argv[3] || 'idle';
const wsBase = base.replace(/^http/, 'ws');
const questions = [
  'How long do refunds take?', 'What are your store hours?', 'Can I return without a receipt?',
  'How do I reset my password?', 'Do you price match?', 'How much is same-day delivery?',
  'How do I lock my card?', 'When is my Juniper Pay bill due?', 'Where do you ship?',
];

async function open() {
  const res = await fetch(base + '/v1/conversations', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"channel":"web"}',
  });
  if (res.status !== 201) throw new Error('open: ' + res.status + ' ' + (await res.text()));
  return res.json();
}

function socket(conv) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsBase}/v1/conversations/${conv.id}/ws`,
      ['warmline.widget.v1', 'token.' + conv.access_token], { perMessageDeflate: false });
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('no hello in 60 s')); }, 60000);
    ws.once('message', (data) => {
      clearTimeout(timer);
      if (JSON.parse(data).type !== 'hello') reject(new Error('first frame is not hello'));
      else resolve(ws);
    });
    ws.once('error', (e) => { clearTimeout(timer); reject(e); });
    ws.once('unexpected-response', (_, res) => { clearTimeout(timer); reject(new Error('refused: ' + res.statusCode)); });
  });
}

async function inBatches(n, size, f) {
  const out = [];
  for (let i = 0; i < n; i += size) {
    out.push(...(await Promise.allSettled(Array.from({ length: Math.min(size, n - i) }, (_, j) => f(i + j)))));
  }
  return out;
}

// The server's resident memory in MiB, when SERVER_PID names it (Linux /proc).
const rss = () => {
  const pid = process.env.SERVER_PID;
  if (!pid) return null;
  const kib = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  return +(kib / 1024).toFixed(1);
};

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.round((xs.length - 1) * p))];

async function idle() {
  const n = Number(process.argv[4] || 10000);
  const hold = Number(process.argv[5] || 10);
  const rssBefore = rss();
  const started = performance.now();
  const convs = (await inBatches(n, 200, () => open())).filter((r) => r.status === 'fulfilled').map((r) => r.value);
  const opened = performance.now();
  const results = await inBatches(convs.length, 500, (i) => socket(convs[i]));
  const sockets = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
  const connected = performance.now();
  let closed = 0;
  for (const ws of sockets) ws.on('close', () => { closed += 1; });
  await new Promise((r) => setTimeout(r, hold * 1000));
  const rssHeld = rss();
  const line = {
    mode: 'idle', wanted: n, conversations: convs.length, sockets_open: sockets.length - closed,
    failed: results.length - sockets.length + (n - convs.length), closed_while_held: closed,
    first_error: results.find((r) => r.status === 'rejected')?.reason?.message,
    open_conversations_s: +((opened - started) / 1000).toFixed(1),
    connect_sockets_s: +((connected - opened) / 1000).toFixed(1), held_s: hold,
    server_rss_before_mib: rssBefore, server_rss_held_mib: rssHeld,
  };
  for (const ws of sockets) ws.terminate();
  await new Promise((r) => setTimeout(r, 3000));
  line.server_rss_after_close_mib = rss();
  if (rssBefore !== null && sockets.length) {
    line.server_kib_per_socket = +(((rssHeld - rssBefore) * 1024) / sockets.length).toFixed(1);
  }
  console.log(JSON.stringify(line));
  if (line.failed || line.closed_while_held) process.exitCode = 1;
}

async function wsSession(i, turns, latencies) {
  const conv = await open();
  const ws = await socket(conv);
  const seen = new Set();
  let dupes = 0;
  let waiting = null;
  ws.on('message', (data) => {
    const f = JSON.parse(data);
    if (f.type !== 'message') return;
    if (seen.has(f.message.id)) dupes += 1;
    seen.add(f.message.id);
    if (f.message.role === 'bot' && waiting) { const w = waiting; waiting = null; w(); }
  });
  for (let t = 0; t < turns; t += 1) {
    const sent = performance.now();
    const answered = new Promise((resolve, reject) => {
      waiting = resolve;
      setTimeout(() => reject(new Error('no answer in 60 s')), 60000).unref();
    });
    ws.send(JSON.stringify({ type: 'message', client_id: `s${i}t${t}`, text: questions[(i + t) % questions.length] }));
    await answered;
    latencies.push(performance.now() - sent);
  }
  ws.close();
  return { messages: seen.size, dupes };
}

async function restSession(i, turns, latencies) {
  const conv = await open();
  for (let t = 0; t < turns; t += 1) {
    const sent = performance.now();
    const res = await fetch(`${base}/v1/conversations/${conv.id}/messages`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: questions[(i + t) % questions.length] }),
    });
    const turn = await res.json();
    if (!res.ok || !turn.reply) throw new Error('turn: ' + res.status);
    latencies.push(performance.now() - sent);
  }
  return { messages: turns * 2, dupes: 0 };
}

async function active() {
  const n = Number(process.argv[4] || 1000);
  const transport = process.argv[5] || 'ws';
  const turns = Number(process.argv[6] || 3);
  const latencies = [];
  const started = performance.now();
  const session = transport === 'rest' ? restSession : wsSession;
  const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => session(i, turns, latencies)));
  const seconds = (performance.now() - started) / 1000;
  const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
  latencies.sort((a, b) => a - b);
  const line = {
    mode: 'active', transport, sessions: n, completed: ok.length, failed: n - ok.length,
    first_error: results.find((r) => r.status === 'rejected')?.reason?.message,
    turns: latencies.length, seconds: +seconds.toFixed(2), turns_per_second: +(latencies.length / seconds).toFixed(1),
    p50_ms: +pct(latencies, 0.5).toFixed(1), p99_ms: +pct(latencies, 0.99).toFixed(1),
    max_ms: +latencies[latencies.length - 1].toFixed(1),
    lost: ok.reduce((a, r) => a + Math.max(0, turns * 2 - r.messages), 0),
    duplicated: ok.reduce((a, r) => a + r.dupes, 0),
  };
  console.log(JSON.stringify(line));
  if (line.failed || line.lost || line.duplicated) process.exitCode = 1;
}

await (mode === 'active' ? active() : idle());
