// SPDX-License-Identifier: MIT
//
// The demo CA portal walked as a user walks it, in Debian's Chromium driven by
// playwright-core, against the real stack that tests/test-portal.sh starts:
// the PC/SC rig with two virtual tokens, ukey-ca serving the portal, ukeyd.
//
//   token 0 (Virtual PCD 00 00): SM2, 演示专用, unlock charged 30.00 CNY, phone 13700001000
//   token 1 (Virtual PCD 00 01): RSA + EC, Zhang Wei 张伟, free unlock, phone 13900002000
//   token 2 (Virtual PCD B 00 00): a certificate expiring in 10 days; pulled out
//                                  but for the walk that looks at it
//   the demo SKF key (vskf, when the build has the SKF provider): 演示专用's
//                                  signing and encryption SM2 certificates,
//                                  factory-default PIN; pulled out but for
//                                  the last walk
//
// The tests run in order and share the tokens' state (PINs change as they
// go). Each one saves a screenshot into $SHOT_DIR, passed or failed.
//
// Run through tests/test-portal.sh; by hand:
//   PORTAL_URL=… PORTAL_DOWN_URL=… CA_URL=… UKEYD_URL=… RIG=tests/rig/rig RIG_DIR=… SHOT_DIR=… \
//   DEMO_DIR=… node --test --test-reporter=tap portal.test.mjs

import { after, before } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  CA_URL, DEMO_DIR, PORTAL_URL, READER, UKEYD_URL, WAIT_MS, client, closeBrowser, context, errorShown,
  eventually, launchBrowser, need, openTab, page, payOrder, pickToken, rig, screenshots, text, tokenId, tourPages, visible,
  waitStatus, walker,
} from "./harness.mjs";

// The same portal served by CAs configured with other ukeyd ports: one where
// nothing listens, one where a ukeyd refuses this account (may be unset).
const PORTAL_DOWN_URL = need("PORTAL_DOWN_URL");
// The same portal from a CA that needs a newer ukeyd (--portal-min-ukeyd),
// and the hotline every test CA names (--hotline).
const PORTAL_UPDATE_URL = need("PORTAL_UPDATE_URL");
const DEMO_HOTLINE = need("DEMO_HOTLINE");
const PORTAL_REFUSING_URL = process.env.PORTAL_REFUSING_URL;

const PIN = "123456";                 // the demo tokens' PIN
const WRONG_PIN = "Wrong999";
const NEW_PIN_CHANGE = "Kx742951";    // token 1 after "change the PIN"
const NEW_PIN_SMS = "Mz519384";       // token 1 after the SMS unlock
const NEW_PIN_PAID = "Rw283746";      // token 0 after the paid unlock
const NEW_PIN_REVIEW = "Tq605182";    // token 1 after the review unlock
const PHONE = ["13700001000", "13900002000"];

// The demo SKF key, when tests/test-portal.sh configured it (else unset).
const VSKF = process.env.VSKF;
const SKF_PIN = process.env.SKF_PIN;
const NEW_PIN_SKF = "Sk836215";
const WRONG_PIN_SKF = "Wrong888";

const EVENT_WAIT_MS = 5000;           // the status line after a plug or unplug
const TEST_TIMEOUT_MS = 90000;

// --- helpers ---------------------------------------------------------------------

const shot = screenshots();
const walk = walker(shot, { timeoutMs: TEST_TIMEOUT_MS });
const ukeyd = client(UKEYD_URL);
const ca = client(CA_URL);

async function pinState(n) {
  const r = await ukeyd("GET", `/v1/tokens/${tokenId[n]}/pin`);
  assert.equal(r.status, 200, `GET …/pin: ${r.text}`);
  return r.json;
}

// vskf(COMMAND): the virtual SKF library's plug or unplug of the demo key.
async function vskf(cmd) {
  await promisify(execFile)(VSKF, [cmd, need("VSKF_DIR"), need("SKF_DEVICE")], { timeout: 20000 });
}

async function latestSms(phone) {
  const r = await ca("GET", `/demo/api/outbox?phone=${phone}`);
  assert.equal(r.status, 200, `outbox: ${r.text}`);
  return r.json.messages;
}

// What the page sends to ukeyd while fn runs: "METHOD path" lines.
async function ukeydRequestsDuring(fn) {
  const seen = [];
  const note = (req) => {
    if (req.url().startsWith(UKEYD_URL)) seen.push(`${req.method()} ${new URL(req.url()).pathname}`);
  };
  page.on("request", note);
  try {
    await fn();
  } finally {
    page.off("request", note);
  }
  return seen;
}

// The colour a pin-state shows, as the browser computes it (the state is
// redrawn as ukeyd's answers come: ask for it in one go).
async function triesColour(panel) {
  return page.evaluate((sel) => {
    const e = document.querySelector(sel);
    return e ? getComputedStyle(e).color : null;
  }, `#panel-${panel} .pin-state .pin`);
}
const AMBER = "rgb(184, 110, 0)";
const RED = "rgb(179, 38, 30)";
const GREEN = "rgb(30, 123, 52)";

