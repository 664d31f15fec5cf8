// SPDX-License-Identifier: MIT
//
// The portal's certificate business walked as a user walks it, in Debian's
// Chromium driven by playwright-core, against the real stack that
// tests/test-portal.sh starts (the PC/SC rig, ukey-ca serving the portal and
// issuing, ukeyd writing to the virtual tokens):
//
//   证书变更 on the SM2 token (charged): details, material, invoice and
//     payment, the personal centre's states, staff review and approval, the
//     new certificate written and shown, its encryption certificate (9d)
//     re-issued with it as one pair
//   a rejected change: the reason in the personal centre
//   证书延期 on the RSA/EC token (free): a new key pair under the PIN, a
//     wrong PIN first
//   证书重装 of a certificate, on request
//   证书延期 on the demo SKF key (when the build has the SKF provider): a
//     new SM2 key in its container under its PIN, judged by `vskf check`
//   the English switch on the new pages
//
// Runs after portal.test.mjs (its walks compare the demo certificates):
// before() puts both tokens back to untouched copies of the demo tokens
// ($PRISTINE_DIR), so the PIN is 123456 again. Screenshots: $SHOT_DIR/cert-*.

import { after, before } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  CA_URL, DEMO_DIR, PORTAL_URL, READER, UKEYD_URL, WAIT_MS, client, closeBrowser, context, errorShown, eventually,
  launchBrowser, need, openTab, page, payOrder, pickToken, rig, screenshots, text, tokenId, tourPages, visible, waitStatus,
  walker,
} from "./harness.mjs";

const PRISTINE_DIR = need("PRISTINE_DIR");
const STATE_FILE = ["sm2.state", "rsa-ec.state"];

const PIN = "123456";
const WRONG_PIN = "Wrong777";
const NEW_ORG = "演示科技（北京）有限公司";
const NEW_OU = "信息安全部";
const NEW_EMAIL = "pki-demo@example.cn";
const REJECT_REASON = "营业执照复印件不清晰，请重新上传";
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");

const WRITE_WAIT_MS = 120000;         // a key pair made on the token, the CA issuing
const TEST_TIMEOUT_MS = 240000;
const HTTP_TIMEOUT_MS = 30000;        // the CA issuing while ukeyd writes

let feature = null;                   // why the walks cannot run, when they cannot

// --- helpers ---------------------------------------------------------------------

const shot = screenshots("cert-");
const walk = walker(shot, { timeoutMs: TEST_TIMEOUT_MS, blocker: () => feature });
const ukeyd = client(UKEYD_URL, HTTP_TIMEOUT_MS);
const ca = client(CA_URL, HTTP_TIMEOUT_MS);

async function certOf(n, slot) {
  const r = await ukeyd("GET", `/v1/tokens/${tokenId[n]}/certificates/${slot}`);
  assert.equal(r.status, 200, `GET certificate ${slot}: ${r.text}`);
  return r.json;
}

const attrOf = (cert, name) => cert.subject?.attributes?.find((a) => a.name === name)?.value ?? null;

// The token's requests as the CA lists them for the personal centre: asked
// with the browser's own cookies, since the CA shows a request only to the
// portal session that filed it.
async function requestsOf(n) {
  const r = await context.request.get(`${CA_URL}/portal/api/tokens/${tokenId[n]}/cert-requests`,
    { headers: { Accept: "application/json" } });
  const text = await r.text();
  assert.equal(r.status(), 200, `the personal centre's list: ${text}`);
  return JSON.parse(text).requests;
}

// Every request the CA holds, whoever filed it (the staff's queue).
async function allRequests() {
  const r = await ca("GET", "/demo/api/cert-requests");
  assert.equal(r.status, 200, `the staff's queue: ${r.text}`);
  return r.json.requests;
}

async function newestRequest(n, kind) {
  return eventually(`a ${kind} request for token ${n}`,
    async () => (await requestsOf(n)).find((r) => r.kind === kind));
}

