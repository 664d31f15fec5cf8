// SPDX-License-Identifier: MIT
//
// tests/ukeyd-client.test.mjs — web-demo/portal/ukeyd-client.js against a
// real ukeyd on the PC/SC rig, run by tests/test-ukeyd-client.sh under
// Node.js (which has fetch, but no EventSource and no CORS: both are given
// here, the latter as the one browser rule that diagnose() depends on).
//
// Arguments: CLIENT_MODULE BASE_URL RIG RIG_DIR READER_0 READER_1 DEAD_PORT
// TAP lines on stdout, numbered from $TAP_START + 1; "# count N" at the end.

import { execFileSync } from "node:child_process";
import http from "node:http";
import net from "node:net";

const [clientPath, base, rig, rigDir, reader0, reader1, deadPort] = process.argv.slice(2);
const { UkeydClient, UkeydError, ErrorCode, confirmingLastTry, loopbackBase, EVENT_TYPES } =
  await import(clientPath);

const PIN = "123456";
const WRONG_PIN = "987650";
let n = Number(process.env.TAP_START || 0);
let failed = 0;
function ok(cond, name, extra) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? "" : "not "}ok ${n} - ${name}`);
  if (!cond && extra !== undefined) console.log(`# ${JSON.stringify(extra)}`);
}
async function rejection(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return e;
  }
}
const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: timeout`)), ms))]);

// --- the base URL -------------------------------------------------------------

for (const bad of ["http://localhost:17990", "https://127.0.0.1:17990", "http://127.0.0.1",
                   "http://ukey.example.cn:17990", "http://127.0.0.1:0", "http://127.0.0.1:70000",
                   "http://127.0.0.1:17990/v1", "http://10.0.0.1:17990"]) {
  let threw = false;
  try { loopbackBase(bad); } catch (e) { threw = e instanceof TypeError; }
  ok(threw, `base ${bad} refused`);
}
ok(loopbackBase("http://[::1]:17990/") === "http://[::1]:17990", "[::1] accepted, trailing / dropped");
ok(new UkeydClient().base === "http://127.0.0.1:17990", "default base is http://127.0.0.1:17990");

// --- reading ---------------------------------------------------------------------

const zh = new UkeydClient({ base });
const en = new UkeydClient({ base, language: () => "en" });

const status = await zh.status();
ok(status.pcscAvailable === true && status.tokenCount === 2, "status(): pcscd up, 2 tokens", status);
const { tokens } = await zh.tokens();
const tok0 = tokens.find((t) => t.reader === reader0);
const tok1 = tokens.find((t) => t.reader === reader1);
ok(tok0 && tok1, "tokens(): one per reader", tokens.map((t) => t.reader));
ok(tok0?.certificates?.some((c) => c.subject?.commonName === "演示专用"),
   "the SM2 token's owner comes through in Chinese");
ok((await zh.readers()).readers.length === 2, "readers()");
ok((await zh.token(tok0.id)).id === tok0.id, "token(id)");
ok((await zh.certificates(tok1.id)).certificates.length >= 2, "certificates(id)");
ok((await zh.certificate(tok0.id, "9a")).slot === "9a", "certificate(id, slot)");
const pem = await zh.certificateFile(tok0.id, "9a", "pem");
ok(pem instanceof Blob && (await pem.text()).includes("-----BEGIN CERTIFICATE-----"),
   "certificateFile(…, 'pem') is a PEM Blob");
const der = await zh.certificateFile(tok0.id, "9a", "der");
ok(der instanceof Blob && new Uint8Array(await der.arrayBuffer())[0] === 0x30,
   "certificateFile(…, 'der') is DER");
let threw = false;
try { zh.certificateFile(tok0.id, "9a", "txt"); } catch (e) { threw = e instanceof TypeError; }
ok(threw, "certificateFile with another format throws");
ok((await zh.pinState(tok0.id)).triesLeft === 3, "pinState(id): 3 tries");

// --- errors ---------------------------------------------------------------------------

let e = await rejection(zh.token("piv-00000000000000000000000000000000"));
ok(e instanceof UkeydError && e.kind === "problem" && e.status === 404 && e.code === "TOKEN_NOT_FOUND",
   "unknown token: UkeydError problem 404 TOKEN_NOT_FOUND", e);
ok(typeof e?.requestId === "string" && e.requestId.length > 0, "…with the request id");

e = await rejection(en.verifyPin(tok0.id, WRONG_PIN));
ok(e?.code === "PIN_INCORRECT" && e.triesLeft === 2, "wrong PIN: PIN_INCORRECT, 2 left", e?.problem);
ok(/2 tries left/.test(e?.detail ?? ""), "language 'en': English detail", e?.detail);
ok(e?.message === e?.detail, "the error's message is ukeyd's detail");
e = await rejection(zh.verifyPin(tok0.id, WRONG_PIN));
ok(e?.code === "PIN_INCORRECT" && e.triesLeft === 1, "wrong again: 1 left");
ok(/[\u4e00-\u9fff]/.test(e?.title ?? ""), "no language given: Chinese title", e?.title);

// The last try: refused without the flag, the user is asked once, a "no"
// spends nothing, a "yes" resends with confirmLastTry.
let asked = 0;
e = await rejection(confirmingLastTry((last) => zh.verifyPin(tok0.id, WRONG_PIN, { confirmLastTry: last }),
                                      async () => { asked++; return false; }));
ok(asked === 1 && e?.code === "PIN_LAST_TRY", "last try: asked once; a no ends in PIN_LAST_TRY", e?.code);
ok((await zh.pinState(tok0.id)).triesLeft === 1, "…and spent nothing");
asked = 0;
const verified = await confirmingLastTry((last) => zh.verifyPin(tok0.id, PIN, { confirmLastTry: last }),
                                         () => { asked++; return true; });
ok(asked === 1 && verified.verified === true && verified.triesLeft === 3,
   "a yes resends with confirmLastTry: verified, 3 tries again", verified);
asked = 0;
await confirmingLastTry((last) => zh.verifyPin(tok0.id, PIN, { confirmLastTry: last }),
                        () => { asked++; return true; });
ok(asked === 0, "with tries to spare nobody is asked");
e = await rejection(zh.verifyPin(tok0.id, WRONG_PIN, true));
ok(e?.code === "PIN_INCORRECT", "confirmLastTry as a plain boolean is accepted");
await zh.verifyPin(tok0.id, PIN);

e = await rejection(zh.changePin(tok0.id, PIN, "1"));
ok(e?.code === "PIN_POLICY" && e.problem.field === "newPin", "changePin: PIN_POLICY naming newPin", e?.problem);
const NEW_PIN = "24681357";
const changed = await zh.changePin(tok0.id, PIN, NEW_PIN);
ok(changed.changed === true, "changePin");
// The factory default is too simple to go back to: the token keeps NEW_PIN.
e = await rejection(zh.changePin(tok0.id, NEW_PIN, NEW_PIN));
ok(e?.code === ErrorCode.PIN_SAME_AS_OLD && e.problem.field === "newPin",
   "changePin to the same PIN: ErrorCode.PIN_SAME_AS_OLD", e?.problem);
e = await rejection(en.changePin(tok0.id, NEW_PIN, PIN));
ok(e?.code === ErrorCode.PIN_TOO_SIMPLE && e.problem.rule === "sequence" && /run of digits/.test(e.detail ?? ""),
   "changePin back to 123456: ErrorCode.PIN_TOO_SIMPLE, rule sequence, said in words", e?.problem);

// --- when nothing answers -------------------------------------------------------

const dead = new UkeydClient({ base: `http://127.0.0.1:${deadPort}` });
e = await rejection(dead.status());
ok(e instanceof UkeydError && e.kind === "network" && e.code === null, "nothing listening: kind network", e);
ok((await dead.diagnose()) === "unreachable", "diagnose(): unreachable");
ok((await zh.diagnose()) === "ok", "diagnose() on a working ukeyd: ok");

