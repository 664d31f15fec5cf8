// SPDX-License-Identifier: MIT
//
// 找回密码 on the demo SKF key (演示专用's GM/T 0016 key, tests/vskf, through
// ukeyd's SKF helper), walked in the portal as a user walks it, against the
// stack tests/test-portal.sh starts: the user forgets the PIN and blocks the
// key with wrong ones, opens 找回密码, proves who they are with the SMS code,
// sets a new PIN; the key's tries are full again and the new PIN verifies.
// The CA answers the key's challenge (remote-challenge) or hands out its
// admin PIN, as it chooses; either way ukeyd holds the key from challenge to
// answer and the user's new PIN never leaves the machine.
//
// The key starts pulled out (the other walks count the PIV tokens alone)
// and is pulled out again at the end. Each step saves a screenshot into
// $SHOT_DIR (skf-unlock-NN-*.png).
//
// Run through tests/test-portal.sh, which puts the key on the CA's record
// (SKF_PHONE) and exports VSKF, VSKF_DIR, SKF_DEVICE.

import { after, before } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import {
  CA_URL, PORTAL_URL, UKEYD_URL, WAIT_MS, client, closeBrowser, errorShown, eventually, launchBrowser,
  need, openTab, page, screenshots, text, visible, waitStatus, walker,
} from "./harness.mjs";

// Set by tests/test-portal.sh when the build has the SKF provider.
const VSKF = process.env.VSKF;
const SKF_PHONE = process.env.SKF_PHONE;
const WRONG_PIN = "Wrong555";
const NEW_PIN = "Sj470358";
const PIV_TOKENS = 2;                 // what the portal shows with the key pulled out
const TEST_TIMEOUT_MS = 150000;

const shot = screenshots("skf-unlock-");
const walk = walker(shot, { timeoutMs: TEST_TIMEOUT_MS });
const ukeyd = client(UKEYD_URL);
const ca = client(CA_URL);

// vskf(COMMAND): the virtual SKF library's plug or unplug of the demo key.
async function vskf(cmd) {
  await promisify(execFile)(VSKF, [cmd, need("VSKF_DIR"), need("SKF_DEVICE")], { timeout: 20000 });
}

async function pinOf(id) {
  const r = await ukeyd("GET", `/v1/tokens/${id}/pin`);
  assert.equal(r.status, 200, `GET …/pin: ${r.text}`);
  return r.json;
}

async function smsCount() {
  const r = await ca("GET", `/demo/api/outbox?phone=${SKF_PHONE}`);
  assert.equal(r.status, 200, `outbox: ${r.text}`);
  return r.json.messages;
}

const tries = (n) => new RegExp(`剩余尝试次数：${n} 次`);

before(async () => {
  await launchBrowser({ profilePrefix: "chromium-skf-" });
});

after(closeBrowser);