// The personal centre's row for a request, once it shows `words`.
async function accountShows(number, state, words) {
  await openTab("account");
  const row = page.locator(`#account-requests tr[data-number="${number}"]`);
  await eventually(`the personal centre shows ${number} as ${state}`, async () =>
    (await row.count()) === 1 && (await row.getAttribute("data-state")) === state &&
    ((await row.textContent()) ?? "").includes(words), 15000);
  return row;
}

async function staff(number, verb, body = {}) {
  const r = await ca("POST", `/demo/api/cert-requests/${number}/${verb}`, body);
  assert.equal(r.status, 200, `staff ${verb} ${number}: ${r.text}`);
  return r.json;
}

// Puts token n back to an untouched copy of its demo state (PIN 123456).
async function freshToken(n) {
  await rig("stop-token", n);
  copyFileSync(join(PRISTINE_DIR, STATE_FILE[n]), join(DEMO_DIR, STATE_FILE[n]));
  await rig("start-token", n);
}

// --- the browser ------------------------------------------------------------------------

before(async () => {
  // The parts these walks need, named when one is missing.
  const probe = await ca("GET", "/portal/api/tokens/piv-00000000000000000000000000000000/cert-requests");
  if (probe.status === 404 && probe.json?.code !== "TOKEN_UNKNOWN" && !/TOKEN/.test(probe.json?.code ?? "")) {
    feature = `ukey-ca has no /portal/api/ (GET …/cert-requests answered ${probe.status} ${probe.json?.code ?? ""})`;
  }
  for (const n of [0, 1]) await freshToken(n);
  const readers = await eventually("both tokens back", async () => {
    const r = await ukeyd("GET", "/v1/readers");
    return r.json?.readers?.filter((x) => x.tokenId).length >= 2 ? r : null;
  });
  for (const n of [0, 1]) {
    tokenId[n] = readers.json.readers.find((r) => r.name === READER[n])?.tokenId;
    assert.ok(tokenId[n], `a token in ${READER[n]}`);
  }
  const acts = await ukeyd("GET", `/v1/tokens/${tokenId[0]}/cert-actions`);
  if (!feature && acts.status !== 200) {
    feature = `ukeyd has no certificate actions (GET …/cert-actions answered ${acts.status} ${acts.json?.code ?? ""})`;
  }
  if (!feature && !process.env.CA_ISSUES) feature = "ukey-ca has no --issuer: it cannot issue certificates";

  await launchBrowser({ profilePrefix: "chromium-cert-" });
  await page.goto(PORTAL_URL);
  await waitStatus("电子钥匙 已连接（2 个）");
});

after(closeBrowser);

// --- the walks ---------------------------------------------------------------------------

