/*
 * The demo page lives in a TypeScript module (not a static file) so that `nest build`, ts-jest and the compiled
 * app all find it without an asset-copy step. It is plain HTML and JS: what a PHP page written for GatewayWorker
 * would do, against this app's HTTP contract.
 */
export const DEMO_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Push demo</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 760px; margin: 24px auto; padding: 0 12px; color: #222; }
  h1 { font-size: 20px; }
  fieldset { border: 1px solid #ccc; border-radius: 6px; margin: 0 0 12px; padding: 8px 12px; }
  legend { font-weight: 600; }
  input, select, button { font: inherit; padding: 3px 6px; }
  code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
  #log { list-style: none; padding: 0; margin: 0; max-height: 320px; overflow: auto; border: 1px solid #ddd; }
  #log li { padding: 4px 8px; border-bottom: 1px solid #eee; }
  #log li.system { color: #777; font-style: italic; }
  #error { color: #b00020; min-height: 1.4em; }
  .ok { color: #0a7d32; } .bad { color: #b00020; }
</style>
</head>
<body>
<h1>Push demo</h1>
<p>Socket: <span id="status" class="bad">connecting…</span> · client_id: <code id="client-id">—</code></p>

<fieldset>
  <legend>1. Log in</legend>
  <form id="login-form">
    <input id="login-uid" name="uid" placeholder="uid, e.g. alice" autocomplete="off" required>
    <button id="login-btn" type="submit">Log in</button>
    <button id="logout-btn" type="button">Log out</button>
    Logged in as: <strong id="whoami">nobody</strong>
  </form>
</fieldset>

<fieldset>
  <legend>2. Bind this socket to your uid, join groups</legend>
  <button id="bind-btn" type="button">Bind</button>
  <input id="group" placeholder="group, e.g. room1" autocomplete="off">
  <button id="join-btn" type="button">Join</button>
  <button id="leave-btn" type="button">Leave</button>
  Bound: <strong id="bound">no</strong> · Groups: <span id="groups">—</span>
</fieldset>

<fieldset>
  <legend>3. Send</legend>
  <form id="send-form">
    <select id="target-kind">
      <option value="uid">to uid</option>
      <option value="group">to group</option>
      <option value="all">to everyone</option>
    </select>
    <input id="target" placeholder="uid or group" autocomplete="off">
    <input id="message" placeholder="message" autocomplete="off" required>
    <button id="send-btn" type="submit">Send</button>
    <span id="send-result"></span>
  </form>
</fieldset>

<p id="error" role="alert"></p>
<h2 style="font-size:16px">Messages</h2>
<ul id="log"></ul>

<script>
(function () {
  'use strict';
  var state = { clientId: null, uid: null, groups: [], socket: null, retry: 0 };
  var $ = function (id) { return document.getElementById(id); };

  function show(id, text) { $(id).textContent = text; }
  function error(text) { show('error', text || ''); }
  function logLine(text, cls, from) {
    var li = document.createElement('li');
    li.textContent = text;
    if (cls) li.className = cls;
    if (from !== undefined) li.setAttribute('data-from', from);
    $('log').appendChild(li);
    $('log').scrollTop = $('log').scrollHeight;
  }

  async function post(path, body) {
    var res = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify(body)
    });
    var data = await res.json().catch(function () { return {}; });
    if (!res.ok) throw new Error(res.status + ': ' + (data.message || res.statusText));
    return data;
  }

  function renderBinding() {
    show('whoami', state.uid || 'nobody');
    show('groups', state.groups.length ? state.groups.join(', ') : '—');
  }

  async function bind() {
    if (!state.clientId || !state.uid) return;
    var bound = await post('/bind', { client_id: state.clientId });
    var groups = bound.groups;
    for (var i = 0; i < state.groups.length; i++) {
      groups = (await post('/join', { client_id: state.clientId, group: state.groups[i] })).groups;
    }
    state.groups = groups;
    show('bound', 'as ' + bound.uid);
    renderBinding();
  }

  function connect() {
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
    var socket = new WebSocket(url);
    state.socket = socket;
    socket.onopen = function () { state.retry = 0; show('status', 'open'); $('status').className = 'ok'; };
    socket.onmessage = function (event) {
      var msg;
      try { msg = JSON.parse(event.data); } catch (e) { logLine(String(event.data)); return; }
      if (msg && msg.type === 'init') {
        state.clientId = msg.client_id;
        show('client-id', msg.client_id);
        show('bound', 'no');
        bind().catch(function (e) { error(e.message); });
      } else if (msg && msg.type === 'message') {
        var data = typeof msg.data === 'string' ? msg.data : JSON.stringify(msg.data);
        logLine(msg.from + ': ' + data, 'msg', msg.from);
      } else if (msg && msg.type === 'error') {
        error('socket error: ' + msg.code);
      } else {
        logLine(event.data);
      }
    };
    socket.onclose = function (event) {
      show('status', 'closed (' + event.code + '), reconnecting…');
      $('status').className = 'bad';
      state.clientId = null;
      show('client-id', '—');
      var wait = Math.min(10000, 500 * Math.pow(2, state.retry++));
      setTimeout(connect, wait);
    };
  }

  $('login-form').addEventListener('submit', function (event) {
    event.preventDefault();
    error();
    post('/login', { uid: $('login-uid').value.trim() })
      .then(function (data) { state.uid = data.uid; state.groups = []; renderBinding(); return bind(); })
      .catch(function (e) { error(e.message); });
  });
  $('logout-btn').addEventListener('click', function () {
    var unbind = state.clientId && state.uid ? post('/unbind', { client_id: state.clientId }) : Promise.resolve();
    unbind
      .then(function () { return post('/logout', {}); })
      .then(function () { state.uid = null; state.groups = []; show('bound', 'no'); renderBinding(); })
      .catch(function (e) { error(e.message); });
  });
  $('bind-btn').addEventListener('click', function () {
    error();
    if (!state.uid) return error('log in first');
    bind().catch(function (e) { error(e.message); });
  });
  function groupAction(path) {
    error();
    var group = $('group').value.trim();
    if (!group) return error('type a group name');
    post(path, { client_id: state.clientId, group: group })
      .then(function (data) { state.groups = data.groups; renderBinding(); })
      .catch(function (e) { error(e.message); });
  }
  $('join-btn').addEventListener('click', function () { groupAction('/join'); });
  $('leave-btn').addEventListener('click', function () { groupAction('/leave'); });
  $('send-form').addEventListener('submit', function (event) {
    event.preventDefault();
    error();
    var kind = $('target-kind').value;
    var body = { message: $('message').value };
    if (kind === 'all') body.all = true; else body[kind] = $('target').value.trim();
    post('/send', body)
      .then(function (data) { show('send-result', 'delivered to ' + data.delivered); $('message').value = ''; })
      .catch(function (e) { error(e.message); });
  });

  fetch('/me', { credentials: 'same-origin' })
    .then(function (res) { return res.json(); })
    .then(function (data) { state.uid = data.uid; renderBinding(); })
    .finally(connect);
})();
</script>
</body>
</html>
`;
