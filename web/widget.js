/*! Warmline web widget. Embed with one tag (see the README, "Web widget"):
 *  <script src="https://help.example.com/widget.js" data-title="Help" data-color="#1b5fa8"
 *          data-greeting="Hi! How can I help?" data-position="right" data-lang="en" async></script>
 * It adds a launcher button and a chat panel (in a shadow root, so the site's CSS stays out),
 * opens a conversation on first use, keeps its id and access token in localStorage (a reload
 * shows the history), and talks to Warmline over a websocket that reconnects with backoff and
 * resumes after the last message it has. No dependencies, no build step. */
(() => {
  'use strict';
  const script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  if (!script || window.__warmlineWidget) return;
  window.__warmlineWidget = true;

  const base = new URL(script.src, location.href).origin;
  const data = script.dataset;
  const lang = (data.lang || document.documentElement.lang || 'en').toLowerCase().slice(0, 16);
  const TEXTS = {
    en: { open: 'Open chat', close: 'Close chat', send: 'Send', label: 'Your message', placeholder: 'Ask a question…',
      person: 'Talk to a person', typing: 'is typing…', writing: 'Writing…', sources: 'Sources', helpful: 'Helpful', unhelpful: 'Not helpful',
      thanks: 'Thanks for telling us.', reconnecting: 'Connection lost. Reconnecting…', offline: 'You are offline. Messages will be sent when you are back.',
      sending: 'Sending…', failed: 'Not sent', rate: 'How was this conversation? (1 = poor, 5 = great)', comment: 'Anything to add? (optional)',
      submit: 'Send rating', rated: 'Thank you for your feedback.', closed: 'This conversation has ended.', again: 'Start a new conversation',
      callback: 'Phone or email', leave: 'Your message for the team', agent: 'Agent', you: 'You', error: 'Something went wrong. Please try again.' },
    es: { open: 'Abrir chat', close: 'Cerrar chat', send: 'Enviar', label: 'Tu mensaje', placeholder: 'Haz una pregunta…',
      person: 'Hablar con una persona', typing: 'está escribiendo…', writing: 'Escribiendo…', sources: 'Fuentes', helpful: 'Útil', unhelpful: 'No útil',
      thanks: 'Gracias por decírnoslo.', reconnecting: 'Conexión perdida. Reconectando…', offline: 'Sin conexión. Los mensajes se enviarán al volver.',
      sending: 'Enviando…', failed: 'No enviado', rate: '¿Qué tal fue esta conversación? (1 = mal, 5 = genial)', comment: '¿Algo más? (opcional)',
      submit: 'Enviar valoración', rated: 'Gracias por tu opinión.', closed: 'Esta conversación ha terminado.', again: 'Empezar una nueva conversación',
      callback: 'Teléfono o correo', leave: 'Tu mensaje para el equipo', agent: 'Agente', you: 'Tú', error: 'Algo salió mal. Inténtalo de nuevo.' },
    fr: { open: 'Ouvrir le chat', close: 'Fermer le chat', send: 'Envoyer', label: 'Votre message', placeholder: 'Posez une question…',
      person: 'Parler à une personne', typing: 'écrit…', writing: 'Rédaction…', sources: 'Sources', helpful: 'Utile', unhelpful: 'Pas utile',
      thanks: 'Merci de nous le dire.', reconnecting: 'Connexion perdue. Reconnexion…', offline: 'Hors ligne. Les messages partiront à votre retour.',
      sending: 'Envoi…', failed: 'Non envoyé', rate: 'Comment s’est passée cette conversation ? (1 = mal, 5 = très bien)', comment: 'Autre chose ? (facultatif)',
      submit: 'Envoyer la note', rated: 'Merci pour votre avis.', closed: 'Cette conversation est terminée.', again: 'Nouvelle conversation',
      callback: 'Téléphone ou e-mail', leave: 'Votre message pour l’équipe', agent: 'Conseiller', you: 'Vous', error: 'Un problème est survenu. Réessayez.' },
  };
  const t = TEXTS[lang.split('-')[0]] || TEXTS.en;
  const title = (data.title || 'Help').slice(0, 80);
  const greeting = (data.greeting || 'Hi! Ask me anything.').slice(0, 500);
  const colorOk = /^(#[0-9a-f]{3,8}|[a-z]{3,20}|rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\))$/i;
  const color = colorOk.test(data.color || '') ? data.color : '#1b5fa8';
  const side = data.position === 'left' ? 'left' : 'right';
  const storeKey = 'warmline.widget:' + base;
  const PERSON = 'Talk to a person';

  // ---- state ---------------------------------------------------------------------------
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(storeKey) || '{}') || {}; } catch (_) { saved = {}; }
  const state = {
    id: saved.id || null, token: saved.token || null,
    pending: Array.isArray(saved.pending) ? saved.pending : [], // [{client_id, text}] not yet acknowledged
    ws: null, live: false, retries: 0, timer: null, idle: false,
    lastId: null, rendered: new Map(), ownership: 'bot', open: false, unread: 0,
  };
  const persist = () => {
    try {
      localStorage.setItem(storeKey, JSON.stringify({ id: state.id, token: state.token, pending: state.pending }));
    } catch (_) { /* private mode: this page only */ }
  };

  // ---- DOM -----------------------------------------------------------------------------
  const host = document.createElement('div');
  host.id = 'warmline-widget';
  const root = host.attachShadow({ mode: 'open' });
  root.innerHTML = `<style>
  :host { all: initial; }
  [hidden] { display: none !important; }
  * { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  .launcher { position: fixed; bottom: 20px; ${side}: 20px; z-index: 2147483000; width: 60px; height: 60px; border-radius: 50%;
    border: 0; background: var(--wl); color: #fff; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); display: grid; place-items: center; }
  .launcher:focus-visible, button:focus-visible, textarea:focus-visible, a:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
  .badge { position: absolute; top: -4px; right: -4px; background: #d93025; color: #fff; border-radius: 10px; font-size: 12px; padding: 1px 6px; }
  .badge[hidden] { display: none; }
  .panel { position: fixed; bottom: 92px; ${side}: 20px; z-index: 2147483001; width: 370px; height: min(600px, calc(100vh - 112px));
    background: #fff; color: #1d2433; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.25); display: flex; flex-direction: column; overflow: hidden; font-size: 15px; line-height: 1.45; }
  .panel[hidden] { display: none; }
  header { background: var(--wl); color: #fff; padding: 10px 12px; display: flex; align-items: center; gap: 8px; }
  header h2 { font-size: 16px; margin: 0; flex: 1; font-weight: 600; }
  header button { background: transparent; color: #fff; border: 1px solid rgba(255,255,255,.6); border-radius: 6px; padding: 4px 8px; cursor: pointer; font-size: 13px; }
  .status { font-size: 12px; background: #fff4ce; color: #5c4500; padding: 4px 12px; }
  .status[hidden] { display: none; }
  .log { flex: 1; overflow-y: auto; padding: 12px; background: #f6f7f9; }
  .msg { margin: 6px 0; padding: 8px 11px; border-radius: 10px; max-width: 88%; white-space: pre-wrap; word-wrap: break-word; }
  .customer { background: var(--wl); color: #fff; margin-left: auto; }
  .customer.pending { opacity: .7; }
  .bot, .greeting { background: #fff; border: 1px solid #dde1e7; }
  .draft { background: #fff; border: 1px dashed #aab2bf; color: #4a5263; }
  .agent { background: #e8f5ec; border: 1px solid #b7dcc3; }
  .who { display: block; font-size: 12px; font-weight: 600; color: #2d6a40; }
  .system { font-size: 13px; color: #5b6578; text-align: center; max-width: none; margin: 8px auto; }
  .citations { margin: 6px 0 0; padding-left: 20px; font-size: 13px; }
  .citations a { color: #1b5fa8; }
  .row { display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0; }
  .row.center { justify-content: center; }
  .chip { border: 1px solid var(--wl); color: var(--wl); background: #fff; border-radius: 16px; padding: 5px 11px; cursor: pointer; font-size: 14px; }
  .chip:hover { background: #f0f4fa; }
  .fb { border: 1px solid #ccd2dc; background: #fff; border-radius: 6px; font-size: 12px; padding: 2px 8px; cursor: pointer; color: #3b4252; }
  .fb[aria-pressed="true"] { background: #e7eefb; border-color: #1b5fa8; }
  .typing { font-size: 13px; color: #5b6578; padding: 2px 14px 6px; background: #f6f7f9; }
  .typing[hidden] { display: none; }
  form.send { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #e3e6eb; background: #fff; }
  form.send textarea { flex: 1; resize: none; height: 42px; padding: 9px; font-size: 15px; border: 1px solid #b9c0cc; border-radius: 8px; }
  form.send button, .card button[type=submit] { background: var(--wl); color: #fff; border: 0; border-radius: 8px; padding: 0 14px; font-size: 15px; cursor: pointer; }
  .card { background: #fff; border: 1px solid #dde1e7; border-radius: 10px; padding: 10px; margin: 8px 0; font-size: 14px; }
  .card label { display: block; margin: 4px 0; }
  .card textarea, .card input { width: 100%; padding: 6px; font-size: 14px; border: 1px solid #b9c0cc; border-radius: 6px; }
  .card button[type=submit] { padding: 6px 12px; margin-top: 6px; }
  .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
  @media (max-width: 480px) {
    .panel { inset: 0; width: auto; height: auto; bottom: 0; border-radius: 0; }
    .panel:not([hidden]) ~ .launcher { display: none; }
  }
  </style>
  <div class="panel" role="dialog" aria-modal="false" hidden>
    <header>
      <h2 class="title"></h2>
      <button type="button" class="person"></button>
      <button type="button" class="close" aria-label=""></button>
    </header>
    <div class="status" role="status" hidden></div>
    <div class="log" role="log" aria-live="polite" aria-relevant="additions" tabindex="0"></div>
    <div class="typing" role="status" hidden></div>
    <form class="send">
      <label class="sr" for="wl-text"></label>
      <textarea id="wl-text" maxlength="4000" autocomplete="off" rows="1"></textarea>
      <button type="submit"></button>
    </form>
  </div>
  <button type="button" class="launcher" aria-expanded="false"><svg aria-hidden="true" width="28" height="28" viewBox="0 0 24 24"><path fill="currentColor" d="M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2zM7 9h10v2H7zm0-3h10v2H7zm0 6h7v2H7z"/></svg><span class="badge" hidden></span></button>`;
  const $ = (sel) => root.querySelector(sel);
  const panel = $('.panel'), log = $('.log'), input = $('#wl-text'), launcher = $('.launcher');
  const statusLine = $('.status'), typing = $('.typing'), badge = $('.badge'), personButton = $('.person');
  host.style.setProperty('--wl', color);
  panel.setAttribute('aria-label', title);
  $('.title').textContent = title;
  personButton.textContent = t.person;
  $('.close').textContent = '✕';
  $('.close').setAttribute('aria-label', t.close);
  $('label[for=wl-text]').textContent = t.label;
  input.placeholder = t.placeholder;
  $('form.send button').textContent = t.send;
  launcher.setAttribute('aria-label', t.open + ': ' + title);
  const greetingBubble = el('div', 'msg greeting', greeting);
  log.appendChild(greetingBubble);

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 60;
  function append(node) {
    const stick = atBottom();
    log.appendChild(node);
    if (stick) log.scrollTop = log.scrollHeight;
  }
  function showStatus(text) { statusLine.textContent = text || ''; statusLine.hidden = !text; }

  // ---- REST ----------------------------------------------------------------------------
  async function call(path, body) {
    const res = await fetch(base + path, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    if (res.status === 204) return { status: 204 };
    let json = null;
    try { json = await res.json(); } catch (_) { /* empty */ }
    if (!res.ok) {
      const err = new Error(json && json.error ? json.error.message : res.statusText);
      err.status = res.status;
      throw err;
    }
    return json;
  }

  async function ensureConversation() {
    if (state.id) return;
    const opened = await call('/v1/conversations', { channel: 'web', locale: lang });
    state.id = opened.id; state.token = opened.access_token;
    persist();
    connect();
  }

  // ---- rendering -----------------------------------------------------------------------
  function clearQuickReplies() { for (const q of root.querySelectorAll('.quick')) q.remove(); }

  function quickReplies(suggestions) {
    const row = el('div', 'row quick');
    row.setAttribute('role', 'group');
    row.setAttribute('aria-label', 'Quick replies');
    for (const s of suggestions) {
      const b = el('button', 'chip', s);
      b.type = 'button';
      b.addEventListener('click', () => { clearQuickReplies(); send(s); });
      row.appendChild(b);
    }
    return row;
  }

  function feedbackButtons(message) {
    const row = el('div', 'row feedback');
    for (const [helpful, label] of [[true, t.helpful], [false, t.unhelpful]]) {
      const b = el('button', 'fb', label);
      b.type = 'button';
      b.setAttribute('aria-pressed', 'false');
      b.setAttribute('aria-label', label);
      b.addEventListener('click', async () => {
        try {
          await call('/v1/conversations/' + state.id + '/feedback', { message_id: message.id, helpful });
          for (const o of row.querySelectorAll('button')) o.setAttribute('aria-pressed', String(o === b));
          row.appendChild(el('span', 'sr', t.thanks));
        } catch (err) {
          row.appendChild(el('span', 'sr', err.message || String(err)));
        }
      });
      row.appendChild(b);
    }
    return row;
  }
  function citations(list) {
    const ol = el('ol', 'citations');
    ol.setAttribute('aria-label', t.sources);
    for (const c of list) {
      let url = null;
      try { url = new URL(c.url, base); } catch (_) { url = null; }
      const li = el('li');
      if (url && (url.protocol === 'https:' || url.protocol === 'http:')) {
        const a = el('a', null, c.title);
        a.href = url.href; a.target = '_blank'; a.rel = 'noopener';
        li.appendChild(a);
      } else {
        li.textContent = c.title;
      }
      ol.appendChild(li);
    }
    return ol;
  }

  function render(m) {
    if (state.rendered.has(m.id)) return;
    if (!state.lastId || m.id > state.lastId) state.lastId = m.id;
    if (m.role === 'customer') {
      // Our own message, sent from this page: mark it delivered instead of showing it twice.
      const mine = [...root.querySelectorAll('.customer.pending')].find((b) => !b.dataset.id && b.dataset.text === m.text);
      if (mine) { delivered(mine, m.id); return; }
      const b = el('div', 'msg customer', m.text);
      b.dataset.id = m.id;
      state.rendered.set(m.id, b);
      append(b);
      return;
    }
    removeDrafts();
    const b = el('div', 'msg ' + (m.role === 'bot' ? 'bot' : m.role === 'agent' ? 'agent' : 'system'));
    if (m.role === 'agent') b.appendChild(el('span', 'who', t.agent));
    b.appendChild(document.createTextNode(m.text));
    b.dataset.id = m.id;
    if (m.role === 'bot' && m.citations && m.citations.length) b.appendChild(citations(m.citations));
    state.rendered.set(m.id, b);
    append(b);
    if (m.role === 'bot' && m.reply_kind === 'answer') append(feedbackButtons(m));
    const suggestions = m.suggestions || [];
    if (m.role === 'system' && suggestions.includes('Call me back')) append(offer(suggestions));
    else if (m.role === 'system' && suggestions.length && suggestions.every((s) => /^[1-5]$/.test(s))) append(survey());
    else if (suggestions.length) { clearQuickReplies(); append(quickReplies(suggestions.filter((s) => s !== PERSON || state.ownership === 'bot'))); }
    if (!state.open && m.role !== 'customer') { state.unread += 1; badge.textContent = String(state.unread); badge.hidden = false; }
    typing.hidden = true;
  }

  function delivered(bubble, id) {
    bubble.classList.remove('pending');
    bubble.removeAttribute('aria-label');
    bubble.dataset.id = id;
    state.rendered.set(id, bubble);
    if (!state.lastId || id > state.lastId) state.lastId = id;
  }

  function removeDrafts() { for (const d of root.querySelectorAll('.draft')) d.remove(); }

  function draft(clientId, text) {
    let d = root.querySelector('.draft[data-for="' + CSS.escape(clientId) + '"]');
    if (!d) {
      d = el('div', 'msg draft');
      d.dataset.for = clientId;
      d.setAttribute('aria-busy', 'true');
      d.setAttribute('aria-label', t.writing);
      append(d);
    }
    d.textContent = (d.textContent ? d.textContent + ' ' : '') + text;
  }

  // The team closed the conversation: 1-5 and an optional comment.
  function survey() {
    const card = el('form', 'card survey');
    const legend = el('p', null, t.rate);
    legend.id = 'wl-rate-' + Math.random().toString(36).slice(2);
    const row = el('div', 'row center');
    row.setAttribute('role', 'radiogroup');
    row.setAttribute('aria-labelledby', legend.id);
    let score = 0;
    for (let n = 1; n <= 5; n += 1) {
      const b = el('button', 'chip', String(n));
      b.type = 'button';
      b.setAttribute('role', 'radio');
      b.setAttribute('aria-checked', 'false');
      b.addEventListener('click', () => {
        score = n;
        for (const o of row.children) o.setAttribute('aria-checked', String(o === b));
      });
      row.appendChild(b);
    }
    const label = el('label', null, t.comment);
    const comment = el('textarea');
    comment.maxLength = 2000;
    label.appendChild(comment);
    const submit = el('button', null, t.submit);
    submit.type = 'submit';
    card.append(legend, row, label, submit);
    card.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!score) { row.querySelector('button').focus(); return; }
      try {
        await call('/v1/conversations/' + state.id + '/survey', { score, comment: comment.value.trim() || undefined });
        card.replaceChildren(el('p', null, t.rated));
      } catch (err) {
        card.replaceChildren(el('p', null, err.status === 409 ? t.rated : err.message));
      }
    });
    return card;
  }

  // Nobody free (or a long wait): a callback or a message for the team instead.
  function offer(choices) {
    const card = el('div', 'card offer');
    const form = (kind, labelText) => {
      const f = el('form');
      const label = el('label', null, labelText);
      const field = el(kind === 'callback' ? 'input' : 'textarea');
      field.required = true; field.maxLength = kind === 'callback' ? 200 : 4000;
      label.appendChild(field);
      const ok = el('button', null, t.send);
      ok.type = 'submit';
      f.append(label, ok);
      f.addEventListener('submit', async (e) => {
        e.preventDefault();
        const body = kind === 'callback' ? { kind, contact: field.value } : { kind, text: field.value };
        try {
          await call('/v1/conversations/' + state.id + '/ticket', body);
          card.replaceChildren(el('p', null, kind === 'callback' ? 'Callback requested.' : 'Message left for the team.'));
        } catch (err) { card.replaceChildren(el('p', null, err.message)); }
      });
      card.replaceChildren(f);
      field.focus();
    };
    const row = el('div', 'row center');
    for (const c of choices) {
      const b = el('button', 'chip', c);
      b.type = 'button';
      b.addEventListener('click', () => {
        if (c === 'Call me back') form('callback', t.callback);
        else if (c === 'Leave a message') form('message', t.leave);
        else card.remove();
      });
      row.appendChild(b);
    }
    card.appendChild(row);
    return card;
  }

  function setOwnership(ownership) {
    state.ownership = ownership;
    personButton.hidden = ownership !== 'bot';
    const closed = ownership === 'closed';
    input.disabled = closed;
    $('form.send button').disabled = closed;
    if (closed && !root.querySelector('.again')) {
      const again = el('button', 'chip again', t.again);
      again.type = 'button';
      again.addEventListener('click', restart);
      const row = el('div', 'row center');
      row.append(el('span', 'sr', t.closed), again);
      append(row);
    }
  }

  // ---- the socket ----------------------------------------------------------------------
  function connect() {
    if (!state.id || !state.token || state.ws) return;
    clearTimeout(state.timer);
    state.idle = false;
    const url = new URL('/v1/conversations/' + encodeURIComponent(state.id) + '/ws', base);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (state.lastId) url.searchParams.set('after', state.lastId);
    let ws;
    try { ws = new WebSocket(url.href, ['warmline.widget.v1', 'token.' + state.token]); } catch (_) { return retry(); }
    state.ws = ws;
    ws.onopen = () => {
      state.live = true; state.retries = 0;
      showStatus('');
      // What was not acknowledged is sent again: the server stores each client id once.
      for (const p of state.pending) frame({ type: 'message', client_id: p.client_id, text: p.text });
    };
    ws.onmessage = (e) => {
      let f;
      try { f = JSON.parse(e.data); } catch (_) { return; }
      onFrame(f);
    };
    ws.onclose = (e) => {
      state.ws = null; state.live = false;
      typing.hidden = true;
      if (e.code === 4000) { state.idle = true; return; } // idle: reconnect when the customer is back
      retry();
    };
  }

  async function retry() {
    state.retries += 1;
    showStatus(navigator.onLine === false ? t.offline : t.reconnecting);
    if (state.retries >= 3 && state.id) {
      // A conversation the server no longer knows (a reset server): start afresh.
      try {
        const res = await fetch(base + '/v1/conversations/' + state.id);
        if (res.status === 404) { restart(); return; }
      } catch (_) { /* server down: keep trying */ }
    }
    const delay = Math.min(15000, 500 * 2 ** Math.min(state.retries - 1, 5)) * (0.75 + Math.random() / 2);
    clearTimeout(state.timer);
    state.timer = setTimeout(connect, delay);
  }

  function frame(value) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(value));
  }

  function onFrame(f) {
    switch (f.type) {
      case 'hello': break; // ownership comes in the `state` frame after the history
      case 'message': render(f.message); break;
      case 'state': setOwnership(f.ownership); break;
      case 'typing':
        typing.textContent = title + ' ' + t.typing;
        typing.hidden = !f.on;
        break;
      case 'draft': draft(f.client_id, f.text); break;
      case 'ack': {
        if (!f.message_id) break; // still being handled by an earlier socket
        const bubble = root.querySelector('.customer.pending[data-client="' + CSS.escape(f.client_id) + '"]');
        if (bubble && !bubble.dataset.id) delivered(bubble, f.message_id);
        state.pending = state.pending.filter((p) => p.client_id !== f.client_id);
        persist();
        const d = root.querySelector('.draft[data-for="' + CSS.escape(f.client_id) + '"]');
        if (d) d.remove();
        break;
      }
      case 'error': {
        if (f.client_id) {
          state.pending = state.pending.filter((p) => p.client_id !== f.client_id);
          persist();
          const bubble = root.querySelector('.customer.pending[data-client="' + CSS.escape(f.client_id) + '"]');
          if (bubble) { bubble.setAttribute('aria-label', t.failed); bubble.title = f.message; }
          if (f.code === 'conflict') setOwnership('closed');
        }
        append(el('div', 'msg system error', f.message || t.error));
        break;
      }
      default: break;
    }
  }

  // ---- actions -------------------------------------------------------------------------
  async function send(text) {
    text = text.trim();
    if (!text) return;
    const clientId = 'c' + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
    const bubble = el('div', 'msg customer pending', text);
    bubble.dataset.client = clientId;
    bubble.dataset.text = text;
    bubble.setAttribute('aria-label', t.sending + ' ' + text);
    append(bubble);
    log.scrollTop = log.scrollHeight;
    state.pending.push({ client_id: clientId, text });
    persist();
    try {
      await ensureConversation();
    } catch (err) {
      append(el('div', 'msg system error', err.message || t.error));
      return;
    }
    if (!state.ws) connect(); else frame({ type: 'message', client_id: clientId, text });
  }

  function restart() {
    if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
    Object.assign(state, { id: null, token: null, pending: [], lastId: null, retries: 0 });
    state.rendered.clear();
    persist();
    log.replaceChildren(greetingBubble);
    setOwnership('bot');
    showStatus('');
    input.focus();
  }

  function open() {
    state.open = true;
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    state.unread = 0; badge.hidden = true;
    if (state.idle || (!state.ws && state.id)) connect();
    log.scrollTop = log.scrollHeight;
    input.focus();
  }
  function close() {
    state.open = false;
    panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    launcher.focus();
  }

  launcher.addEventListener('click', () => (state.open ? close() : open()));
  $('.close').addEventListener('click', close);
  personButton.addEventListener('click', () => send(PERSON));
  panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); close(); } });
  $('form.send').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value;
    input.value = '';
    send(text);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('form.send').requestSubmit(); }
  });
  let lastTyping = 0;
  input.addEventListener('input', () => {
    if (Date.now() - lastTyping > 3000) { lastTyping = Date.now(); frame({ type: 'typing' }); }
  });
  window.addEventListener('online', () => { if (!state.ws && state.id) connect(); });

  const mount = () => { document.body.appendChild(host); if (state.id) connect(); };
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
})();