walk("证书变更 (SM2, charged): details, material, payment, review, approval, the new certificate written", async () => {
  const old = await certOf(0, "9a");
  const filedBefore = (await allRequests()).length;
  // From the certificate card, as a user finds it.
  await openTab("certs");
  await page.locator(`section.token[data-token="${tokenId[0]}"] article.cert[data-slot="9a"] .certop-link[data-kind=change]`).click();
  await visible("#panel-cert-change");
  await visible("#cert-change-body[data-phase=form]");
  const current = await text("#cert-change-current");
  assert.ok(current.includes(old.serial) && current.includes("演示科技有限公司"),
    `the current certificate read through ukeyd: ${current}`);
  assert.equal(await page.locator("#cert-change-organization").inputValue(), "演示科技有限公司",
    "the form starts from the certificate's details");

  // Nothing changed yet: the page says so and files nothing.
  await page.locator("#cert-change-submit").click();
  assert.match(await text("#cert-change-result"), /没有修改任何信息/);
  await page.locator("#cert-change-organization").fill(NEW_ORG);
  await page.locator("#cert-change-organizationalUnit").fill(NEW_OU);
  await page.locator("#cert-change-email").fill(NEW_EMAIL);
  // No material: asked for before anything is filed.
  await page.locator("#cert-change-submit").click();
  assert.match(await text("#cert-change-result"), /请选择要上传的文件/);
  assert.equal((await allRequests()).length, filedBefore, "nothing filed without the material");
  await page.locator("#cert-change-matkind").selectOption("business-licence");
  await page.locator("#cert-change-file").setInputFiles({ name: "licence.png", mimeType: "image/png", buffer: PNG });
  await shot("change-form");
  await page.locator("#cert-change-submit").click();

  // Charged: the fee, then the CA's payment page with its invoice form.
  const fee = await visible("#cert-change-fee");
  assert.match(await fee.textContent(), /证书变更服务费：50\.00/);
  assert.equal(await page.locator("#cert-change-steps li[data-step=pay]").count(), 1);
  const req = await newestRequest(0, "change");
  assert.equal(req.state, "awaiting-payment");
  assert.equal(req.details?.organization, NEW_ORG, "the new organisation reached the CA");
  await accountShows(req.number, "awaiting-payment", "待支付");
  await openTab("cert-change");
  const [pay] = await Promise.all([context.waitForEvent("page"), page.locator("#cert-change-pay").click()]);
  await payOrder(pay, { amount: "50.00", title: NEW_ORG, shot });

  // The page notices the payment by itself: submitted, waiting for review.
  const waiting = await visible("#cert-change-state[data-state=submitted]", 15000);
  assert.ok((await waiting.textContent()).includes(req.number), "the request number is shown");
  assert.equal(await page.locator("#cert-change-steps li.done[data-step=pay]").count(), 1);
  await accountShows(req.number, "submitted", "已提交");
  await shot("account-submitted");

  // Staff take it up, then approve it.
  const queue = await ca("GET", "/demo/admin/cert-reviews");
  assert.equal(queue.status, 200, "the staff's review queue");
  assert.ok(queue.text.includes(req.number), "the request is in the staff's queue");
  await staff(req.number, "review");
  await accountShows(req.number, "under-review", "审核中");
  await staff(req.number, "approve");
  const row = await accountShows(req.number, "approved", "审核通过");
  await shot("account-approved");
  const writeButton = row.locator("button");
  await eventually("the personal centre offers the write", async () => !(await writeButton.isDisabled()));
  await writeButton.click();

  // Back on 证书变更: the write, no PIN (the key pair stays).
  await visible("#cert-change-body[data-phase=write]");
  assert.equal(await page.locator("#cert-change-pin").count(), 0, "a change keeps the key: no PIN");
  assert.match(await text("#cert-change-body"), new RegExp(req.number));
  // The new details as the user gave them, never a distinguished name.
  const writeStep = await page.locator("#cert-change-body").innerText();
  assert.ok(writeStep.includes(NEW_ORG), "the new organisation at the write step");
  assert.doesNotMatch(writeStep, /\b(CN|O|OU|C)=|PIV|\b9a\b/, `no DN or slot name at the write step: ${writeStep}`);
  const encBefore = await certOf(0, "9d");
  assert.match(await text(`#action-${req.number} .slot-row`), / \+ /,
    "the write step names both certificates of the pair");
  await shot("write-step");
  await page.locator("#cert-change-write").click();
  const done = await visible("#cert-change-done", WRITE_WAIT_MS);
  assert.match(await done.textContent(), /证书变更完成/);
  const now = await certOf(0, "9a");
  assert.notEqual(now.serial, old.serial, "a new certificate is on the token");
  assert.equal(attrOf(now, "O"), NEW_ORG, "…with the new organisation");
  assert.equal(attrOf(now, "CN"), attrOf(old, "CN"), "…for the same holder");
  const shown = await text("#cert-change-new");
  assert.ok(shown.includes(now.serial), `the page shows the new serial ${now.serial}: ${shown}`);
  assert.ok(shown.includes(NEW_ORG), "…and the new organisation");
  assert.ok(shown.includes(now.notAfter.slice(0, 10)), "…and its validity");
  assert.ok(shown.includes("演示专用"), "…and its owner");
  // The pair: the encryption certificate re-issued with it, same details, same key.
  const enc = await certOf(0, "9d");
  assert.notEqual(enc.serial, encBefore.serial, "the encryption certificate (9d) is re-issued too");
  assert.equal(attrOf(enc, "O"), NEW_ORG, "…with the new organisation");
  const shownEnc = await text("#cert-change-new-9d");
  assert.ok(shownEnc.includes(enc.serial) && shownEnc.includes(NEW_ORG),
    `the page shows the new encryption certificate with the signing one: ${shownEnc}`);
  await shot("change-done");

  // The CA knows it is done; 我的证书 shows the new certificate.
  await accountShows(req.number, "done", "已完成");
  await openTab("certs");
  const card = page.locator(`section.token[data-token="${tokenId[0]}"] article.cert[data-slot="9a"]`);
  await eventually("我的证书 shows the new certificate", async () =>
    ((await card.textContent()) ?? "").includes(now.serial));
  assert.ok((await card.textContent()).includes(NEW_ORG));
});