// A browser's CORS rule, for the one case that needs it: a page whose origin
// ukeyd does not allow gets no readable answer (a TypeError), yet a no-cors
// request to the same URL succeeds (opaque).
function browserFetch(origin) {
  return async (url, init = {}) => {
    const headers = { ...(init.headers || {}), Origin: origin };
    const resp = await fetch(url, { ...init, headers, mode: "cors" });
    if (init.mode === "no-cors") return new Response(null, { status: 200 });
    if (resp.headers.get("Access-Control-Allow-Origin") !== origin) throw new TypeError("Failed to fetch");
    return resp;
  };
}
const stranger = new UkeydClient({ base, fetch: browserFetch("https://evil.example") });
e = await rejection(stranger.status());
ok(e?.kind === "network", "a page of a foreign origin sees a network error");
ok((await stranger.diagnose()) === "origin-forbidden", "diagnose(): origin-forbidden");
const allowed = new UkeydClient({ base, fetch: browserFetch("https://portal.example.cn") });
ok((await allowed.status()).tokenCount === 2, "the allowed origin is served through CORS");

// A server that never answers, and one that is not ukeyd.
const silent = net.createServer(() => {});
await new Promise((r) => silent.listen(0, "127.0.0.1", r));
e = await rejection(new UkeydClient({ base: `http://127.0.0.1:${silent.address().port}`, timeoutMs: 300 }).status());
ok(e?.kind === "timeout", "no answer in timeoutMs: kind timeout", e?.kind);
silent.close();
const other = http.createServer((req, res) => { res.writeHead(404, { "Content-Type": "text/plain" }); res.end("no"); });
await new Promise((r) => other.listen(0, "127.0.0.1", r));
const otherClient = new UkeydClient({ base: `http://127.0.0.1:${other.address().port}` });
e = await rejection(otherClient.status());
ok(e?.kind === "http" && e.status === 404, "another program's 404: kind http", e?.kind);
ok((await otherClient.diagnose()) === "not-ukeyd", "diagnose(): not-ukeyd");
other.close();

