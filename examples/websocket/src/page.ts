/** The one page: log in and out over HTTP, talk over socket.io (its server serves the client script). */
export const page = `<!doctype html>
<meta charset="utf-8">
<title>@novanest/session: WebSockets</title>
<h1>Sessions over WebSockets</h1>
<form id="login"><input name="username" placeholder="your name" required maxlength="32"> <button>Log in</button></form>
<p><button id="connect">Connect</button> <button id="count">Count (saves the session)</button> <button id="logout">Log out over HTTP</button></p>
<form id="say"><input name="text" placeholder="message"> <button>Say</button></form>
<pre id="log"></pre>
<script src="/socket.io/socket.io.js"></script>
<script>
  const log = (line) => (document.getElementById('log').textContent += line + '\\n');
  let socket;
  const post = (path, body) =>
    fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) }).then((r) => r.json());
  document.getElementById('login').onsubmit = async (event) => {
    event.preventDefault();
    log('login: ' + JSON.stringify(await post('/login', { username: event.target.username.value })));
  };
  document.getElementById('logout').onclick = async () => log('logout: ' + JSON.stringify(await post('/logout')));
  document.getElementById('connect').onclick = () => {
    socket?.disconnect();
    socket = io({ reconnection: false });
    socket.onAny((event, data) => log(event + ': ' + JSON.stringify(data)));
    socket.on('disconnect', (reason) => log('disconnected: ' + reason));
  };
  document.getElementById('count').onclick = () => socket?.emit('count');
  document.getElementById('say').onsubmit = (event) => {
    event.preventDefault();
    socket?.emit('say', event.target.text.value);
  };
</script>
`;