walk("a rejected change: the reason in the personal centre", async () => {
  await openTab("cert-change");
  await pickToken("cert-change", 1);
  await visible("#cert-change-body[data-phase=form]");
  await page.locator("#cert-change-slot").selectOption("9a");
  await page.locator("#cert-change-organizationalUnit").fill("研发中心");
  await page.locator("#cert-change-file").setInputFiles({ name: "licence.png", mimeType: "image/png", buffer: PNG });
  await page.locator("#cert-change-submit").click();
  // The RSA/EC token pays nothing: no payment step, straight to review.
  await visible("#cert-change-state[data-state=submitted]", 15000);
  assert.equal(await page.locator("#cert-change-steps li[data-step=pay]").count(), 0, "a free change has no payment step");
  const req = await newestRequest(1, "change");
  await staff(req.number, "reject", { reason: REJECT_REASON });
  const row = await accountShows(req.number, "rejected", "已驳回");
  assert.ok((await row.textContent()).includes(REJECT_REASON), "the reason is shown");
  await shot("account-rejected");
  // 证书变更 offers a new request, saying why the last one was turned down.
  await openTab("cert-change");
  await visible("#cert-change-body[data-phase=form]");
  const note = await text("#cert-change-rejected");
  assert.ok(note.includes(REJECT_REASON) && note.includes(req.number), `the reason, again: ${note}`);
});

walk("证书延期 (RSA/EC): a new key pair under the PIN, a wrong PIN first", async () => {
  const old = await certOf(1, "9a");
  await openTab("cert-renewal");
  await pickToken("cert-renewal", 1);
  await visible("#cert-renewal-body[data-phase=form]");
  await page.locator("#cert-renewal-slot").selectOption("9a");
  assert.equal(await page.locator("#cert-renewal-organization").count(), 0, "a renewal has no details form");
  assert.ok((await text("#cert-renewal-current")).includes(old.serial));
  await page.locator("#cert-renewal-submit").click();
  await visible("#cert-renewal-state[data-state=submitted]", 15000);
  const req = await newestRequest(1, "renewal");
  assert.equal(req.fee === null || Number(req.fee.amount) === 0, true, "free for this token");
  await staff(req.number, "approve");
  await visible("#cert-renewal-body[data-phase=write]", 15000);
  assert.match(await text("#cert-renewal-body"), /生成新的 RSA-2048 密钥对/);
  assert.match(await text("#panel-cert-renewal .pin-state"), /剩余尝试次数：3 次/);

  await page.locator("#cert-renewal-pin").fill(WRONG_PIN);
  await page.locator("#cert-renewal-write").click();
  const err = await errorShown("#cert-renewal-result");
  assert.equal(err.code, "PIN_INCORRECT");
  assert.match(err.words, /2/, "the message gives the tries left");
  await eventually("tries left 2 shown",
    async () => /剩余尝试次数：2 次/.test(await text("#panel-cert-renewal .pin-state")));
  assert.equal((await certOf(1, "9a")).serial, old.serial, "a wrong PIN writes nothing");
  await shot("renewal-wrong-pin");

  await page.locator("#cert-renewal-pin").fill(PIN);
  await page.locator("#cert-renewal-write").click();
  await visible("#cert-renewal-progress, #cert-renewal-done", WAIT_MS);
  await visible("#cert-renewal-done", WRITE_WAIT_MS);
  const now = await certOf(1, "9a");
  assert.notEqual(now.serial, old.serial, "a new certificate");
  assert.notEqual(now.fingerprints?.sha256, old.fingerprints?.sha256);
  assert.ok(now.notAfter > old.notAfter, `validity renewed: ${old.notAfter} → ${now.notAfter}`);
  assert.equal(attrOf(now, "CN"), attrOf(old, "CN"));
  const shown = await text("#cert-renewal-new");
  assert.ok(shown.includes(now.serial) && shown.includes(now.notAfter.slice(0, 10)), shown);
  const pin = await ukeyd("GET", `/v1/tokens/${tokenId[1]}/pin`);
  assert.equal(pin.json.triesLeft, 3, "the right PIN resets the tries");
  await accountShows(req.number, "done", "已完成");
});

