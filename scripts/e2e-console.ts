// The operator console in a real browser, run by `npm run test:e2e` against its dev server: sign
// in with a key, search, open a document, find a failed document and its reason, replay its dead
// letter and see the document indexed, activate a version, back the namespace up, create and revoke
// a key, sign out.
// Saves screenshots to docs/console/ and fails on any script error or Content-Security-Policy
// violation.
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Browser, Page } from "playwright-core";

export interface ConsoleRun {
  browser: Browser;
  base: string;
  /** An admin key. */
  key: string;
  /** A namespace with indexed documents and a built version "v2" besides the active one. */
  namespace: string;
  query: string;
  /** A failed document with a pending dead letter, whose cause is gone: its replay indexes it. */
  deadLetter: { namespace: string; id: string };
  screenshots: string;
  check: (name: string, ok: boolean, detail?: string) => void;
  call: (
    method: string,
    p: string,
    body?: unknown,
    key?: string,
  ) => Promise<{ status: number; body: unknown }>;
}

export async function runConsole(run: ConsoleRun): Promise<void> {
  const { browser, base, key, namespace: ns, check } = run;
  mkdirSync(run.screenshots, { recursive: true });
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(e.message));
  const shot = async (p: Page, name: string) => {
    await p.screenshot({ path: path.join(run.screenshots, `${name}.png`) });
  };

  await page.goto(`${base}/console/namespaces`);
  check(
    "the console sends a signed-out browser to sign in",
    page.url().endsWith("/console/sign-in"),
    page.url(),
  );
  await shot(page, "sign-in");
  await page.getByLabel("Key", { exact: true }).fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  check("signing in opens the namespaces", page.url().endsWith("/console/namespaces"), page.url());
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "console_session");
  check(
    "the session cookie is HttpOnly, Secure, SameSite=Strict and holds no key",
    session?.httpOnly === true &&
      session.secure &&
      session.sameSite === "Strict" &&
      !session.value.includes(key),
    JSON.stringify({ ...session, value: "…" }),
  );
  check(
    "the namespaces page lists the namespace",
    (await page.getByRole("link", { name: ns, exact: true }).count()) === 1,
  );
  await shot(page, "namespaces");

  await page.getByRole("link", { name: ns, exact: true }).click();
  await page.waitForSelector("h2:has-text('Index health')");
  await shot(page, "namespace");

  await page.getByRole("link", { name: "Search playground" }).click();
  await page.getByLabel("Query").fill(run.query);
  await page.getByLabel("Mode").selectOption("hybrid");
  await page.getByRole("button", { name: "Search" }).click();
  await page.waitForSelector(".result");
  const marks = await page.locator(".result mark").count();
  check("the search shows results with highlighted matches", marks > 0, `${marks} marks`);
  await shot(page, "search");

  await page.locator(".result h3 a").first().click();
  await page.waitForSelector("h2:has-text('Chunks')");
  check("a result opens its document with its chunks", (await page.locator(".result").count()) > 0);
  await shot(page, "document");

  const dead = run.deadLetter;
  const deadDocument = `${base}/console/namespaces/${dead.namespace}/documents/${encodeURIComponent(dead.id)}`;
  await page.goto(`${base}/console/namespaces/${dead.namespace}/documents?status=failed`);
  const failedRow = page.locator("tr", { has: page.getByRole("link", { name: dead.id, exact: true }) });
  const reason = (await failedRow.locator("td").last().textContent()) ?? "";
  check("the failed documents page shows the reason", /after 6 attempts/.test(reason), reason);
  await shot(page, "failed-documents");

  await page.goto(`${base}/console/dead-letters`);
  const letter = page.locator("tr", { has: page.getByRole("link", { name: dead.id, exact: true }) });
  check("the dead letters page lists the dead letter", (await letter.count()) === 1);
  const letterId = ((await letter.locator("td").first().textContent()) ?? "").trim();
  await shot(page, "dead-letters");
  await letter.getByLabel("confirm", { exact: true }).check();
  await letter.getByRole("button", { name: "Replay" }).click();
  const notice = (await page.getByRole("status").textContent()) ?? "";
  check("replaying says it was re-enqueued", notice.trim() === `Re-enqueued: ${letterId}`, notice);
  check(
    "the replayed dead letter is no longer waiting",
    (await page.getByRole("link", { name: dead.id, exact: true }).count()) === 0,
  );
  await shot(page, "dead-letters-replayed");
  // As an operator would: reload the document's page until it shows the document indexed.
  let status = "";
  for (let i = 0; i < 120 && status !== "indexed"; i++) {
    if (i > 0) await page.waitForTimeout(500);
    await page.goto(deadDocument);
    status = (
      (await page
        .locator("tr", { has: page.locator("th", { hasText: /^status$/ }) })
        .locator("td")
        .textContent()) ?? ""
    ).trim();
  }
  check("the replayed document gets indexed", status === "indexed", status);
  check(
    "the indexed document shows its chunks",
    (await page.locator(".result").count()) > 0,
    `${await page.locator(".result").count()} chunks`,
  );

  await page.goto(`${base}/console/namespaces/${ns}/versions`);
  const row = page.locator("tr", { has: page.locator("code", { hasText: /^v2$/ }) });
  await row.getByLabel("confirm", { exact: true }).first().check();
  await row.getByLabel("even if the quality gate fails").check();
  await row.getByRole("button", { name: "Activate" }).click();
  check("activating a version says so", (await page.getByText("activated").count()) > 0);
  const stats = (await run.call("GET", `/v1/namespaces/${ns}`)).body as { activeVersion?: string };
  check("the version is active", stats.activeVersion === "v2", `${stats.activeVersion}`);
  await shot(page, "versions");

  // A backup started from its page; the page reloads itself while it runs, and an operator can too.
  await page.goto(`${base}/console/namespaces/${ns}`);
  await page.getByRole("link", { name: "Backups", exact: true }).click();
  check("the namespace page links its backups", page.url().endsWith(`/console/namespaces/${ns}/backups`));
  await page.getByRole("button", { name: "Start a backup" }).click();
  const backupRow = page.locator("tbody tr").first();
  let state = "";
  for (let i = 0; i < 120 && !state.startsWith("complete"); i++) {
    if (i > 0) await page.waitForTimeout(1000);
    await page.goto(`${base}/console/namespaces/${ns}/backups`);
    state = ((await backupRow.locator("td").nth(1).textContent()) ?? "").trim();
  }
  check("the backup completes", state.startsWith("complete"), state);
  const progress = ((await backupRow.locator("td").nth(2).textContent()) ?? "").trim();
  check(
    "the backup shows its documents and chunks",
    /^documents \d+\/\d+ · chunks \d+/.test(progress),
    progress,
  );
  check(
    "a page with no running job does not reload itself",
    (await page.locator('meta[http-equiv="refresh"]').count()) === 0,
  );
  await shot(page, "backups");

  await page.goto(`${base}/console/keys`);
  await page.getByLabel("Name", { exact: true }).fill("e2e console key");
  await page.getByLabel("Namespaces (comma-separated patterns)").fill(ns);
  await page.getByLabel("search", { exact: true }).check();
  await page.getByRole("button", { name: "Create key" }).click();
  const secret = (await page.locator("#new-key").textContent())?.trim() ?? "";
  check("creating a key shows its secret once", /^es_[0-9A-Za-z]{16}_/.test(secret));
  const searchAs = () => run.call("POST", `/v1/namespaces/${ns}/search`, { query: run.query }, secret);
  check("the new key searches", (await searchAs()).status === 200);
  await shot(page, "keys");
  const id = secret.split("_")[1] ?? "";
  const keyRow = page.locator("tr", { has: page.locator("code", { hasText: id }) });
  await keyRow.getByLabel("confirm", { exact: true }).check();
  await keyRow.getByRole("button", { name: "Revoke" }).click();
  check("revoking the key says so", (await page.getByText(`Key ${id} revoked.`).count()) === 1);
  check("the revoked key is refused", (await searchAs()).status === 401);
  await page.reload();
  check("a reload does not show the secret again", (await page.locator("#new-key").count()) === 0);

  await page.goto(`${base}/console/dashboard?window=15m`);
  await page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
  await shot(page, "metrics");

  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  await phone.addCookies(await context.cookies());
  const small = await phone.newPage();
  small.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  await small.goto(`${base}/console/namespaces/${ns}/search?q=${encodeURIComponent(run.query)}&mode=hybrid`);
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check("the search page fits a phone's width", overflow <= 0, `${overflow}px wider`);
  await shot(small, "search-phone");
  await phone.close();

  await page.goto(`${base}/console/namespaces`);
  await page.getByRole("button", { name: "Sign out" }).click();
  check("signing out returns to sign in", page.url().endsWith("/console/sign-in"), page.url());
  await page.goto(`${base}/console/namespaces`);
  check("a signed-out browser is sent to sign in again", page.url().endsWith("/console/sign-in"), page.url());
  check("console: no script errors or CSP violations", problems.length === 0, problems.join(" | "));
  await context.close();
}
