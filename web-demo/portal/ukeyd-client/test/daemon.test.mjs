// SPDX-License-Identifier: MIT
//
// daemon.test.mjs — the package against a real ukeyd (node --test): the
// version check a page makes before anything else, the error constants as
// ukeyd's answers use them. UKEYD_TEST_BASE names the ukeyd
// (http://127.0.0.1:PORT) and UKEYD_TEST_VERSION the version it was built as;
// tests/test-ukeyd-client-package.sh starts one on the PC/SC rig and sets
// both. Without them the tests are skipped, never passed.

import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";

import {
  ERROR_CODES,
  ErrorCode,
  MIN_DAEMON_VERSION,
  UkeydClient,
  UkeydError,
  UpdateRequiredError,
  compareVersions,
} from "ukeyd-client";

const base = process.env.UKEYD_TEST_BASE;
const built = process.env.UKEYD_TEST_VERSION;
const needsDaemon = base && built ? {} : { skip: "UKEYD_TEST_BASE and UKEYD_TEST_VERSION not set" };

// The next minor version after `version`: what a page written for a newer
// ukeyd asks for.
function nextMinor(version) {
  const [major, minor] = version.split(".").map(Number);
  return `${major}.${minor + 1}.0`;
}

test("compareVersions orders MAJOR.MINOR.PATCH numerically", () => {
  assert.equal(compareVersions("0.1.0", "0.1.0"), 0);
  assert.ok(compareVersions("0.2.0", "0.10.0") < 0, "0.2.0 < 0.10.0");
  assert.ok(compareVersions("1.0.0", "0.99.99") > 0);
  assert.ok(compareVersions("0.1.1", "0.1") > 0, "a missing part is 0");
  assert.equal(compareVersions("0.2.0~rc1", "0.2.0"), 0, "a suffix is ignored");
  assert.ok(compareVersions("unknown", "0.0.0") < 0, "no number sorts first");
});

test("ErrorCode maps each of ERROR_CODES to itself, frozen", () => {
  assert.ok(ERROR_CODES.length > 0);
  for (const code of ERROR_CODES) assert.equal(ErrorCode[code], code);
  assert.deepEqual(Object.keys(ErrorCode).sort(), [...ERROR_CODES].sort());
  assert.ok(Object.isFrozen(ErrorCode) && Object.isFrozen(ERROR_CODES));
});

test("requireVersion() passes the ukeyd this package belongs to", needsDaemon, async () => {
  const ukeyd = new UkeydClient({ base });
  const status = await ukeyd.requireVersion();
  assert.equal(status.version, built, "status.version is the version ukeyd was built as");
  assert.equal(status.api, "v1");
  assert.ok(compareVersions(status.version, MIN_DAEMON_VERSION) >= 0);
  assert.equal((await ukeyd.requireVersion(built)).version, built, "its own version is enough");
});

test("requireVersion(newer) says update required, with both versions", needsDaemon, async () => {
  const ukeyd = new UkeydClient({ base, language: "en" });
  const wanted = nextMinor(built);
  const e = await ukeyd.requireVersion(wanted).then(() => null, (err) => err);
  assert.ok(e instanceof UpdateRequiredError, `rejected with UpdateRequiredError (${e})`);
  assert.ok(e instanceof UkeydError, "…which is a UkeydError");
  assert.equal(e.kind, "update-required");
  assert.equal(e.installed, built);
  assert.equal(e.required, wanted);
  assert.match(e.message, new RegExp(`${built}.*${wanted}`));
});

test("requireVersion() with no ukeyd is a network error, not an update", needsDaemon, async () => {
  // A port that was free a moment ago: nothing listens there.
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  const e = await new UkeydClient({ base: `http://127.0.0.1:${port}` })
    .requireVersion().then(() => null, (err) => err);
  assert.ok(e instanceof UkeydError && !(e instanceof UpdateRequiredError), String(e));
  assert.equal(e.kind, "network");
});

test("ukeyd's refusals carry codes of ErrorCode", needsDaemon, async () => {
  const ukeyd = new UkeydClient({ base, language: "en" });
  const e = await ukeyd.token("piv-00000000000000000000000000000000").then(() => null, (err) => err);
  assert.ok(e instanceof UkeydError && e.kind === "problem", String(e));
  assert.equal(e.code, ErrorCode.TOKEN_NOT_FOUND);
  assert.equal(e.status, 404);
  const bad = await ukeyd.request("POST", "/v1/tokens/x/pin/verify", { pin: "1", extra: 1 })
    .then(() => null, (err) => err);
  assert.ok(bad instanceof UkeydError && ERROR_CODES.includes(bad.code), String(bad?.code));
});