walk("找回密码 on the SKF key: blocked, SMS code, new PIN, tries full again", async (t) => {
  if (!VSKF || !SKF_PHONE) {
    t.skip("this build has no SKF provider");
    return;
  }
  await vskf("plug");
  let plugged = true;
  try {
    // 1. The key beside the PIV tokens.
    await page.goto(PORTAL_URL);
    await waitStatus(`电子钥匙 已连接（${PIV_TOKENS + 1} 个）`, WAIT_MS * 2);
    const tk = (await ukeyd("GET", "/v1/tokens")).json.tokens.find((x) => x.edge === "SKF");
    assert.ok(tk, "ukeyd lists the SKF key");
    const max = tk.pin.triesMax;
    assert.ok(max > 1, `the key says its maximum (${max})`);
    await page.locator(`section.token[data-token="${tk.id}"]`).waitFor();
    await shot("key-plugged");

    // 2. The PIN forgotten: wrong ones down to the last try, then that one
    // too, after the page asks.
    await openTab("verify");
    await page.locator("#panel-verify .token-select").selectOption(tk.id);
    for (let left = (await pinOf(tk.id)).triesLeft; left > 1; left -= 1) {
      await page.locator("#verify-pin").fill(WRONG_PIN);
      await page.locator("#verify-submit").click();
      await eventually(`tries left ${left - 1} shown`,
        async () => tries(left - 1).test(await text("#panel-verify .pin-state")));
    }
    await shot("last-try-left");
    await page.locator("#verify-pin").fill(WRONG_PIN);
    await page.locator("#verify-submit").click();
    await visible("#last-try");
    await page.locator("#last-try-go").click();
    await errorShown("#verify-result");
    await eventually("the page shows the PIN blocked",
      async () => /密码已锁定/.test(await text("#panel-verify .pin-state")));
    assert.equal((await pinOf(tk.id)).blocked, true, "the key's PIN is blocked");
    await shot("blocked");

    // 3. 找回密码: the key picked, the flow opens at the identity step (a
    // free unlock: no payment).
    await openTab("unlock");
    await page.locator("#panel-unlock .token-select").selectOption(tk.id);
    await (await visible("#unlock-start")).click();
    const opened = await eventually("the unlock flow opens", async () => {
      if (await page.locator("#unlock-body[data-phase=identity]").count()) return "open";
      if (await page.locator("#unlock-result .msg").count()) return "refused";
      return null;
    });
    assert.equal(opened, "open", `the unlock opens: ${await text("#unlock-result")}`);
    assert.equal(await page.locator("#unlock-steps li[data-step=pay]").count(), 0, "no payment step");
    await shot("identity-step");

    // 4. The SMS code to the phone on the CA's record.
    await (await visible("#unlock-by-sms")).click();
    const sent = (await smsCount()).length;
    await page.locator("#unlock-phone").fill(SKF_PHONE);
    await page.locator("#unlock-send-sms").click();
    await visible("#unlock-result .msg.ok");
    assert.match(await text("#unlock-result"), /\*\*\*\*/, "the SMS note names the masked phone");
    await shot("sms-sent");
    const msgs = await eventually("the SMS reaches the outbox",
      async () => ((await smsCount()).length > sent ? smsCount() : null));
    const code = msgs[0].code;
    assert.match(code, /^[0-9]{6}$/);
    await page.locator("#unlock-sms-code").fill(code);
    await page.locator("#unlock-verify-sms").click();

    // 5. A new PIN, set on the key.
    await visible("#unlock-pin-form");
    assert.match(await text("#unlock-steps li.current"), /设置新密码/);
    await page.locator("#unlock-new-pin").fill(NEW_PIN);
    await page.locator("#unlock-new-pin-again").fill(NEW_PIN);
    await shot("new-pin");
    await page.locator("#unlock-complete").click();
    await visible("#unlock-done", 30000);
    assert.match(await text("#unlock-done"), /解锁成功/);
    await shot("unlocked");

    // 6. The key's tries are full again, and the new PIN verifies: as ukeyd
    // reads the key, and in the portal.
    const pin = await pinOf(tk.id);
    assert.equal(pin.blocked, false, "no longer blocked");
    assert.equal(pin.triesLeft, max, `tries full again (${pin.triesLeft} of ${max})`);
    await openTab("verify");
    await page.locator("#panel-verify .token-select").selectOption(tk.id);
    await eventually(`the page shows ${max} tries`,
      async () => tries(max).test(await text("#panel-verify .pin-state")));
    await page.locator("#verify-pin").fill(NEW_PIN);
    await page.locator("#verify-submit").click();
    await visible("#verify-result .msg.ok");
    assert.match(await text("#verify-result"), /密码正确/);
    assert.equal((await pinOf(tk.id)).triesLeft, max, "verifying costs nothing");
    await shot("new-pin-verifies");

    await vskf("unplug");
    plugged = false;
    await waitStatus(`电子钥匙 已连接（${PIV_TOKENS} 个）`, WAIT_MS * 2);
  } finally {
    if (plugged) await vskf("unplug").catch((e) => console.log(`# could not unplug the SKF key: ${e.message}`));
  }
});
