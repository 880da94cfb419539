import type { HealthReport } from '@session-cluster/health';
import { formatRelative, formatTime } from './display-time.js';
import { USER_NAME_PATTERN, USER_NAME_RULE } from './user-name.js';

/** Text made safe for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** What every page shows in its frame. */
export interface PageFrame {
  readonly instance: string;
  readonly mode: string;
  readonly user: string | undefined;
  readonly degraded: boolean;
  /** A one-time notice above the page (plain text), e.g. "You were logged out from another device." */
  readonly notice?: string | undefined;
}

/** The demo's icon (also served at `/favicon.ico`): two stacked session cards. */
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="1" y="4" width="11" height="9" rx="2" fill="#7aa7d9"/><rect x="4" y="1" width="11" height="9" rx="2" fill="#1f5fa8"/></svg>';

const FAVICON_LINK = `<link rel="icon" type="image/svg+xml" href="data:image/svg+xml,${encodeURIComponent(FAVICON_SVG)}">`;

const STYLE = `
body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
nav a{margin-right:1rem} footer{margin-top:2rem;color:#666;font-size:.9rem}
.banner{background:#fff3cd;border:1px solid #e0c36a;padding:.5rem 1rem}
table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
.big{font-size:2.5rem;font-weight:600} form.inline{display:inline}
.notice{background:#e7f1fb;border:1px solid #8fb5de;padding:.5rem 1rem}
.problem{color:#a4262c} .who button{font:inherit}`;

/** The page frame: navigation (with log in / log out), banners, the instance that served it. */
export function layout(frame: PageFrame, title: string, body: string): string {
  const who =
    frame.user === undefined
      ? '<a id="login-link" href="/login">log in</a>'
      : `logged in as <b id="user">${escapeHtml(frame.user)}</b> <form class="inline" method="post" action="/logout"><button id="logout" type="submit">log out</button></form>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · session-cluster demo</title>
<meta name="viewport" content="width=device-width,initial-scale=1">${FAVICON_LINK}<style>${STYLE}</style></head>
<body>
<nav><a href="/">Counter</a><a href="/cart">Cart</a><a href="/sessions">Your sessions</a><a href="/status">Status</a> <span class="who">${who}</span></nav>
${frame.degraded ? '<p class="banner">Degraded: Redis is unreachable, this instance serves sessions from memory (they are not shared until Redis returns).</p>' : ''}
${frame.notice === undefined ? '' : `<p class="notice" id="notice">${escapeHtml(frame.notice)}</p>`}
<h1>${escapeHtml(title)}</h1>
${body}
<footer>Served by <b id="instance">${escapeHtml(frame.instance)}</b> (pid ${process.pid}) · ${escapeHtml(frame.mode)}</footer>
</body></html>`;
}

/** The counter page. */
export function counterPage(frame: PageFrame, counter: number): string {
  return layout(
    frame,
    'Counter',
    `<p>Every instance shares this session. Click in two tabs: each click is a locked
read-modify-write (<code>req.session.update</code>), so no click is lost whichever instance serves it.</p>
<p class="big">Counter: <span id="counter">${counter}</span></p>
<form method="post" action="/counter"><button id="increment" type="submit">+1</button></form>`,
  );
}

/** The cart page. */
export function cartPage(frame: PageFrame, items: readonly string[]): string {
  const rows = items
    .map(
      (item, i) =>
        `<li>${escapeHtml(item)} <form class="inline" method="post" action="/cart/remove"><input type="hidden" name="index" value="${i}"><button type="submit">remove</button></form></li>`,
    )
    .join('\n');
  return layout(
    frame,
    'Cart',
    `<p>Adding and removing are locked updates of the <code>cart</code> key: parallel requests never drop an item.</p>
<ul id="cart">${rows || '<li><i>empty</i></li>'}</ul>
<form method="post" action="/cart/add"><input name="item" maxlength="60" placeholder="item" required> <button type="submit">add</button></form>`,
  );
}

/** A refused login: what was typed, and why it was refused. */
export interface LoginRetry {
  readonly value: string;
  readonly problem: string;
}

/** The login form (pattern = exactly what the server accepts), filled in again after a refusal. */
function loginForm(retry: LoginRetry | undefined): string {
  const value = retry === undefined ? '' : ` value="${escapeHtml(retry.value)}"`;
  return `<form method="post" action="/login" id="login">
<input name="user" maxlength="40" placeholder="user name" required pattern="${escapeHtml(USER_NAME_PATTERN)}" title="${escapeHtml(USER_NAME_RULE)}"${value}> <button type="submit">log in</button>
<p><small>A user name is ${escapeHtml(USER_NAME_RULE)}.</small></p></form>`;
}

/** The account page: log in (again, after a refused name), or log out. */
export function accountPage(frame: PageFrame, retry?: LoginRetry): string {
  const body =
    frame.user === undefined
      ? `${retry === undefined ? '' : `<p class="problem" id="problem">${escapeHtml(retry.problem)}</p>`}
<p>Logging in moves your session to a new id (against session fixation) and keeps its data.</p>
${loginForm(retry)}`
      : `<p>You are logged in as <b>${escapeHtml(frame.user)}</b>.</p>
<form method="post" action="/logout"><button type="submit">log out</button></form>`;
  return layout(frame, 'Log in', body);
}