async function verifiesWith(n, pin) {
  const r = await ukeyd("POST", `/v1/tokens/${tokenId[n]}/pin/verify`, { pin });
  return r.status === 200 && r.json?.verified === true;
}

// Fails clearly when ukeyd has no unlock endpoints yet, instead of timing out.
async function startUnlock(n) {
  await openTab("unlock");
  await pickToken("unlock", n);
  await (await visible("#unlock-start")).click();
  const outcome = await eventually("the unlock flow opens", async () => {
    if (await page.locator("#unlock-body[data-phase=pay], #unlock-body[data-phase=identity]").count()) return "open";
    if (await page.locator("#unlock-result .msg").count()) return "refused";
    return null;
  });
  if (outcome === "refused") {
    const said = await text("#unlock-result");
    const probe = await ukeyd("POST", `/v1/tokens/${tokenId[n]}/unlock`, {});
    assert.fail(`ukeyd refused to open an unlock session: POST /v1/tokens/{id}/unlock answered ` +
      `${probe.status} ${probe.json?.code ?? ""}; the portal says: ${said}`);
  }
}

async function smsPath(n, newPin) {
  await (await visible("#unlock-by-sms")).click();
  const before = (await latestSms(PHONE[n])).length;
  await page.locator("#unlock-phone").fill(PHONE[n]);
  await page.locator("#unlock-send-sms").click();
  await visible("#unlock-result .msg.ok");
  assert.match(await text("#unlock-result"), /\*\*\*\*/, "the SMS note names the masked phone");
  assert.equal(await page.locator("#unlock-send-sms").isDisabled(), true, "no resend at once");
  await shot(`sms-sent-${n}`);
  const msgs = await eventually("the SMS reaches the outbox",
    async () => ((await latestSms(PHONE[n])).length > before ? latestSms(PHONE[n]) : null));
  const code = msgs[0].code;
  assert.match(code, /^[0-9]{6}$/);
  await page.locator("#unlock-sms-code").fill(code);
  await page.locator("#unlock-verify-sms").click();
  await newPinStep(newPin);
}

async function newPinStep(newPin) {
  await visible("#unlock-pin-form");
  assert.match(await text("#unlock-steps li.current"), /设置新密码/);
  await page.locator("#unlock-new-pin").fill(newPin);
  await page.locator("#unlock-new-pin-again").fill(newPin);
  await page.locator("#unlock-complete").click();
  await visible("#unlock-done", 30000);
  assert.match(await text("#unlock-done"), /解锁成功/);
  // The last step reached is drawn as done, none as current.
  assert.equal(await page.locator("#unlock-steps li[data-step=done]").getAttribute("class"), "done");
  assert.equal(await page.locator("#unlock-steps li.current").count(), 0, "no step left current");
}

// --- the browser ---------------------------------------------------------------------

before(async () => {
  await launchBrowser({ profilePrefix: "chromium-", acceptDownloads: true });

  const readers = await ukeyd("GET", "/v1/readers");
  assert.equal(readers.status, 200, `GET /v1/readers: ${readers.text}`);
  for (const n of [0, 1]) {
    tokenId[n] = readers.json.readers.find((r) => r.name === READER[n])?.tokenId;
    assert.ok(tokenId[n], `a token in ${READER[n]}`);
  }
});

after(closeBrowser);

// --- the walks -------------------------------------------------------------------------

