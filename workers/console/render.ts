// The console's HTML: one layout (navigation, a nonce'd stylesheet, no script), form helpers and
// escaping. Every value goes through hono/html's escaping; raw() only wraps markup built here.
import type { Context } from "hono";
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { ConsoleEnv } from "./types";

export { html };

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** A fresh nonce per response: the only style and script the page's CSP lets run. */
export function newNonce(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

export function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `style-src 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; ");
}

// Contrast: every text colour on its background is at least 4.5:1 (WCAG AA).
const CSS = `
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#f6f7f9}
a{color:#0b4f94}a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #f38020;outline-offset:1px}
header{background:#1d2733;color:#fff;padding:8px 16px;display:flex;flex-wrap:wrap;gap:4px 16px;align-items:center}
header a{color:#fff}header .who{margin-left:auto;font-size:13px}
header form{display:inline}header button{background:none;border:1px solid #fff;color:#fff;padding:2px 8px}
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:4px 14px}
main{padding:12px 16px;max-width:1100px;margin:0 auto}
h1{font-size:22px;margin:8px 0 12px}h2{font-size:18px;margin:20px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:14px}
th,td{border-bottom:1px solid #dde;padding:5px 8px;text-align:left;vertical-align:top}
.scroll{overflow-x:auto}
form.inline{display:inline}
fieldset{border:1px solid #ccd;background:#fff;padding:8px 12px;margin:0 0 12px;min-width:0}
label{display:inline-block;margin:4px 12px 4px 0}
input,select,textarea,button{font:inherit;padding:4px 8px;border:1px solid #667;border-radius:3px;max-width:100%}
button{background:#0b4f94;color:#fff;border-color:#0b4f94;cursor:pointer}
button.danger{background:#a3001b;border-color:#a3001b}
.result{background:#fff;border:1px solid #dde;border-radius:4px;padding:8px 12px;margin:8px 0}
.result h3{font-size:16px;margin:0 0 4px}.meta{color:#4a4a4a;font-size:13px}
mark{background:#ffe27a;color:#1a1a1a}
.problem{background:#fde8eb;border:1px solid #a3001b;padding:8px 12px;border-radius:4px}
.notice{background:#e6f4ea;border:1px solid #0a6b2c;padding:8px 12px;border-radius:4px}
.secret{font-family:ui-monospace,monospace;word-break:break-all;background:#fff;padding:6px;border:1px dashed #667}
code{font-family:ui-monospace,monospace;font-size:13px}
pre{white-space:pre-wrap;word-break:break-word;background:#fff;border:1px solid #dde;padding:8px;font-size:13px}
.ok{color:#0a6b2c}.warn{color:#7a4f00}.fail{color:#a3001b;font-weight:700}
@media (max-width:600px){main{padding:8px}th,td{padding:4px}header .who{margin-left:0}input:not([type=checkbox]),select{width:100%}}
`;

const NAV: [string, string][] = [
  ["/console/namespaces", "Namespaces"],
  ["/console/dead-letters", "Dead letters"],
  ["/console/keys", "Keys"],
  ["/console/dashboard", "Metrics"],
];

/** A full page. `body` is markup built with html``; the title is escaped. */
export function page(
  c: Context<ConsoleEnv>,
  title: string,
  body: Html,
  status = 200,
  /**
   * Seconds after which the browser reloads the page (progress of running jobs); none when absent.
   * No CSP directive governs a refresh meta: the one that would have, navigate-to, was removed from
   * the spec unshipped (https://github.com/w3c/webappsec-csp/pull/564).
   */
  refreshSeconds?: number,
): Response | Promise<Response> {
  const nonce = c.get("nonce");
  const principal = c.get("principal");
  const csrf = c.get("csrf");
  const chrome = principal
    ? html`<header><strong>edgesearch console</strong><nav aria-label="Main"><ul>${NAV.map(
        ([href, label]) => html`<li><a href="${href}">${label}</a></li>`,
      )}</ul></nav><span class="who">signed in as ${principal.name} (<code>${principal.keyId}</code>)
<form class="inline" method="post" action="/console/sign-out">${csrfField(csrf)}<button type="submit">Sign out</button></form></span></header>`
    : html`<header><strong>edgesearch console</strong></header>`;
  return c.html(
    html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
${refreshSeconds ? html`<meta http-equiv="refresh" content="${refreshSeconds}">` : ""}<title>${title} · edgesearch console</title><link rel="icon" href="data:,"><style nonce="${nonce}">${raw(CSS)}</style></head>
<body>${chrome}<main id="main"><h1>${title}</h1>${body}</main></body></html>`,
    status as 200,
  );
}

export function csrfField(token: string | undefined): Html {
  return token ? html`<input type="hidden" name="_csrf" value="${token}">` : html``;
}

/** A POST form with the session's CSRF token; `confirm` adds a checkbox the server requires. */
export function actionForm(
  c: Context<ConsoleEnv>,
  action: string,
  label: string,
  opts: { confirm?: string; danger?: boolean; fields?: Html } = {},
): Html {
  const id = `c${crypto.randomUUID().slice(0, 8)}`;
  return html`<form class="inline" method="post" action="${action}">${csrfField(c.get("csrf"))}${opts.fields ?? ""}${
    opts.confirm
      ? html`<label for="${id}"><input type="checkbox" id="${id}" name="confirm" value="yes" required> ${opts.confirm}</label>`
      : ""
  }<button type="submit"${opts.danger ? raw(' class="danger"') : ""}>${label}</button></form>`;
}

export function problemBox(problem: { status: number; detail?: string; code?: string }): Html {
  return html`<div class="problem" role="alert"><strong>${problem.status} ${problem.code ?? ""}</strong>: ${
    problem.detail ?? "the request failed"
  }</div>`;
}

/** Text with the [start, end) ranges marked; everything escaped. */
export function marked(text: string, ranges: readonly { start: number; end: number }[]): Html {
  const out: (string | Html)[] = [];
  let at = 0;
  for (const { start, end } of ranges) {
    if (start < at || end <= start || end > text.length) continue;
    out.push(text.slice(at, start), html`<mark>${text.slice(start, end)}</mark>`);
    at = end;
  }
  out.push(text.slice(at));
  return html`${out}`;
}

export const enc = encodeURIComponent;
