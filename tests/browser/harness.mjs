// SPDX-License-Identifier: MIT
//
// What the browser walks (portal.test.mjs, cert.test.mjs) share: the stack
// tests/test-portal.sh started, named by its environment; Debian's Chromium
// driven by playwright-core with a fresh profile; screenshots; tests that
// save one at their end; HTTP to ukeyd and the CA beside the browser; the
// portal page's common parts (tabs, token picker, status line, error box).
//
// `page` and `context` are live bindings: launchBrowser() sets them, and
// every module that imports them sees the browser it launched.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const run = promisify(execFile);

export const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through tests/test-portal.sh`);
  return v;
};
export const PORTAL_URL = need("PORTAL_URL");
export const CA_URL = need("CA_URL");
export const UKEYD_URL = need("UKEYD_URL");
export const RIG = need("RIG");
export const RIG_DIR = need("RIG_DIR");
export const SHOT_DIR = need("SHOT_DIR");
export const DEMO_DIR = need("DEMO_DIR");
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const READER = [process.env.RIG_READER_0 || "Virtual PCD 00 00", process.env.RIG_READER_1 || "Virtual PCD 00 01",
  process.env.RIG_READER_2 || "Virtual PCD B 00 00"];

export const WAIT_MS = 10000;         // a page change the user would wait for
const RIG_TIMEOUT_MS = 20000;
const SHOT_TIMEOUT_MS = 5000;
const POLL_MS = 100;

export let context;
export let page;
// The tokens' ids by reader number, as the walks' before() finds them.
export const tokenId = [];

// --- the browser ---------------------------------------------------------------------

// A fresh profile each run; the flags Chromium needs on a closed network.
export async function launchBrowser({ profilePrefix, acceptDownloads = false }) {
  mkdirSync(SHOT_DIR, { recursive: true });
  const profiles = process.env.BROWSER_PROFILE_DIR || "/tmp";
  mkdirSync(profiles, { recursive: true });
  context = await chromium.launchPersistentContext(mkdtempSync(join(profiles, profilePrefix)), {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1200, height: 900 },
    locale: "zh-CN",
    acceptDownloads,
    timeout: 30000,
  });
  context.setDefaultTimeout(WAIT_MS);
  page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => console.log(`# page error: ${e.message}`));
  return page;
}

export async function closeBrowser() {
  await context?.close();
}

// screenshots(PREFIX): a shot(name, page) that numbers its files
// $SHOT_DIR/PREFIX01-name.png, … and returns the file's path.
export function screenshots(prefix = "") {
  let shotNo = 0;
  return async function shot(name, p = page) {
    shotNo += 1;
    const file = join(SHOT_DIR, `${prefix}${String(shotNo).padStart(2, "0")}-${name}.png`);
    try {
      await p.screenshot({ path: file, fullPage: true, timeout: SHOT_TIMEOUT_MS });
    } catch {
      /* a closed page has nothing to show */
    }
    return file;
  };
}

// walker(shot, { timeoutMs, blocker }): walk(name, fn), a test that saves a
// screenshot at its end, whatever happened. When blocker() names a missing
// part, the walk fails saying so (a failure, not a skip, once the build
// claims to have it).
export function walker(shot, { timeoutMs, blocker = () => null }) {
  return function walk(name, fn) {
    const slug = name.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "").toLowerCase().slice(0, 48);
    test(name, { timeout: timeoutMs }, async (t) => {
      const missing = blocker();
      if (missing) assert.fail(missing);
      try {
        await fn(t);
      } finally {
        await shot(slug);
      }
    });
  };
}

// --- the stack beside the browser ----------------------------------------------------

// rig(COMMAND, N): tests/rig/rig COMMAND on reader N (insert, remove, …).
export async function rig(cmd, n) {
  await run(RIG, [cmd, RIG_DIR, String(n)], { timeout: RIG_TIMEOUT_MS });
}