// --- certificate actions ----------------------------------------------------------

// What the client sends: the PIN only when given, confirmLastTry only when true
// (ukeyd refuses unknown members and treats a missing one as false).
const sent = [];
const recorder = new UkeydClient({ base, fetch: async (url, init) => {
  sent.push({ url, method: init.method, body: init.body === undefined ? undefined : JSON.parse(init.body) });
  return new Response(JSON.stringify({ number: "C0000000001", state: "done" }),
                      { status: 200, headers: { "Content-Type": "application/json" } });
} });
await recorder.certActions(tok0.id);
await recorder.carryOutCertAction(tok0.id, "C0000000001");
await recorder.carryOutCertAction(tok0.id, "C0000000001", { pin: PIN });
await recorder.carryOutCertAction(tok0.id, "C0000000001", { pin: PIN, confirmLastTry: true });
await recorder.carryOutCertAction(tok0.id, "C0000000001", { pin: PIN, confirmLastTry: false });
ok(sent[0]?.method === "GET" && sent[0].url === `${base}/v1/tokens/${tok0.id}/cert-actions`,
   "certActions(id): GET /v1/tokens/{id}/cert-actions", sent[0]);
ok(sent[1]?.method === "POST" && sent[1].url === `${base}/v1/tokens/${tok0.id}/cert-actions/C0000000001` &&
   JSON.stringify(sent[1].body) === "{}", "carryOutCertAction without a PIN: POST {}", sent[1]);
ok(JSON.stringify(sent[2]?.body) === JSON.stringify({ pin: PIN }), "…with a PIN: {pin}", sent[2]?.body);
ok(JSON.stringify(sent[3]?.body) === JSON.stringify({ pin: PIN, confirmLastTry: true }),
   "…confirmLastTry only when true", sent[3]?.body);
ok(JSON.stringify(sent[4]?.body) === JSON.stringify({ pin: PIN }), "…and never as false", sent[4]?.body);