walk("my certificate: owner, serial, validity, type and medium of every token and slot", async () => {
  await page.goto(PORTAL_URL);
  await waitStatus("电子钥匙 已连接（2 个）");
  const api = (await ukeyd("GET", "/v1/tokens")).json.tokens;
  for (const n of [0, 1]) {
    const tk = api.find((x) => x.id === tokenId[n]);
    const section = page.locator(`section.token[data-token="${tokenId[n]}"]`);
    await section.waitFor();
    assert.match(await section.locator("header").textContent(), /剩余尝试次数：3 次/);
    assert.equal(await section.locator("article.cert").count(), tk.certificates.length);
    for (const c of tk.certificates) {
      const card = section.locator(`article.cert[data-slot="${c.slot}"]`);
      const words = await card.textContent();
      assert.ok(words.includes(c.subject.commonName), `owner ${c.subject.commonName} in slot ${c.slot}`);
      assert.ok(words.includes(c.serial), `serial ${c.serial}`);
      assert.ok(words.includes(c.keyAlgorithm), `type ${c.keyAlgorithm}`);
      assert.ok(words.includes(`剩余 ${c.daysLeft} 天`), `days left ${c.daysLeft}`);
      assert.ok(words.includes(`${c.notBefore.slice(0, 10)} — ${c.notAfter.slice(0, 10)}`), "validity dates");
      assert.ok(words.includes(`${tk.model} · ${READER[n]}`), "medium: model and reader");
    }
  }
  const sm2 = await page.locator(`section.token[data-token="${tokenId[0]}"]`).textContent();
  assert.ok(sm2.includes("演示专用") && sm2.includes("演示科技有限公司"), "the Chinese owner, intact");
  assert.ok(sm2.includes("签名证书") && sm2.includes("加密证书"), "signing and encryption certificates told apart");
  const rsa = await page.locator(`section.token[data-token="${tokenId[1]}"]`).textContent();
  assert.ok(rsa.includes("Zhang Wei 张伟") && rsa.includes("RSA-2048") && rsa.includes("EC P-256"));
  assert.equal(await page.locator(".validity-row.soon").count(), 0, "no expiry warning a year ahead");
  // No card internals: slot names and numbers stay off the screen.
  const shown = await page.locator("#panel-certs").innerText();
  assert.doesNotMatch(shown, /PIV Authentication|Card Authentication|Key Management|Digital Signature|\(9[acde]\)|位置/,
    "no PIV slot names on the certificate page");
  for (const h3 of await page.locator("#panel-certs article.cert h3").allInnerTexts()) {
    assert.equal(h3.match(/签名证书|加密证书|身份认证证书/g)?.length, 1, `each certificate named once for what it does: ${h3}`);
  }

  // The certificate as a file: the .pem is the demo certificate, the .der
  // the card's bytes.
  const card = page.locator(`section.token[data-token="${tokenId[0]}"] article.cert[data-slot="9a"]`);
  const [pemDl] = await Promise.all([page.waitForEvent("download"), card.locator("button[data-format=pem]").click()]);
  const pem = readFileSync(await pemDl.path(), "utf8");
  const b64 = (s) => s.replace(/-----[A-Z ]+-----|\s/g, "");
  assert.equal(b64(pem), b64(readFileSync(join(DEMO_DIR, "sm2-9a.pem"), "utf8")), "downloaded .pem = the demo certificate");
  assert.match(pemDl.suggestedFilename(), /9a\.pem$/);
  const [derDl] = await Promise.all([page.waitForEvent("download"), card.locator("button[data-format=der]").click()]);
  const der = readFileSync(await derDl.path());
  assert.equal(der.toString("base64"), b64(pem), "downloaded .der = the same certificate");
});

walk("English switch: labels, status and ukeyd's messages in English", async () => {
  await page.locator("#lang-switch").click();
  await waitStatus("USB keys connected (2)");
  assert.equal(await text("#tab-certs"), "My certificate");
  assert.match(await text(`section.token[data-token="${tokenId[0]}"]`), /Owner.*演示专用/s);
  // An error from ukeyd, in English because the page asks for it.
  await openTab("verify");
  await pickToken("verify", 0);
  // A PIN the policy refuses: the page says why in English, and sends nothing.
  const sent = await ukeydRequestsDuring(async () => {
    await page.locator("#verify-pin").fill("12");
    await page.locator("#verify-submit").click();
    await visible("#verify-result .msg.warn");
  });
  assert.match(await text("#verify-result"), /A PIN has 6–8 characters/);
  assert.deepEqual(sent.filter((r) => r.startsWith("POST")), [], "a PIN against the policy is not sent");
  // A wrong PIN: ukeyd's own words, in English because the page asks for them.
  await page.locator("#verify-pin").fill(WRONG_PIN);
  await page.locator("#verify-submit").click();
  const err = await errorShown("#verify-result");
  assert.equal(err.code, "PIN_INCORRECT");
  assert.match(err.words, /incorrect/i);
  assert.match(err.words, /2/, "the tries left");
  await eventually("tries left 2, in English",
    async () => /Tries left: 2/.test(await text("#panel-verify .pin-state")));
  await shot("english");
  await page.locator("#verify-pin").fill(PIN);
  await page.locator("#verify-submit").click();
  await visible("#verify-result .msg.ok");
  assert.equal((await pinState(0)).triesLeft, 3, "the right PIN resets the tries");
  await page.locator("#lang-switch").click();
  await waitStatus("电子钥匙 已连接（2 个）");
  assert.equal(await text("#tab-certs"), "我的证书");
  await openTab("certs");
});

walk("status line follows unplug and re-plug live", async () => {
  await page.evaluate(() => { window.notReloaded = true; });
  await rig("remove", 1);
  await waitStatus("电子钥匙 已连接", EVENT_WAIT_MS);
  assert.equal(await page.locator(`section.token[data-token="${tokenId[1]}"]`).count(), 0);
  await rig("remove", 0);
  await waitStatus("未检测到电子钥匙", EVENT_WAIT_MS);
  assert.equal(await page.locator("#status").getAttribute("data-state"), "absent");
  assert.match(await text("#panel-certs"), /请插入电子钥匙/);
  await shot("unplugged");
  await rig("insert", 0);
  await waitStatus("电子钥匙 已连接", EVENT_WAIT_MS);
  await rig("insert", 1);
  await waitStatus("电子钥匙 已连接（2 个）", EVENT_WAIT_MS);
  await page.locator(`section.token[data-token="${tokenId[1]}"]`).waitFor();
  assert.equal(await page.evaluate(() => window.notReloaded), true, "followed without a reload");
});

