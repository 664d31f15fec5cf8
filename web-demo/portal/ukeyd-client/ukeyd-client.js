// SPDX-License-Identifier: MIT
//
// ukeyd-client.js — a CA portal's page talking to ukeyd, the USB token helper
// on the user's machine, over its REST API (docs/api.md). Plain modern
// JavaScript, an ES module with no dependencies: the npm package
// `ukeyd-client` (this folder; types in ukeyd-client.d.ts), or copy it next
// to your page; docs/portal-guide.md is its guide. The demo portal
// (web-demo/portal/) uses this very file.
//
//   import { UkeydClient, UkeydError, confirmingLastTry } from "ukeyd-client";
//   const ukeyd = new UkeydClient({ language: "zh-CN" });
//   await ukeyd.requireVersion();      // UpdateRequiredError when ukeyd is too old
//   const { tokens } = await ukeyd.tokens();
//
// What it takes care of, and why:
// - The base URL is the loopback literal (http://127.0.0.1:17990 or
//   http://[::1]:PORT), never a host name: browsers exempt the literal from
//   mixed-content blocking on an https:// page, not a name that merely
//   resolves to it. A base of any other shape is refused at construction.
// - Every refusal becomes a UkeydError. When ukeyd answered, it carries
//   ukeyd's problem (code, title and detail already in the language asked for,
//   triesLeft, requestId); when nothing could be read (ukeyd not running, the
//   browser's local-network permission denied, or this page's origin not in
//   ukeyd's allow-list — the browser hides that answer), kind is "network".
//   diagnose() tells those cases apart as far as a page can.
// - The PIN's last try is never spent without the user's explicit yes:
//   confirmingLastTry() asks, then resends with confirmLastTry.
// - The event stream (Server-Sent Events) is EventSource with JSON already
//   parsed; EventSource reconnects by itself and ukeyd replays what was missed
//   or sends "resync".
// - No cookies or credentials are sent (ukeyd never uses them), and nothing
//   is cached: every answer reflects the token as it is now.

export const UKEYD_BASE = "http://127.0.0.1:17990";

// The oldest ukeyd this client works with: every call below exists there.
// The package's version follows ukeyd's (same major and minor).
export const MIN_DAEMON_VERSION = "0.1.0";

// The events ukeyd sends on GET /v1/events (docs/api.md, "Events").
export const EVENT_TYPES = Object.freeze([
  "reader-added",
  "reader-removed",
  "token-inserted",
  "token-removed",
  "pin-changed",
  "certificates-changed",
  "pcsc-lost",
  "pcsc-back",
  "resync",
]);

// ukeyd's problem codes (docs/api.md, "Errors"): switch on UkeydError.code
// with these rather than with string literals.
export const ERROR_CODES = Object.freeze([
  "BAD_REQUEST",
  "HOST_FORBIDDEN",
  "MISDIRECTED_REQUEST",
  "ORIGIN_FORBIDDEN",
  "PEER_NOT_ALLOWED",
  "NOT_FOUND",
  "METHOD_NOT_ALLOWED",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  "TOO_MANY_STREAMS",
  "PIN_INCORRECT",
  "PIN_BLOCKED",
  "PIN_LAST_TRY",
  "PIN_POLICY",
  "PIN_SAME_AS_OLD",
  "PIN_TOO_SIMPLE",
  "PUK_INCORRECT",
  "PUK_BLOCKED",
  "PUK_LAST_TRY",
  "TOKEN_NOT_FOUND",
  "TOKEN_REMOVED",
  "TOKEN_BUSY",
  "CERTIFICATE_NOT_FOUND",
  "CARD_UNSUPPORTED",
  "CARD_ERROR",
  "PCSC_UNAVAILABLE",
  "TIMEOUT",
  "UNLOCK_NOT_CONFIGURED",
  "UNLOCK_SERVICE_UNAVAILABLE",
  "UNLOCK_SESSION_NOT_FOUND",
  "UNLOCK_SESSION_EXPIRED",
  "UNLOCK_STATE_CONFLICT",
  "UNLOCK_TOKEN_UNKNOWN",
  "UNLOCK_RECORD_MISMATCH",
  "PAYMENT_REQUIRED",
  "PHONE_MISMATCH",
  "CODE_INCORRECT",
  "CODE_NOT_ISSUED",
  "CODE_EXPIRED",
  "TOO_MANY_ATTEMPTS",
  "RATE_LIMITED",
  "CERT_SERVICE_UNAVAILABLE",
  "CERT_ACTION_NOT_FOUND",
  "CERT_ACTION_NOT_READY",
  "CERT_INVALID",
  "MANAGEMENT_AUTH_FAILED",
  "TOKEN_WRITE_FAILED",
  "TOKEN_FULL",
  "OPERATION_NOT_SUPPORTED",
  "CERT_ROOTS_NOT_CONFIGURED",
  "INTERNAL",
]);
// ErrorCode.PIN_LAST_TRY === "PIN_LAST_TRY", and so on.
export const ErrorCode = Object.freeze(Object.fromEntries(ERROR_CODES.map((c) => [c, c])));

