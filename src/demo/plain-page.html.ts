/*
 * The plain page (`GET /plain`): the demo page as it was before the official client existed, kept byte for byte. It
 * is plain HTML and JS on a bare WebSocket with no subprotocol: what a PHP page written for GatewayWorker would do,
 * against this app's HTTP contract. It proves that such a page sees exactly what it always saw (the init frame, then
 * the app's messages as they are) and keeps its own reconnect-and-bind loop. It lives in a TypeScript module (not a
 * static file) so that `nest build`, ts-jest and the compiled app all find it without an asset-copy step.
 */
export const PLAIN_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Push demo</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='7' fill='%230a7d32'/%3E%3Cpath d='M5 8h6M8 5l3 3-3 3' stroke='white' stroke-width='1.6' fill='none'/%3E%3C/svg%3E">
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
  #events { list-style: none; padding: 0; margin: 0; max-height: 240px; overflow: auto; border: 1px solid #ddd;
    font-size: 13px; }
  #events li { padding: 2px 8px; border-bottom: 1px solid #f0f0f0; }
  #events time { color: #777; font-variant-numeric: tabular-nums; margin-right: 6px; }
  #events li[data-kind="close"], #events li[data-kind="error"] { color: #b00020; }
  #events li[data-kind="init"], #events li[data-kind="bind"] { color: #0a7d32; }
  .ok { color: #0a7d32; } .bad { color: #b00020; }
</style>
</head>
<body>
<h1>Push demo</h1>
<p>Socket: <span id="status" class="bad">connecting…</span> · client_id: <code id="client-id">—</code></p>
<p>Login check (<code>GET /me</code> after each connect): <span id="login-check">not yet</span></p>

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
<h2 style="font-size:16px">Connection events <small>(the last 50)</small></h2>
<ol id="events"></ol>

<script>
(function () {
  'use strict';
  var MAX_EVENTS = 50;
  var state = { clientId: null, uid: null, groups: [], socket: null, retry: 0, loginEpoch: 0 };
  var $ = function (id) { return document.getElementById(id); };

  function show(id, text) { $(id).textContent = text; }
  /** A failed action shows why; the banner stays until an action succeeds or the socket connects again. */
  function fail(action, e) { show('error', action + ': ' + e.message); }
  function succeeded() { show('error', ''); }
  function logLine(text, cls, from) {
    var li = document.createElement('li');
    li.textContent = text;
    if (cls) li.className = cls;
    if (from !== undefined) li.setAttribute('data-from', from);
    $('log').appendChild(li);
    $('log').scrollTop = $('log').scrollHeight;
  }

  function stamp(date) {
    var pad = function (n, w) { return String(n).padStart(w || 2, '0'); };
    return pad(date.getHours()) + ':' + pad(date.getMinutes()) + ':' + pad(date.getSeconds()) + '.' +
      pad(date.getMilliseconds(), 3);
  }
  /** One line of the connection log, with its time; only the last MAX_EVENTS are kept. */
  function connEvent(kind, text) {
    var list = $('events');
    var now = new Date();
    var li = document.createElement('li');
    li.setAttribute('data-kind', kind);
    var time = document.createElement('time');
    time.dateTime = now.toISOString();
    time.textContent = stamp(now);
    var what = document.createElement('span');
    what.className = 'what';
    what.textContent = text;
    li.appendChild(time);
    li.appendChild(what);
    list.appendChild(li);
    while (list.children.length > MAX_EVENTS) list.removeChild(list.firstChild);
    list.scrollTop = list.scrollHeight;
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

  /** Asks the server who is logged in: the cookie may have expired, or a logout happened in another tab. */
  async function checkLogin() {
    var epoch = state.loginEpoch;
    var res = await fetch('/me', { credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok) throw new Error('GET /me ' + res.status);
    var uid = (await res.json()).uid || null;
    // A login or logout clicked while this was in flight is newer: keep it.
    if (epoch !== state.loginEpoch) return;
    if (uid !== state.uid) state.groups = []; // another user (or nobody): the old groups are not theirs
    state.uid = uid;
    renderBinding();
    var text = uid ? 'logged in as ' + uid : 'not logged in';
    show('login-check', text + ' (checked at ' + stamp(new Date()) + ')');
    connEvent('login', 'login check (GET /me): ' + text);
  }

  async function bind() {
    var clientId = state.clientId;
    if (!clientId || !state.uid) return;
    try {
      var bound = await post('/bind', { client_id: clientId });
      var groups = bound.groups;
      for (var i = 0; i < state.groups.length; i++) {
        groups = (await post('/join', { client_id: clientId, group: state.groups[i] })).groups;
      }
      // The socket was replaced meanwhile: the new one's init binds it.
      if (clientId !== state.clientId) return;
      state.groups = groups;
      show('bound', 'as ' + bound.uid);
      renderBinding();
      connEvent('bind', 'bound as ' + bound.uid +
        (groups.length ? ', groups: ' + groups.join(', ') : ''));
    } catch (e) {
      if (clientId !== state.clientId) {
        connEvent('bind', 'bind of a socket that has closed since: ' + e.message);
        return;
      }
      connEvent('error', 'bind failed: ' + e.message);
      throw e;
    }
  }

  /** Every new socket: the errors of the old one are stale; check who is logged in now, and bind again. */
  function onInit(clientId) {
    state.clientId = clientId;
    show('client-id', clientId);
    show('bound', 'no');
    connEvent('init', 'init: client_id ' + clientId);
    succeeded();
    checkLogin()
      .then(function () {
        if (clientId !== state.clientId) return;
        if (!state.uid) return connEvent('bind', 'not bound: not logged in');
        return bind();
      })
      .catch(function (e) { fail('after connecting', e); });
  }

  function connect() {
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
    connEvent('connecting', 'connecting to ' + url + (state.retry ? ' (retry ' + state.retry + ')' : ''));
    var socket = new WebSocket(url);
    state.socket = socket;
    socket.onopen = function () {
      state.retry = 0;
      show('status', 'open');
      $('status').className = 'ok';
      connEvent('open', 'socket open');
    };
    socket.onmessage = function (event) {
      var msg;
      try { msg = JSON.parse(event.data); } catch (e) { logLine(String(event.data)); return; }
      if (msg && msg.type === 'init') {
        onInit(msg.client_id);
      } else if (msg && msg.type === 'message') {
        var data = typeof msg.data === 'string' ? msg.data : JSON.stringify(msg.data);
        logLine(msg.from + ': ' + data, 'msg', msg.from);
      } else if (msg && msg.type === 'error') {
        fail('socket', new Error(msg.code + (msg.message ? ' (' + msg.message + ')' : '')));
        connEvent('error', 'error frame: ' + msg.code);
      } else {
        logLine(event.data);
      }
    };
    socket.onclose = function (event) {
      var wait = Math.min(10000, 500 * Math.pow(2, state.retry++));
      connEvent('close', 'closed: code ' + event.code +
        (event.reason ? ', reason "' + event.reason + '"' : ', no reason') + (event.wasClean ? '' : ', not clean'));
      connEvent('reconnect', 'reconnecting in ' + wait + ' ms');
      show('status', 'closed (' + event.code + '), reconnecting…');
      $('status').className = 'bad';
      state.clientId = null;
      show('client-id', '—');
      show('bound', 'no');
      setTimeout(connect, wait);
    };
  }

  $('login-form').addEventListener('submit', function (event) {
    event.preventDefault();
    state.loginEpoch++;
    post('/login', { uid: $('login-uid').value.trim() })
      .then(function (data) {
        state.uid = data.uid;
        state.groups = [];
        renderBinding();
        show('login-check', 'logged in as ' + data.uid + ' (POST /login at ' + stamp(new Date()) + ')');
        return bind();
      })
      .then(succeeded, function (e) { fail('log in', e); });
  });
  $('logout-btn').addEventListener('click', function () {
    state.loginEpoch++;
    var unbind = state.clientId && state.uid ? post('/unbind', { client_id: state.clientId }) : Promise.resolve();
    unbind
      .then(function () { return post('/logout', {}); })
      .then(function () {
        state.uid = null;
        state.groups = [];
        show('bound', 'no');
        renderBinding();
        show('login-check', 'not logged in (POST /logout at ' + stamp(new Date()) + ')');
      })
      .then(succeeded, function (e) { fail('log out', e); });
  });
  $('bind-btn').addEventListener('click', function () {
    if (!state.uid) return fail('bind', new Error('log in first'));
    bind().then(succeeded, function (e) { fail('bind', e); });
  });
  function groupAction(name, path) {
    var group = $('group').value.trim();
    if (!group) return fail(name, new Error('type a group name'));
    post(path, { client_id: state.clientId, group: group })
      .then(function (data) { state.groups = data.groups; renderBinding(); })
      .then(succeeded, function (e) { fail(name, e); });
  }
  $('join-btn').addEventListener('click', function () { groupAction('join', '/join'); });
  $('leave-btn').addEventListener('click', function () { groupAction('leave', '/leave'); });
  $('send-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var kind = $('target-kind').value;
    var body = { message: $('message').value };
    if (kind === 'all') body.all = true; else body[kind] = $('target').value.trim();
    post('/send', body)
      .then(function (data) { show('send-result', 'delivered to ' + data.delivered); $('message').value = ''; })
      .then(succeeded, function (e) { fail('send', e); });
  });

  // The first init checks the login like every later one.
  connect();
})();
</script>
</body>
</html>
`;