// client(BASE, TIMEOUT_MS): (method, path, body) => { status, json, text }.
export function client(base, timeoutMs = WAIT_MS) {
  return async (method, path, body) => {
    const init = { method, headers: { "Accept-Language": "zh-CN" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const r = await fetch(base + path, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const text = await r.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: r.status, json, text };
  };
}

// Polls fn until it returns something truthy; fails with `what` after `ms`.
export async function eventually(what, fn, ms = WAIT_MS) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) assert.fail(`${what} (waited ${ms} ms; last: ${last?.message ?? JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

// --- the portal page -------------------------------------------------------------------

export async function visible(selector, ms = WAIT_MS) {
  await page.locator(selector).first().waitFor({ state: "visible", timeout: ms });
  return page.locator(selector).first();
}

export async function text(selector) {
  return (await page.locator(selector).first().textContent()) ?? "";
}

export async function waitStatus(words, ms = WAIT_MS) {
  await eventually(`status line says "${words}"`, async () => (await text("#status-text")) === words, ms);
}

export async function openTab(name) {
  await page.locator(`#tab-${name}`).click();
  await visible(`#panel-${name}`);
}

export async function pickToken(panel, n) {
  await page.locator(`#panel-${panel} .token-select`).selectOption(tokenId[n]);
}

// The error box: the problem's own title and detail, never raw JSON.
export async function errorShown(container) {
  const box = await visible(`${container} .msg.error`);
  const words = (await box.textContent()) ?? "";
  assert.ok(words.trim().length > 0, "the error box says something");
  assert.ok(!/[{}]|"code"|"status"/.test(words), `the error box shows no raw JSON: ${words}`);
  return { code: await box.getAttribute("data-code"), words };
}

// payOrder(PAY-PAGE, { amount, title, shot }): the CA's payment page a
// portal button opened, with its invoice form, paid; the CA must say so.
export async function payOrder(pay, { amount, title, shot }) {
  await pay.waitForLoadState();
  assert.match(pay.url(), /\/pay\//);
  assert.match(await pay.locator("body").textContent(), new RegExp(amount.replace(".", "\\.")));
  await pay.locator("input[name=title]").fill(title);
  await pay.locator("input[name=tax_number]").fill("91110000MA01ABCD2X");
  await pay.locator("input[name=phone]").fill("13700001000");
  await pay.locator("input[name=email]").fill("finance@example.cn");
  await shot("payment-page", pay);
  await pay.locator("button[type=submit]").click();
  await pay.waitForLoadState();
  assert.match(await pay.locator("body").textContent(), /支付成功/);
  const orderId = new URL(pay.url()).pathname.split("/").pop();
  await pay.close();
  const order = await client(CA_URL)("GET", `/demo/api/orders/${orderId}`);
  assert.equal(order.json?.paid, true, `order paid: ${order.text}`);
  assert.match(order.text, /91110000MA01ABCD2X/, "the invoice details reached the CA");
}

// --- every page, as users see it --------------------------------------------------------

export const TOUR_WIDTHS = [1366, 800];
const TOUR_HEIGHT = 900;
const TOUR_DEFAULT = { width: 1200, height: 900 };

// What wraps badly on the page now: a tab, a table heading, a step or a
// state on more than one line, a short table cell or label broken, a long
// one squeezed to a few characters a line, or the page wider than the window.
async function badWrapping() {
  return page.evaluate(() => {
    // The lines its text sits on (boxes of elements inside do not count).
    const lines = (node) => {
      const tops = new Set();
      const texts = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
      for (let n = texts.nextNode(); n; n = texts.nextNode()) {
        if (!n.textContent.trim()) continue;
        const r = document.createRange();
        r.selectNodeContents(n);
        for (const x of r.getClientRects()) if (x.width > 0) tops.add(Math.round(x.top));
      }
      return tops.size;
    };
    const shown = (e) => e.offsetParent !== null;
    const bad = [];
    for (const e of document.querySelectorAll("[role=tab], table th, .steps li, .state-badge, .check .state")) {
      if (shown(e) && e.textContent.trim() && lines(e) > 1) bad.push(`"${e.textContent.trim()}" on ${lines(e)} lines`);
    }
    // A cell's few words stay on one line; longer text wraps, but never
    // down to a character or two a line.
    for (const e of document.querySelectorAll("table td, dl dt")) {
      const words = e.textContent.trim();
      const n = shown(e) && words.length > 1 ? lines(e) : 1;
      if (n > 1 && (words.length <= 6 || words.length / n < 3)) bad.push(`"${words}" broken over ${n} lines`);
    }
    if (document.documentElement.scrollWidth > window.innerWidth + 1) {
      bad.push(`the page is ${document.documentElement.scrollWidth} px wide in a ${window.innerWidth} px window`);
    }
    return bad;
  });
}

// tourPages(PREFIX): every tab the page shows, at each of TOUR_WIDTHS, in
// Chinese and English, saved as $SHOT_DIR/PREFIX-LANG-WIDTH-TAB.png; fails
// on anything badWrapping() finds. The page is left in Chinese.
export async function tourPages(prefix) {
  const problems = [];
  for (const lang of ["zh", "en"]) {
    if ((await page.locator("html").getAttribute("lang")).startsWith("zh") !== (lang === "zh")) {
      await page.locator("#lang-switch").click();
    }
    for (const width of TOUR_WIDTHS) {
      await page.setViewportSize({ width, height: TOUR_HEIGHT });
      const tabs = await page.locator("[role=tab]:not([hidden])").evaluateAll((bs) => bs.map((b) => b.dataset.tab));
      for (const tab of tabs) {
        await openTab(tab);
        // Whatever the panel asks ukeyd or the CA first has come back.
        await eventually(`the ${tab} page drawn`, async () =>
          (await page.locator(`#panel-${tab} .msg.busy`).count()) === 0);
        const file = join(SHOT_DIR, `${prefix}-${lang}-${width}-${tab}.png`);
        await page.screenshot({ path: file, fullPage: true, timeout: SHOT_TIMEOUT_MS });
        for (const p of await badWrapping()) problems.push(`${lang} ${width} px ${tab}: ${p}`);
      }
    }
  }
  if (!(await page.locator("html").getAttribute("lang")).startsWith("zh")) await page.locator("#lang-switch").click();
  await page.setViewportSize(TOUR_DEFAULT);
  await openTab("certs");
  assert.deepEqual(problems, [], "nothing wraps badly");
}