const DEFAULT_TIMEOUT_MS = 30000;
// Writing a certificate may generate a key pair on the token and wait for the
// CA to issue: far longer than a read.
const CERT_WRITE_TIMEOUT_MS = 180000;
const LOOPBACK_BASE = /^http:\/\/(127\.0\.0\.1|\[::1\]):([0-9]{1,5})$/;
const MAX_PORT = 65535;

export class UkeydError extends Error {
  // kind: "problem" — ukeyd refused, `problem` is its RFC 9457 body;
  //       "network" — no readable answer (see diagnose());
  //       "timeout" — no answer within timeoutMs;
  //       "http"    — an answer that is not ukeyd's (something else on the port);
  //       "update-required" — ukeyd is too old (UpdateRequiredError).
  constructor(kind, { status = 0, problem = null, cause = undefined } = {}) {
    super(problem?.detail || problem?.title || `ukeyd: ${kind}${status ? ` (HTTP ${status})` : ""}`,
          cause === undefined ? undefined : { cause });
    this.name = "UkeydError";
    this.kind = kind;
    this.status = status;
    this.problem = problem;
    this.code = problem?.code ?? null;             // e.g. "PIN_INCORRECT": switch on this
    this.title = problem?.title ?? null;           // for people, localized by ukeyd
    this.detail = problem?.detail ?? null;
    this.triesLeft = problem?.triesLeft ?? null;   // PIN and PUK problems
    this.requestId = problem?.requestId ?? null;   // quote it to support: it is in ukeyd's log
  }
}

// The installed ukeyd is older than the page needs (requireVersion()): the
// page tells the user to update it (the CA's download page, or the
// distribution's package) and stops. `installed` is ukeyd's version as it
// reported it, `required` the minimum asked for.
export class UpdateRequiredError extends UkeydError {
  constructor(installed, required) {
    super("update-required");
    this.name = "UpdateRequiredError";
    this.message = `ukeyd ${installed} is installed; this page needs ${required} or later`;
    this.installed = installed;
    this.required = required;
  }
}

// Compares two versions "MAJOR.MINOR.PATCH" (missing parts count as 0,
// anything after the numbers, as in "0.2.0~rc1" or "0.2.0-1", is ignored):
// negative, 0 or positive, like a sort comparator. A version that does not
// start with a number sorts before every other.
export function compareVersions(a, b) {
  const parts = (v) => {
    const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(String(v ?? ""));
    return m ? [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)] : [-1, 0, 0];
  };
  const [pa, pb] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

// Checks that `base` is a loopback literal with a port and returns it
// without a trailing slash.
export function loopbackBase(base) {
  const trimmed = String(base).replace(/\/+$/, "");
  const m = LOOPBACK_BASE.exec(trimmed);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > MAX_PORT) {
    throw new TypeError(
      `ukeyd base must be http://127.0.0.1:PORT or http://[::1]:PORT, not ${base}`);
  }
  return trimmed;
}