walk("a certificate expiring within 30 days is flagged", async () => {
  await openTab("certs");
  await rig("insert", 2);
  await waitStatus("电子钥匙 已连接（3 个）", EVENT_WAIT_MS);
  const section = page.locator(`section.token[data-reader="${READER[2]}"]`);
  await section.waitFor();
  const tk = (await ukeyd("GET", "/v1/tokens")).json.tokens.find((x) => x.reader === READER[2]);
  const days = tk.certificates[0].daysLeft;
  assert.ok(days >= 0 && days < 30, `days left ${days}`);
  const words = await section.textContent();
  assert.ok(words.includes("即将过期 Li Na 李娜"));
  assert.ok(words.includes(`证书将在 ${days} 天后过期，请尽快办理更新`), "the warning names the days left");
  assert.equal(await section.locator(".validity-row.soon").count(), 1);
  assert.equal(await page.locator(".validity-row.soon").count(), 1, "only that certificate is flagged");
  await shot("expiring-certificate");
  await rig("remove", 2);
  await waitStatus("电子钥匙 已连接（2 个）", EVENT_WAIT_MS);
});

walk("verify: a wrong PIN shows the tries left, the right one verifies", async () => {
  await openTab("verify");
  await pickToken("verify", 1);
  assert.match(await text("#panel-verify .pin-state"), /剩余尝试次数：3 次/);
  assert.match(await text("#panel-verify .policy"), /6–8 位/);
  await page.locator("#verify-pin").fill(WRONG_PIN);
  await page.locator("#verify-submit").click();
  const err = await errorShown("#verify-result");
  assert.equal(err.code, "PIN_INCORRECT");
  assert.match(err.words, /2/, "the message gives the tries left");
  await eventually("tries left 2 shown",
    async () => /剩余尝试次数：2 次/.test(await text("#panel-verify .pin-state")));
  await eventually("tries left turn amber as they fall", async () => (await triesColour("verify")) === AMBER);
  await shot("wrong-pin");
  await page.locator("#verify-pin").fill(PIN);
  await page.locator("#verify-submit").click();
  await visible("#verify-result .msg.ok");
  assert.match(await text("#verify-result"), /密码正确/);
  await eventually("tries back to 3",
    async () => /剩余尝试次数：3 次/.test(await text("#panel-verify .pin-state")));
  await eventually("all tries left: green again", async () => (await triesColour("verify")) === GREEN);
});

walk("change the PIN: policy shown, new PIN twice", async () => {
  await openTab("change");
  await pickToken("change", 1);
  assert.match(await text("#panel-change .policy"), /密码规则：6–8 位/);
  assert.match(await text("#panel-change .policy"), /不能与原密码相同.*123456、000000、111111/);
  // Refused in the page, with the reason, before anything is sent.
  for (const [newPin, why] of [["111111", /同一个字符重复/], ["654321", /连续的数字/], ["567890", /连续的数字/],
    ["121212", /同一组字符重复/], ["5201314", /常见密码/], [PIN, /不能与原密码相同/], ["12345", /6–8 位/]]) {
    const sent = await ukeydRequestsDuring(async () => {
      await page.locator("#change-old").fill(PIN);
      await page.locator("#change-new").fill(newPin);
      await page.locator("#change-again").fill(newPin);
      await page.locator("#change-submit").click();
      await eventually(`the page refuses ${newPin}`, async () => why.test(await text("#change-result .msg.warn")));
    });
    assert.deepEqual(sent.filter((r) => r.startsWith("POST")), [], `${newPin}: nothing sent`);
  }
  await shot("pin-too-simple");
  assert.equal((await pinState(1)).triesLeft, 3, "refused PINs cost nothing");
  await page.locator("#change-old").fill(PIN);
  await page.locator("#change-new").fill(NEW_PIN_CHANGE);
  await page.locator("#change-again").fill("Kx742950");
  await page.locator("#change-submit").click();
  assert.match(await text("#change-result"), /两次输入的新密码不一致/);
  assert.equal((await pinState(1)).triesLeft, 3, "a mismatch costs nothing");
  await page.locator("#change-again").fill(NEW_PIN_CHANGE);
  await page.locator("#change-submit").click();
  await visible("#change-result .msg.ok");
  assert.match(await text("#change-result"), /密码已修改/);
  assert.ok(await verifiesWith(1, NEW_PIN_CHANGE), "the new PIN verifies on the token");
});