/** A failed request, in the demo's style: what happened and where to go on. */
export function errorPage(
  frame: PageFrame,
  failure: {
    readonly status: number;
    readonly title: string;
    readonly message: string;
    readonly code: string;
  },
): string {
  return layout(
    frame,
    failure.title,
    `<p id="failure">${escapeHtml(failure.message)}</p>
<p><small>HTTP ${failure.status} · <code>${escapeHtml(failure.code)}</code></small></p>
<p><a href="/">Back to the counter</a></p>`,
  );
}

/** No such page. */
export function notFoundPage(frame: PageFrame, path: string): string {
  return layout(
    frame,
    'Page not found',
    `<p>There is no page at <code>${escapeHtml(path)}</code>. The demo has the
<a href="/">counter</a>, the <a href="/cart">cart</a>, <a href="/sessions">your sessions</a> and the
<a href="/status">status</a> page.</p>`,
  );
}

/** One of the user's sessions as the sessions page lists it. */
export interface SessionRow {
  readonly idHash: string;
  readonly current: boolean;
  readonly device: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

function timeCell(epochMs: number, now: number): string {
  return `<td><time datetime="${new Date(epochMs).toISOString().slice(0, 19)}Z">${formatTime(epochMs)}</time> <small>(${formatRelative(epochMs, now)})</small></td>`;
}

/** "Your sessions": every device of the user, across instances, with revoke buttons. */
export function sessionsPage(
  frame: PageFrame,
  rows: readonly SessionRow[],
  now: number = Date.now(),
): string {
  if (frame.user === undefined) {
    return layout(
      frame,
      'Your sessions',
      '<p><a href="/login">Log in</a> to see your sessions.</p>',
    );
  }
  const lines = rows
    .map(
      (
        row,
      ) => `<tr><td><code>${escapeHtml(row.idHash)}</code>${row.current ? ' <b>(this one)</b>' : ''}</td>
<td>${escapeHtml(row.device)}</td>${timeCell(row.createdAt, now)}${timeCell(row.expiresAt, now)}
<td>${row.current ? '' : `<form class="inline" method="post" action="/sessions/revoke"><input type="hidden" name="session" value="${escapeHtml(row.idHash)}"><button type="submit">revoke</button></form>`}</td></tr>`,
    )
    .join('\n');
  return layout(
    frame,
    'Your sessions',
    `<p>Every session of <b>${escapeHtml(frame.user)}</b>, on any device, read from Redis by whichever instance serves this page. Ids are shown hashed.</p>
<table id="sessions"><tr><th>session</th><th>device</th><th>created</th><th>expires</th><th></th></tr>
${lines}</table>
<p><form class="inline" method="post" action="/sessions/revoke-others"><button type="submit">log out other devices</button></form>
<form class="inline" method="post" action="/sessions/revoke-all"><button type="submit">log out everywhere</button></form></p>`,
  );
}

/** Counters the status page shows besides the health report. */
export interface StatusCounts {
  readonly sessionsCreatedHere: number;
  readonly rejectedCookiesHere: number;
  readonly commitFailuresHere: number;
  readonly yourSessions: number | null;
}

/** The status page: health report of this instance. */
export function statusPage(frame: PageFrame, report: HealthReport, counts: StatusCounts): string {
  const ops = Object.entries(report.operations)
    .map(
      ([name, op]) =>
        `<tr><td>${escapeHtml(name)}</td><td>${op.count}</td><td>${op.successRate === null ? '—' : (op.successRate * 100).toFixed(1) + ' %'}</td><td>${op.latencyMs.p50?.toFixed(2) ?? '—'}</td><td>${op.latencyMs.p99?.toFixed(2) ?? '—'}</td></tr>`,
    )
    .join('\n');
  return layout(
    frame,
    'Status',
    `<table>
<tr><th>status</th><td id="health-status">${escapeHtml(report.status)}</td></tr>
<tr><th>reasons</th><td>${escapeHtml(report.reasons.join('; ') || '—')}</td></tr>
<tr><th>degraded</th><td id="degraded">${report.degraded ? 'yes' : 'no'}</td></tr>
<tr><th>breaker</th><td id="breaker">${escapeHtml(report.breaker)}</td></tr>
<tr><th>last probe</th><td id="last-probe">${report.probe === null ? '—' : `${report.probe.ok ? 'ok' : 'failed'}, ${report.probe.latencyMs.toFixed(1)} ms`}</td></tr>
<tr><th>sessions created by this instance</th><td>${counts.sessionsCreatedHere}</td></tr>
<tr><th>rejected cookies (this instance)</th><td>${counts.rejectedCookiesHere}</td></tr>
<tr><th>commit failures (this instance)</th><td>${counts.commitFailuresHere}</td></tr>
<tr><th>your sessions (all instances)</th><td>${counts.yourSessions ?? '— (log in)'}</td></tr>
</table>
<h2>Operations (last ${report.window.size} per operation, this instance)</h2>
<table><tr><th>operation</th><th>count</th><th>success</th><th>p50 ms</th><th>p99 ms</th></tr>${ops}</table>
<p>Machine-readable: <a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a>, <a href="/metrics">/metrics</a>.</p>`,
  );
}