walk("证书重装 on request: the certificate written again", async () => {
  const old = await certOf(1, "9c");
  await openTab("cert-reinstall");
  await pickToken("cert-reinstall", 1);
  await visible("#cert-reinstall-body[data-phase=form]");
  await page.locator("#cert-reinstall-slot").selectOption("9c");
  await page.locator("#cert-reinstall-submit").click();
  await visible("#cert-reinstall-state[data-state=submitted]", 15000);
  const req = await newestRequest(1, "reinstall");
  await staff(req.number, "approve");
  await visible("#cert-reinstall-body[data-phase=write]", 15000);
  assert.equal(await page.locator("#cert-reinstall-pin").count(), 0, "a reinstall keeps the key: no PIN");
  await page.locator("#cert-reinstall-write").click();
  await visible("#cert-reinstall-done", WRITE_WAIT_MS);
  const now = await certOf(1, "9c");
  assert.equal(attrOf(now, "CN"), attrOf(old, "CN"), "the same holder");
  assert.equal(now.keyAlgorithm, old.keyAlgorithm, "the same key");
  assert.ok((await text("#cert-reinstall-new")).includes(now.serial));
});

walk("English switch on the certificate pages and the personal centre", async () => {
  await page.locator("#lang-switch").click();
  await waitStatus("USB keys connected (2)");
  assert.equal(await text("#tab-cert-change"), "Change certificate");
  assert.equal(await text("#tab-account"), "My requests");
  await openTab("cert-change");
  await pickToken("cert-change", 0);
  // The change written earlier is still on show until the user is done.
  const done = await visible("#cert-change-done");
  assert.match(await done.textContent(), /Change done: the new certificate is on your USB key/);
  assert.match(await text("#cert-change-new"), /Serial number.*Valid/s);
  await page.locator("#cert-change-finish").click();
  await visible("#cert-change-body[data-phase=form]");
  assert.match(await text("#cert-change-body"), /Organisation/);
  assert.ok((await text("#cert-change-current")).includes(NEW_ORG), "the form starts from the new certificate");
  assert.match(await text("#cert-change-steps"), /Request.*Review.*Write/s);
  await page.locator("#cert-change-submit").click();
  assert.match(await text("#cert-change-result"), /Nothing was changed/);
  await openTab("account");
  await pickToken("account", 1);
  const table = await visible("#account-requests");
  const words = await table.textContent();
  assert.match(words, /Rejected/);
  assert.match(words, /Done/);
  assert.ok(words.includes(REJECT_REASON), "the staff's reason as they wrote it");
  await shot("english-account");
  await page.locator("#lang-switch").click();
  await waitStatus("电子钥匙 已连接（2 个）");
  assert.equal(await text("#tab-account"), "个人中心");
});

walk("every page with the requests filed, at 1366 and 800 px, in Chinese and English", async () => {
  await openTab("account");
  await pickToken("account", 1);
  await visible("#account-requests");
  await tourPages("cert-page");
});