// The real ukeyd: this one has no CA configured, so it lists nothing or says
// why in a problem of its own; it never mistakes the client's body.
const probe = await rejection(zh.certActions(tok0.id));
if (probe?.status === 404 && probe.code === "NOT_FOUND") {
  n++;
  console.log(`ok ${n} # SKIP this ukeyd has no /v1/tokens/{id}/cert-actions`);
} else {
  let listed = null;
  if (!probe) listed = await zh.certActions(tok0.id);
  ok((listed && Array.isArray(listed.actions)) ||
     (probe instanceof UkeydError && probe.kind === "problem" && /^(CERT|UNLOCK)_/.test(probe.code ?? "")),
     "certActions(id) against ukeyd: a list, or a CERT_… problem", probe?.problem ?? listed);
  e = await rejection(en.carryOutCertAction(tok0.id, "C0000000000", { pin: PIN }));
  ok(e instanceof UkeydError && e.kind === "problem" && e.code !== "BAD_REQUEST" && typeof e.title === "string",
     "carryOutCertAction of an unknown request: ukeyd's problem, the body accepted", e?.problem);
  ok(!/[\u4e00-\u9fff]/.test(e?.title ?? "x"), "…its title in English when asked", e?.title);
}
ok(EVENT_TYPES.includes("certificates-changed"), "EVENT_TYPES has certificates-changed");

// --- events -----------------------------------------------------------------------

// Just enough EventSource for ukeyd's stream: event/data/id fields, listeners,
// readyState, close().
class MiniEventSource {
  constructor(url) {
    this.readyState = 0;
    this.listeners = {};
    this.abort = new AbortController();
    this.run(url);
  }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  emit(type, ev) { for (const fn of this.listeners[type] || []) fn(ev); }
  close() { this.readyState = 2; this.abort.abort(); }
  async run(url) {
    try {
      const resp = await fetch(url, { signal: this.abort.signal, headers: { Accept: "text/event-stream" } });
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      this.readyState = 1;
      this.emit("open", {});
      const decoder = new TextDecoder();
      let buf = "";
      let msg = { type: "message", data: [], id: "" };
      for await (const chunk of resp.body) {
        buf += decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, "");
          buf = buf.slice(nl + 1);
          if (line === "") {
            if (msg.data.length) this.emit(msg.type, { data: msg.data.join("\n"), lastEventId: msg.id });
            msg = { type: "message", data: [], id: msg.id };
          } else if (line.startsWith("event:")) msg.type = line.slice(6).trim();
          else if (line.startsWith("data:")) msg.data.push(line.slice(5).replace(/^ /, ""));
          else if (line.startsWith("id:")) msg.id = line.slice(3).trim();
        }
      }
    } catch {
      /* closed */
    }
    if (this.readyState !== 2) { this.readyState = 2; this.emit("error", {}); }
  }
}

ok(EVENT_TYPES.includes("token-inserted") && EVENT_TYPES.includes("resync"), "EVENT_TYPES lists the stream's events");
const seen = [];
let opened = false;
const live = new UkeydClient({ base, EventSource: MiniEventSource });
const stream = live.events({ onOpen: () => { opened = true; }, onEvent: (type, data, id) => seen.push({ type, data, id }) });
await withTimeout((async () => { while (!opened) await new Promise((r) => setTimeout(r, 20)); })(), 5000, "open");
ok(opened, "events(): onOpen");
execFileSync(rig, ["remove", rigDir, "1"]);
execFileSync(rig, ["insert", rigDir, "1"]);
await withTimeout((async () => {
  while (!seen.some((s) => s.type === "token-inserted")) await new Promise((r) => setTimeout(r, 20));
})(), 5000, "events").catch(() => {});
const removed = seen.find((s) => s.type === "token-removed");
const inserted = seen.find((s) => s.type === "token-inserted");
ok(removed?.data?.tokenId === tok1.id && removed.data.reader === reader1,
   "token-removed with the token id and reader, JSON parsed", seen);
ok(inserted?.data?.tokenId === tok1.id && seen.indexOf(inserted) > seen.indexOf(removed),
   "token-inserted after it");
ok(typeof removed?.id === "string" && removed.id.length > 0, "events carry their id (for Last-Event-ID)");
stream.close();
ok(stream.source.readyState === 2, "close() closes the stream");

console.log(`# count ${n}`);
process.exit(failed ? 1 : 0);