walk("last try: a warning, a question before spending it, then blocked", async () => {
  await openTab("verify");
  await pickToken("verify", 1);
  for (const left of [2, 1]) {
    await page.locator("#verify-pin").fill(WRONG_PIN);
    await page.locator("#verify-submit").click();
    await eventually(`tries left ${left} shown`,
      async () => new RegExp(`剩余尝试次数：${left} 次`).test(await text("#panel-verify .pin-state")));
  }
  assert.match(await text("#panel-verify .pin-state"), /仅剩最后 1 次机会/);
  await eventually("the last try is red", async () => (await triesColour("verify")) === RED);
  await page.locator("#verify-pin").fill(WRONG_PIN);
  await page.locator("#verify-submit").click();
  const dialog = await visible("#last-try");
  assert.match(await dialog.textContent(), /最后一次/);
  await shot("last-try-question");
  await page.locator("#last-try-cancel").click();
  await page.locator("#last-try").waitFor({ state: "hidden" });
  assert.equal((await pinState(1)).triesLeft, 1, "saying no spends nothing");
  await page.locator("#verify-pin").fill(WRONG_PIN);
  await page.locator("#verify-submit").click();
  await visible("#last-try");
  await page.locator("#last-try-go").click();
  await errorShown("#verify-result");
  assert.doesNotMatch(await page.locator("body").innerText(), /confirmLastTry/, "the user is asked, never told to send a flag");
  await eventually("the page shows the PIN blocked",
    async () => /密码已锁定/.test(await text("#panel-verify .pin-state")));
  assert.equal((await pinState(1)).blocked, true, "the token's PIN is blocked");
});

walk("blocked PIN: unlock by SMS code (free)", async () => {
  await startUnlock(1);
  assert.equal(await page.locator("#unlock-steps li[data-step=pay]").count(), 0, "a free unlock has no payment step");
  // A wrong number first: the CA's refusal, as ukeyd words it.
  await (await visible("#unlock-by-sms")).click();
  assert.match(await text("#unlock-body"), /139\*\*\*\*2000/);
  await page.locator("#unlock-phone").fill("13900002001");
  await page.locator("#unlock-send-sms").click();
  await errorShown("#unlock-result");
  await page.locator("#unlock-back").click();
  await smsPath(1, NEW_PIN_SMS);
  const pin = await pinState(1);
  assert.equal(pin.blocked, false);
  assert.equal(pin.triesLeft, 3);
  assert.ok(await verifiesWith(1, NEW_PIN_SMS), "the new PIN verifies on the token");
  await openTab("certs");
  await eventually("the certificate page shows the token unblocked", async () =>
    /剩余尝试次数：3 次/.test(await text(`section.token[data-token="${tokenId[1]}"] header`)));
});

walk("paid unlock: fee, payment page with invoice, then SMS", async () => {
  await startUnlock(0);
  assert.match(await text("#unlock-fee"), /30\.00 元/);
  assert.doesNotMatch(await text("#unlock-fee"), /CNY/);
  assert.match(await text("#unlock-body"), /发票/);
  await shot("fee");
  // The flow survives a reload (or a return from a payment page in the same tab).
  await page.reload();
  await visible("#unlock-fee");
  const [pay] = await Promise.all([context.waitForEvent("page"), page.locator("#unlock-pay").click()]);
  await payOrder(pay, { amount: "30.00", title: "演示科技有限公司", shot });
  // Back on the portal: it noticed the payment by itself.
  await visible("#unlock-body[data-phase=identity]");
  assert.match(await text("#unlock-steps li.done"), /支付/);
  await smsPath(0, NEW_PIN_PAID);
  assert.ok(await verifiesWith(0, NEW_PIN_PAID), "the new PIN verifies on the token");
});

walk("forgotten phone: upload, review, unlock code, new PIN", async () => {
  await startUnlock(1);
  await (await visible("#unlock-by-review")).click();
  await page.locator("#unlock-kind").selectOption("id-copy");
  // A tiny PNG: the CA keeps it for the support desk.
  const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");
  // The file control in the page's words, whatever the browser's language.
  assert.equal(await text("#unlock-upload-form .file-choose"), "选择文件");
  assert.equal(await text("#unlock-upload-form .file-name"), "未选择文件");
  await page.locator("#unlock-file").setInputFiles({ name: "id-copy.png", mimeType: "image/png", buffer: png });
  assert.equal(await text("#unlock-upload-form .file-name"), "id-copy.png");
  await page.locator("#unlock-upload").click();
  const pending = await visible("#review-state[data-review=pending]");
  assert.match(await pending.textContent(), /等待人工审核/);
  await shot("review-pending");
  // The support desk approves and reads the code out on the phone.
  const reviews = await ca("GET", "/demo/api/reviews");
  const review = reviews.json.reviews.find((r) => r.tokenId === tokenId[1] && r.state === "pending");
  assert.ok(review, `a pending review for the token: ${reviews.text}`);
  assert.equal(review.materials.length, 1);
  const approved = await ca("POST", `/demo/api/reviews/${review.reviewId}/approve`, {});
  assert.equal(approved.status, 200, approved.text);
  await visible("#review-state[data-review=approved]", 15000);
  await page.locator("#unlock-code").fill(approved.json.unlockCode);
  await page.locator("#unlock-verify-code").click();
  await newPinStep(NEW_PIN_REVIEW);
  assert.ok(await verifiesWith(1, NEW_PIN_REVIEW), "the new PIN verifies on the token");
});