// 证书延期 on the demo SKF key (a GM/T 0016 library's key: no management key,
// its PIN authorises the write). test-portal.sh sets VSKF and friends when
// the build has the SKF provider; the key is put back to the demo's state
// ($SKF_PRISTINE_DIR) first, and pulled out again for the 找回密码 walk
// after this file.
walk("证书延期 on the SKF key: a new SM2 key in its container, under its PIN", async (t) => {
  const VSKF = process.env.VSKF;
  const SKF_PIN = process.env.SKF_PIN;
  if (!VSKF || !SKF_PIN) {
    t.skip("this build has no SKF provider");
    return;
  }
  const vskf = (...args) => promisify(execFile)(VSKF, args, { timeout: 20000 });
  // The key as the demo made it (the walks before changed its PIN), while it is out.
  await vskf("unplug", need("VSKF_DIR"), need("SKF_DEVICE"));
  const device = `${need("SKF_DEVICE")}.skf`;
  copyFileSync(join(need("SKF_PRISTINE_DIR"), device), join(need("VSKF_DIR"), device));
  await vskf("plug", need("VSKF_DIR"), need("SKF_DEVICE"));
  try {
    const tk = await eventually("ukeyd lists the SKF key", async () =>
      (await ukeyd("GET", "/v1/tokens")).json?.tokens?.find((x) => x.edge === "SKF"), 20000);
    assert.equal(tk.capabilities?.certificateWrites, true, "the SKF key can be written to");
    const sign = tk.certificates.find((c) => c.id.endsWith(".sign"));
    const old = (await ukeyd("GET", `/v1/tokens/${tk.id}/certificates/${sign.id}`)).json;
    await openTab("cert-renewal");
    const select = page.locator("#panel-cert-renewal .token-select");
    await eventually("the renewal page offers the SKF key", async () =>
      (await select.locator(`option[value="${tk.id}"]`).count()) === 1, 15000);
    await select.selectOption(tk.id);
    await visible("#cert-renewal-body[data-phase=form]");
    await page.locator("#cert-renewal-slot").selectOption(sign.id);
    assert.ok((await text("#cert-renewal-current")).includes(old.serial));
    await page.locator("#cert-renewal-submit").click();
    await visible("#cert-renewal-state[data-state=submitted]", 15000);
    const req = await eventually("the SKF key's renewal request", async () => {
      const r = await context.request.get(`${CA_URL}/portal/api/tokens/${tk.id}/cert-requests`,
        { headers: { Accept: "application/json" } });
      return r.status() === 200 ? JSON.parse(await r.text()).requests.find((x) => x.kind === "renewal") : null;
    });
    await staff(req.number, "approve");
    await visible("#cert-renewal-body[data-phase=write]", 15000);
    assert.match(await text("#cert-renewal-body"), /SM2/);
    await shot("skf-renewal-write");
    await page.locator("#cert-renewal-pin").fill(SKF_PIN);
    await page.locator("#cert-renewal-write").click();
    await visible("#cert-renewal-done", WRITE_WAIT_MS);
    const now = (await ukeyd("GET", `/v1/tokens/${tk.id}/certificates/${sign.id}`)).json;
    assert.notEqual(now.serial, old.serial, "a new certificate");
    assert.ok(now.notAfter >= old.notAfter, `validity renewed: ${old.notAfter} → ${now.notAfter}`);
    assert.ok((await text("#cert-renewal-new")).includes(now.serial));
    // The container's own view: its certificate is its (new) key's.
    const { stdout } = await vskf("check", need("VSKF_DIR"), need("SKF_DEVICE"), sign.id.slice(0, -".sign".length), "sign");
    assert.equal(stdout.trim().replace(/^serial: 0*/, ""), now.serial.replace(/^0*/, ""),
      "vskf check: the container holds the certificate ukeyd shows, for its key");
    await shot("skf-renewal-done");
  } finally {
    await vskf("unplug", need("VSKF_DIR"), need("SKF_DEVICE"));
  }
});
