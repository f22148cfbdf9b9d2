// The operator console in a real browser, run by `npm run test:e2e` against its dev server: sign
// in with a key, search, open a document, replay a dead letter if one is waiting, activate a
// version, create and revoke a key, sign out. Saves screenshots to docs/console/ and fails on any
// script error or Content-Security-Policy violation.
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

  await page.goto(`${base}/console/dead-letters`);
  const replay = page.getByRole("button", { name: "Replay" });
  if ((await replay.count()) > 0) {
    await replay.first().click();
    check("a dead letter is replayed", (await page.getByText("Re-enqueued:").count()) === 1);
  } else {
    check(
      "the dead letters page shows none waiting",
      (await page.getByText("No dead letters waiting.").count()) === 1,
    );
  }
  await shot(page, "dead-letters");

  await page.goto(`${base}/console/namespaces/${ns}/versions`);
  const row = page.locator("tr", { has: page.locator("code", { hasText: /^v2$/ }) });
  await row.getByLabel("confirm", { exact: true }).first().check();
  await row.getByLabel("even if the quality gate fails").check();
  await row.getByRole("button", { name: "Activate" }).click();
  check("activating a version says so", (await page.getByText("activated").count()) > 0);
  const stats = (await run.call("GET", `/v1/namespaces/${ns}`)).body as { activeVersion?: string };
  check("the version is active", stats.activeVersion === "v2", `${stats.activeVersion}`);
  await shot(page, "versions");

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