walk("environment check: each check with its state and hint, and repair", async () => {
  const env = await ukeyd("GET", "/v1/environment");
  await page.goto(PORTAL_URL);
  await waitStatus("电子钥匙 已连接（2 个）");
  if (env.status === 404) {
    // ukeyd without the environment API: the tab stays hidden.
    assert.equal(await page.locator("#tab-env").isHidden(), true);
    return;
  }
  assert.equal(env.status, 200, env.text);
  await visible("#tab-env");
  await openTab("env");
  const checks = env.json.checks ?? [];
  assert.ok(checks.length > 0, "ukeyd reports checks");
  await eventually("every check listed",
    async () => (await page.locator("#env-checks li.check").count()) === checks.length);
  for (const c of checks) {
    const li = page.locator(`#env-checks li.check[data-check="${c.id}"]`);
    assert.equal(await li.getAttribute("data-state"), c.state, `state of ${c.id}`);
    const words = await li.textContent();
    assert.ok(words.includes(c.title), `title of ${c.id}`);
    if (c.state !== "ok" && c.hint) assert.ok(words.includes(c.hint), `fix hint of ${c.id}`);
  }
  assert.match(await text("#env-checks"), /项正常/);
  // The headings speak of services and drivers; the parts' names (pcscd,
  // systemd, CCID) wait, folded, for support.
  const headings = await page.locator("#env-checks .check-name").allInnerTexts();
  assert.equal(headings.length, checks.length);
  for (const h of headings) assert.doesNotMatch(h, /pcscd|systemd|ccid|pc\/sc/i, `heading "${h}"`);
  assert.equal(await page.locator("#env-checks details.for-support[open]").count(), 0, "details folded");
  assert.match(await text("#tab-env"), /环境检测/);
  assert.match(await text("#env-repair"), /环境修复/);
  await page.locator("#env-repair").click();
  const done = await visible("#env-repaired", 30000);
  const repair = await ukeyd("GET", "/v1/environment");
  assert.equal(repair.status, 200);
  assert.ok((await done.locator("li").count()) > 0, "each repair step is reported");
  assert.ok(!/[{}]/.test(await done.textContent()), "no raw JSON");
});

walk("ukeyd not running: the page says so and what to do", async () => {
  await page.goto(PORTAL_DOWN_URL);         // its CA says port 1, where nothing listens
  await waitStatus("无法连接证书助手服务");
  const help = await visible("#help");
  const words = await help.textContent();
  assert.match(words, /systemctl start ukeyd/);
  assert.match(words, /安装/);
  assert.match(words, /访问本地网络/);
  assert.equal(await page.locator("#status").getAttribute("data-state"), "offline");
  await shot("ukeyd-down");
  await page.goto(PORTAL_URL);
  await waitStatus("电子钥匙 已连接（2 个）");
  assert.equal(await page.locator("#help").isHidden(), true);
});

walk("a ukeyd port in the page's URL changes nothing: the page talks to its configured ukeyd", async () => {
  // Another local user's listener, counting what reaches it: a link to the
  // portal naming its port must not send the page (and the PINs typed into
  // it) there.
  const reached = [];
  const decoy = createServer((req, res) => {
    reached.push(`${req.method} ${req.url}`);
    res.writeHead(404).end();
  });
  await new Promise((ok) => decoy.listen(0, "127.0.0.1", ok));
  try {
    const lure = new URL(PORTAL_URL);
    lure.searchParams.set("ukeyd", String(decoy.address().port));
    await page.goto(lure.href);
    await waitStatus("电子钥匙 已连接（2 个）");
    await visible(`section.token[data-token="${tokenId[0]}"]`);
    assert.deepEqual(reached, [], "nothing reached the port the URL named");
  } finally {
    await new Promise((ok) => decoy.close(ok));
  }
});

walk("a site ukeyd does not allow: the page says so and who can fix it", async () => {
  // The same portal under another origin (localhost instead of 127.0.0.1),
  // which ukeyd's origins list does not name: ukeyd refuses, and the browser
  // hides the refusal from the page.
  const other = new URL(PORTAL_URL);
  other.hostname = "localhost";
  await page.goto(other.href);
  await waitStatus("证书助手服务不允许本网站访问");
  assert.match(await text("#help"), /origins/);
  assert.equal(await page.locator(`section.token`).count(), 0);
  await shot("origin-forbidden");
  await page.goto(PORTAL_URL);
  await waitStatus("电子钥匙 已连接（2 个）");
});

