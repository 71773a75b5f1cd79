const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character]);
}

/** The login form of the Nova tutorial, with an optional error line above it. */
export function loginPage(error?: string): string {
  const message = error === undefined ? '' : `<p role="alert">${escapeHtml(error)}</p>\n`;
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Login</title></head>
<body>
<h1>Login</h1>
${message}<form method="post" action="/login">
  <label>Username <input name="username" autocomplete="username" maxlength="64" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Log in</button>
</form>
</body>
</html>
`;
}