export class UkeydClient {
  // base: where ukeyd listens (default http://127.0.0.1:17990).
  // language: "zh-CN", "en", or a function returning one; sent as
  //   Accept-Language so that ukeyd's title/detail match the page. Without
  //   it the browser's own Accept-Language applies.
  // timeoutMs: per request. A PIN request may wait for ukeyd's pacing (1 s).
  // fetch, EventSource: for running outside a browser (tests, Node.js).
  constructor({ base = UKEYD_BASE, language = null, timeoutMs = DEFAULT_TIMEOUT_MS,
                fetch: fetchFn = globalThis.fetch?.bind(globalThis),
                EventSource: EventSourceImpl = globalThis.EventSource } = {}) {
    this.base = loopbackBase(base);
    this.language = language;
    this.timeoutMs = timeoutMs;
    this.fetchFn = fetchFn;
    this.EventSourceImpl = EventSourceImpl;
  }

  languageHeader() {
    const lang = typeof this.language === "function" ? this.language() : this.language;
    return lang ? { "Accept-Language": String(lang) } : {};
  }

  // One call: resolves with the parsed JSON body (or a Blob when asBlob),
  // rejects with a UkeydError.
  async request(method, path, body = undefined, { asBlob = false, timeoutMs = this.timeoutMs } = {}) {
    const headers = { Accept: asBlob ? "*/*" : "application/json", ...this.languageHeader() };
    const init = { method, headers, mode: "cors", credentials: "omit", cache: "no-store" };
    if (body !== undefined) {
      // application/json makes the browser send a CORS preflight, which
      // ukeyd answers only for allow-listed origins: the reason it is safe.
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    init.signal = abort.signal;
    let resp;
    try {
      resp = await this.fetchFn(this.base + path, init);
    } catch (e) {
      clearTimeout(timer);
      throw new UkeydError(abort.signal.aborted ? "timeout" : "network", { cause: e });
    }
    try {
      if (resp.ok) return asBlob ? await resp.blob() : await resp.json();
      const problem = await readProblem(resp);
      if (problem) throw new UkeydError("problem", { status: resp.status, problem });
      throw new UkeydError("http", { status: resp.status });
    } catch (e) {
      if (e instanceof UkeydError) throw e;
      throw new UkeydError(abort.signal.aborted ? "timeout" : "http",
                           { status: resp.status, cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  // --- reading (GET never changes anything and never costs a PIN try) -----
  status() { return this.request("GET", "/v1/status"); }
  // Resolves with status() when ukeyd is `minimum` or later (by default the
  // oldest this client works with); rejects with UpdateRequiredError when it
  // is older, or with the UkeydError of status() when it cannot be asked.
  async requireVersion(minimum = MIN_DAEMON_VERSION) {
    const status = await this.status();
    if (compareVersions(status?.version, minimum) < 0) {
      throw new UpdateRequiredError(String(status?.version ?? "unknown"), String(minimum));
    }
    return status;
  }
  readers() { return this.request("GET", "/v1/readers"); }
  tokens() { return this.request("GET", "/v1/tokens"); }
  token(id) { return this.request("GET", `/v1/tokens/${enc(id)}`); }
  certificates(id) { return this.request("GET", `/v1/tokens/${enc(id)}/certificates`); }
  certificate(id, slot) {
    return this.request("GET", `/v1/tokens/${enc(id)}/certificates/${enc(slot)}`);
  }
  // format "pem" or "der"; resolves with a Blob (e.g. for a download link).
  certificateFile(id, slot, format = "pem") {
    if (format !== "pem" && format !== "der") throw new TypeError(`format ${format}: pem or der`);
    return this.request("GET", `/v1/tokens/${enc(id)}/certificates/${enc(slot)}.${format}`,
                        undefined, { asBlob: true });
  }
  pinState(id) { return this.request("GET", `/v1/tokens/${enc(id)}/pin`); }

  // --- the PIN ---------------------------------------------------------------
  // options: { confirmLastTry: true } (or just `true`) to spend the last try;
  // better, wrap the call in confirmingLastTry().
  verifyPin(id, pin, options = {}) {
    return this.request("POST", `/v1/tokens/${enc(id)}/pin/verify`,
                        withLastTry({ pin }, options));
  }
  changePin(id, oldPin, newPin, options = {}) {
    return this.request("POST", `/v1/tokens/${enc(id)}/pin/change`,
                        withLastTry({ oldPin, newPin }, options));
  }

  // --- the remote unlock (docs/unlock-protocol.md) ----------------------------
  openUnlock(id) { return this.request("POST", `/v1/tokens/${enc(id)}/unlock`, {}); }
  unlockSession(sid) { return this.request("GET", `/v1/unlock/${enc(sid)}`); }
  sendSms(sid, phone) { return this.request("POST", `/v1/unlock/${enc(sid)}/sms`, { phone }); }
  verifySms(sid, smsCode) {
    return this.request("POST", `/v1/unlock/${enc(sid)}/verify`, { smsCode });
  }
  verifyUnlockCode(sid, unlockCode) {
    return this.request("POST", `/v1/unlock/${enc(sid)}/verify`, { unlockCode });
  }
  completeUnlock(sid, newPin) {
    return this.request("POST", `/v1/unlock/${enc(sid)}/complete`, { newPin });
  }

  // --- certificate actions (docs/cert-protocol.md) ------------------------------
  // The CA's approved certificate changes, renewals, reinstalls and first
  // downloads for this token, as ukeyd sees them: { tokenId, actions: [{
  // number, kind, state, slot, keyPolicy, keyAlgorithm, subject, oldSerial,
  // expiresAt, needsPin, interrupted }] }.
  certActions(id) { return this.request("GET", `/v1/tokens/${enc(id)}/cert-actions`); }
  // Writes the action's certificate to the token. pin: needed when the
  // action's needsPin (a new key pair is signed for on the token);
  // confirmLastTry: spend the PIN's last try, see
  // confirmingLastTry(). Resolves with { number, kind, slot, state: "done",
  // certificate }, the new certificate as certificate(id, slot) shows it.
  carryOutCertAction(id, number, { pin = undefined, confirmLastTry = false } = {}) {
    const body = {};
    if (pin !== undefined && pin !== null) body.pin = String(pin);
    // Sent only when true: ukeyd refuses unknown members, and false is its default.
    if (confirmLastTry === true) body.confirmLastTry = true;
    return this.request("POST", `/v1/tokens/${enc(id)}/cert-actions/${enc(number)}`, body,
                        { timeoutMs: Math.max(this.timeoutMs, CERT_WRITE_TIMEOUT_MS) });
  }

  // --- the machine -------------------------------------------------------------
  environment() { return this.request("GET", "/v1/environment"); }
  repairEnvironment() { return this.request("POST", "/v1/environment/repair", {}); }

  // --- live events ---------------------------------------------------------------
  // handlers: { onEvent(type, data, id), onOpen(), onError(state) } where
  // state is "reconnecting" (EventSource retries by itself) or "closed" (it
  // gave up: ukeyd refused the stream, e.g. this origin is not allowed, or
  // too many streams are open; open a new one later). On "resync", read the
  // state afresh (tokens()). Returns { close(), source }.
  events(handlers = {}, { types = EVENT_TYPES } = {}) {
    if (!this.EventSourceImpl) throw new TypeError("no EventSource in this environment");
    const source = new this.EventSourceImpl(`${this.base}/v1/events`);
    for (const type of types) {
      source.addEventListener(type, (ev) => {
        let data = null;
        try {
          data = ev.data ? JSON.parse(ev.data) : null;
        } catch {
          data = null;      // ukeyd always sends JSON; never let one bad frame stop the page
        }
        handlers.onEvent?.(type, data, ev.lastEventId);
      });
    }
    source.addEventListener("open", () => handlers.onOpen?.());
    source.addEventListener("error", () => {
      handlers.onError?.(source.readyState === 2 /* CLOSED */ ? "closed" : "reconnecting");
    });
    return { close: () => source.close(), source };
  }

  // --- when a call fails with kind "network" ----------------------------------------
  // Resolves with one of:
  //   "ok"                — ukeyd answers this page;
  //   "origin-forbidden"  — ukeyd runs but does not allow this page's origin
  //                         (an administrator adds it to `origins` in
  //                         /etc/ukeyd/ukeyd.conf);
  //   "permission-denied" — the browser's local-network permission is denied;
  //   "not-ukeyd"         — another program answers on ukeyd's port;
  //   "unreachable"       — nothing answers: ukeyd is not running (or the
  //                         browser blocked the request before sending it).
  async diagnose() {
    try {
      await this.status();
      return "ok";
    } catch (e) {
      // A problem is an answer: ukeyd serves this page (the refusal was
      // about the request, e.g. HOST_FORBIDDEN behind a proxy).
      if (e instanceof UkeydError && e.kind === "problem") return "ok";
      if (e instanceof UkeydError && e.kind === "http") return "not-ukeyd";
      if (!(e instanceof UkeydError) || e.kind !== "network") return "unreachable";
    }
    if ((await localNetworkPermission()) === "denied") return "permission-denied";
    try {
      // An opaque no-cors request resolves whenever something answered at
      // all: ukeyd is there, and it is CORS that kept its answer (a 403
      // ORIGIN_FORBIDDEN) from the page.
      await this.fetchFn(`${this.base}/v1/status`,
                         { mode: "no-cors", credentials: "omit", cache: "no-store" });
      return "origin-forbidden";
    } catch {
      return "unreachable";
    }
  }
}

// Runs attempt(false); if ukeyd answers PIN_LAST_TRY, awaits confirm(error)
// (show error.title/error.detail and ask the user) and, only on a yes, runs
// attempt(true). Any other outcome is returned or thrown as it is.
//
//   await confirmingLastTry(
//     (last) => ukeyd.verifyPin(id, pin, { confirmLastTry: last }),
//     (e) => window.confirm(e.detail));
export async function confirmingLastTry(attempt, confirm) {
  try {
    return await attempt(false);
  } catch (e) {
    if (!(e instanceof UkeydError) || e.code !== "PIN_LAST_TRY") throw e;
    if (!(await confirm(e))) throw e;
    return attempt(true);
  }
}

// The state of the browser's permission for pages to reach this machine's
// loopback address: "granted", "denied", "prompt", or "unknown" where the
// browser has no such permission (or calls it something else). Chrome 142
// named it "local-network-access"; later versions split it into
// "loopback-network" and "local-network".
export async function localNetworkPermission() {
  const permissions = globalThis.navigator?.permissions;
  if (!permissions?.query) return "unknown";
  for (const name of ["loopback-network", "local-network-access"]) {
    try {
      return (await permissions.query({ name })).state;
    } catch {
      // an unknown permission name throws: try the next
    }
  }
  return "unknown";
}

async function readProblem(resp) {
  const type = resp.headers.get("Content-Type") || "";
  if (!/json/i.test(type)) return null;
  try {
    const body = await resp.json();
    return body && typeof body.code === "string" ? body : null;
  } catch {
    return null;
  }
}

function withLastTry(body, options) {
  const confirm = typeof options === "boolean" ? options : Boolean(options?.confirmLastTry);
  // Sent only when true: ukeyd refuses unknown members, and false is its default.
  if (confirm) body.confirmLastTry = true;
  return body;
}

function enc(s) {
  return encodeURIComponent(String(s));
}