walk("ukeyd refuses this account: the page shows ukeyd's own words", async (t) => {
  const port = process.env.UKEYD_REFUSING_PORT;
  if (!port || !PORTAL_REFUSING_URL) {
    t.skip("this ukeyd has no peer policy");
    return;
  }
  const origin = new URL(PORTAL_REFUSING_URL).origin;
  const refused = await client(`http://127.0.0.1:${port}`)("GET", "/v1/tokens");
  assert.equal(refused.status, 403, `the second ukeyd refuses: ${refused.text}`);
  // A page reads a refusal only when it carries CORS headers for its origin.
  const r = await fetch(`http://127.0.0.1:${port}/v1/tokens`, {
    headers: { Origin: origin, "Sec-Fetch-Site": "same-site" }, signal: AbortSignal.timeout(10000) });
  assert.equal(r.headers.get("access-control-allow-origin"), origin,
    `ukeyd's ${refused.json?.code} answer to an allowed origin has no Access-Control-Allow-Origin, ` +
    "so the page cannot read why it was refused");
  await page.goto(PORTAL_REFUSING_URL);     // its CA says the refusing ukeyd's port
  await eventually("the status line gives ukeyd's title",
    async () => (await text("#status-text")) === refused.json.title);
  const help = await visible("#help");
  assert.ok((await help.textContent()).includes(refused.json.detail), "the help shows ukeyd's detail");
  await shot("peer-refused");
  await page.goto(PORTAL_URL);
  await waitStatus("电子钥匙 已连接（2 个）");
});

walk("客服中心: the CA's hotline, and the environment report exported as a file", async () => {
  await page.goto(PORTAL_URL);
  await waitStatus("电子钥匙 已连接（2 个）");
  await openTab("support");
  assert.equal(await text("#hotline-number"), DEMO_HOTLINE, "the hotline the CA's configuration names");
  const env = (await ukeyd("GET", "/v1/environment")).json;
  const status = (await ukeyd("GET", "/v1/status")).json;
  await eventually("the version shown", async () => (await text("#support-version")).includes(status.version));
  const [dl] = await Promise.all([page.waitForEvent("download"), page.locator("#support-export").click()]);
  const today = new Date();
  const ymd = `${today.getFullYear()}${String(today.getMonth() + 1).padStart(2, "0")}${String(today.getDate()).padStart(2, "0")}`;
  assert.match(dl.suggestedFilename(), new RegExp(`^检测报告-${ymd}-[0-9]{6}\\.txt$`), "a dated file name");
  const report = readFileSync(await dl.path(), "utf8");
  assert.ok(report.startsWith("\ufeff证书助手检测报告"), "UTF-8 with a BOM, titled");
  assert.ok(report.includes(`证书助手版本: ${status.version}`));
  for (const c of env.checks) {
    assert.ok(report.includes(`(${c.id})`) && report.includes(c.title), `check ${c.id} in the report`);
  }
  const tokens = (await ukeyd("GET", "/v1/tokens")).json.tokens;
  for (const tk of tokens) assert.ok(report.includes(tk.serial), `token ${tk.serial} in the report`);
  for (const secret of [PIN, NEW_PIN_CHANGE, NEW_PIN_SMS, NEW_PIN_PAID, NEW_PIN_REVIEW]) {
    assert.ok(!report.includes(secret), "no PIN in the report");
  }
  assert.doesNotMatch(report, /[{}]/, "no raw JSON");
  await visible("#support-result .msg.ok");
});

walk("a CA that needs a newer ukeyd: the update notice says so and what to do", async () => {
  const status = (await ukeyd("GET", "/v1/status")).json;
  await page.goto(PORTAL_UPDATE_URL);
  await waitStatus("电子钥匙 已连接（2 个）");
  const notice = await visible("#update");
  const words = await notice.innerText();
  assert.match(words, /请更新证书助手/);
  assert.ok(words.includes(status.version) && words.includes("99.0.0"), `installed and required versions: ${words}`);
  assert.match(words, /下载并安装/);
  await shot("update-required");
  await page.locator("#update-recheck").click();
  await visible("#update");
  await page.goto(PORTAL_URL);
  await waitStatus("电子钥匙 已连接（2 个）");
  assert.equal(await page.locator("#update").isHidden(), true, "no notice when ukeyd is new enough");
});

walk("every page at 1366 and 800 px, in Chinese and English: nothing wraps a character a line", async () => {
  await page.goto(PORTAL_URL);
  await waitStatus("电子钥匙 已连接（2 个）");
  await tourPages("page");
});

walk("an SKF key beside the PIV ones: certificates, tries, PIN verify and change, unplug and plug", async (t) => {
  if (!VSKF) {
    t.skip("this build has no SKF provider");
    return;
  }
  await openTab("certs");
  await vskf("plug");
  let plugged = true;
  try {
    await waitStatus("电子钥匙 已连接（3 个）", WAIT_MS * 2);
    const tk = (await ukeyd("GET", "/v1/tokens")).json.tokens.find((x) => x.edge === "SKF");
    assert.ok(tk, "ukeyd lists the SKF key");
    const section = page.locator(`section.token[data-token="${tk.id}"]`);
    await section.waitFor();
    for (const n of [0, 1]) await visible(`section.token[data-token="${tokenId[n]}"]`);

    // Its header: the model, never the library's raw names; tries left of
    // the maximum; the default PIN nudge (make-demo-skf sets --default-pin).
    assert.equal(tk.pin.isDefault, true, "the demo key's PIN is the factory's");
    const head = await section.locator("header").textContent();
    assert.ok(head.includes(tk.model), `the model ${tk.model} names the key`);
    assert.match(head, new RegExp(`剩余尝试次数：${tk.pin.triesMax} 次（共 ${tk.pin.triesMax} 次）`));
    assert.match(head, /出厂默认密码/, "the default-PIN nudge");
    assert.ok(head.includes(`设备名称${tk.reader}`) && !head.includes("读卡器"), "a device, not a reader");

    // Its signing and encryption certificates: SM2, 演示专用 intact.
    assert.equal(tk.certificates.length, 2);
    assert.equal(await section.locator("article.cert").count(), 2);
    const kinds = [];
    for (const c of tk.certificates) {
      const card = section.locator(`article.cert[data-cert="${c.id}"]`);
      const words = await card.textContent();
      assert.equal(await card.locator("h3 .owner").textContent(), "演示专用", "the owner heads the card");
      assert.ok(words.includes("演示科技有限公司"), "the organisation, intact");
      assert.ok(words.includes(c.serial), `serial ${c.serial}`);
      assert.match(c.keyAlgorithm, /SM2/);
      assert.ok(words.includes(c.keyAlgorithm), `type ${c.keyAlgorithm}`);
      const title = await card.locator("h3").textContent();
      assert.equal(title.match(/签名证书|加密证书/g)?.length, 1, `its kind said once: ${title}`);
      kinds.push(await card.locator("h3 .badge.kind").textContent());
    }
    assert.deepEqual(kinds.sort(), ["加密证书", "签名证书"].sort(), "signing and encryption told apart");
    await shot("skf-beside-piv");

    // Verify: a wrong PIN costs one try and says so, the right one verifies.
    const max = tk.pin.triesMax;
    await openTab("verify");
    await page.locator("#panel-verify .token-select").selectOption(tk.id);
    assert.match(await text("#panel-verify .pin-state"), /出厂默认密码/);
    await page.locator("#verify-pin").fill(WRONG_PIN_SKF);
    await page.locator("#verify-submit").click();
    const err = await errorShown("#verify-result");
    assert.equal(err.code, "PIN_INCORRECT");
    assert.match(err.words, new RegExp(String(max - 1)), "the message gives the tries left");
    await eventually(`tries left ${max - 1} shown`, async () =>
      new RegExp(`剩余尝试次数：${max - 1} 次`).test(await text("#panel-verify .pin-state")));
    await shot("skf-wrong-pin");
    await page.locator("#verify-pin").fill(SKF_PIN);
    await page.locator("#verify-submit").click();
    await visible("#verify-result .msg.ok");
    assert.match(await text("#verify-result"), /密码正确/);
    await eventually(`tries back to ${max}`, async () =>
      new RegExp(`剩余尝试次数：${max} 次`).test(await text("#panel-verify .pin-state")));

    // Change: the new PIN verifies on the key, and the nudge goes.
    await openTab("change");
    await page.locator("#panel-change .token-select").selectOption(tk.id);
    await page.locator("#change-old").fill(SKF_PIN);
    await page.locator("#change-new").fill(NEW_PIN_SKF);
    await page.locator("#change-again").fill(NEW_PIN_SKF);
    await page.locator("#change-submit").click();
    await visible("#change-result .msg.ok");
    assert.match(await text("#change-result"), /密码已修改/);
    const verified = await ukeyd("POST", `/v1/tokens/${tk.id}/pin/verify`, { pin: NEW_PIN_SKF });
    assert.equal(verified.json?.verified, true, `the new PIN verifies on the key: ${verified.text}`);
    assert.equal((await ukeyd("GET", `/v1/tokens/${tk.id}/pin`)).json.isDefault, false);
    await eventually("the default-PIN nudge goes",
      async () => !/出厂默认密码/.test(await text("#panel-change .pin-state")));
    await shot("skf-pin-changed");

    // Unplug and plug: it goes and comes back, live.
    await openTab("certs");
    await page.evaluate(() => { window.notReloaded = true; });
    await vskf("unplug");
    await waitStatus("电子钥匙 已连接（2 个）", WAIT_MS * 2);
    assert.equal(await section.count(), 0, "the SKF key's section is gone");
    await visible(`section.token[data-token="${tokenId[0]}"]`);
    await vskf("plug");
    await waitStatus("电子钥匙 已连接（3 个）", WAIT_MS * 2);
    await section.waitFor();
    assert.equal(await section.locator("article.cert").count(), 2, "its certificates are back");
    assert.doesNotMatch(await section.locator("header").textContent(), /出厂默认密码/, "the changed PIN is still known");
    assert.equal(await page.evaluate(() => window.notReloaded), true, "followed without a reload");
    // The certificate walks after this one count the PIV tokens alone.
    await vskf("unplug");
    plugged = false;
    await waitStatus("电子钥匙 已连接（2 个）", WAIT_MS * 2);
  } finally {
    if (plugged) await vskf("unplug").catch((e) => console.log(`# could not unplug the SKF key: ${e.message}`));
  }
});
