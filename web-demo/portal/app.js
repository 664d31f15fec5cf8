// SPDX-License-Identifier: MIT
//
// The demo CA portal: the screens of a CA's certificate assistant, as a web
// page talking to ukeyd on the user's own machine (docs/api.md).
//
//   我的证书   every token and certificate: owner, serial, validity, type,
//              medium; downloads (.pem/.der)
//   status    follows plug and unplug live through GET /v1/events
//   校验密码   verify the PIN; 修改密码: change it. Tries left always shown;
//              PIN_LAST_TRY asks the user before spending the last try
//   找回密码   the remote unlock: fee and payment page, SMS code, or
//              materials upload and review with an unlock code; new PIN
//   环境检测   GET /v1/environment and its repair, when ukeyd has them
//   客服中心   the CA's hotline, and the environment report as a file for support
//   update    requireVersion(): a notice when ukeyd is older than the CA needs
//   证书变更 / 证书延期 / 证书重装 / 证书下载 and 个人中心: cert-pages.js
//
// Errors show ukeyd's own title and detail, which it writes in the page's
// language; nothing is shown as raw JSON.

import {
  MIN_DAEMON_VERSION, UKEYD_BASE, UkeydClient, UkeydError as ApiError, UpdateRequiredError, confirmingLastTry,
  loopbackBase,
} from "./ukeyd-client.js";
import { acceptLanguage, language, setLanguage, t } from "./i18n.js";
import { CaPortal } from "./ca-portal.js";
import { CERT_TABS, createCertPages } from "./cert-pages.js";
const REFRESH_DEBOUNCE_MS = 100;
const OFFLINE_RETRY_MS = 3000;
const EVENTS_REOPEN_MS = 3000;
const UNLOCK_POLL_MS = 2000;
const MATERIAL_MAX = 2 * 1024 * 1024;
const SOON_DAYS = 30;
const TABS = ["certs", "verify", "change", "unlock", "env", ...CERT_TABS, "support"];
const UNLOCK_STORE = "ukeyd-portal-unlock";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// Builds an element: el("p", {class: "x", onclick: f}, "text", child...).
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (v === true) e.setAttribute(k, "");
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// --- state ----------------------------------------------------------------------

const state = {
  conn: "checking",      // checking | ok | unreachable | permission-denied | origin-forbidden | refused | not-ukeyd
  connProblem: null,     // the ApiError that made conn what it is
  pcsc: true,
  tokens: [],
  selected: null,        // token id used by the PIN and unlock panels
  envAvailable: null,    // null: not asked yet
  env: null,
  tab: "certs",
  update: null,          // UpdateRequiredError when ukeyd is older than the CA needs
  version: null,         // ukeyd's version, from /v1/status
};

// Where ukeyd listens is the page's own configuration, served by the CA
// (/portal/config.json; ukey-ca --ukeyd-port), never anything in the page's
// URL: a link carrying a port would point the page, and every PIN typed into
// it, at whatever another user of this machine listens on there. Without a
// readable configuration, ukeyd's default port. The same file names the CA's
// support hotline and the oldest ukeyd the CA's pages work with.
async function portalConfig() {
  const config = { base: UKEYD_BASE, hotline: null, minUkeydVersion: MIN_DAEMON_VERSION };
  try {
    const resp = await fetch(new URL("/portal/config.json", location.href),
      { cache: "no-store", credentials: "omit" });
    if (!resp.ok) return config;
    const c = await resp.json();
    if (typeof c.hotline === "string") config.hotline = c.hotline;
    if (typeof c.minUkeydVersion === "string") config.minUkeydVersion = c.minUkeydVersion;
    config.base = loopbackBase(c.ukeydBase);
  } catch {
    /* unreadable or not a loopback address: the default */
  }
  return config;
}

const config = await portalConfig();
const api = new UkeydClient({ base: config.base, language: acceptLanguage });
// The CA's own API for certificate requests: this page's origin.
const ca = new CaPortal({ language: acceptLanguage });

// --- language ----------------------------------------------------------------------

function initialLanguage() {
  const q = new URLSearchParams(location.search).get("lang");
  if (q === "en" || q === "zh") return q;
  try {
    const saved = localStorage.getItem("ukeyd-portal-lang");
    if (saved === "en" || saved === "zh") return saved;
  } catch {
    /* storage blocked */
  }
  return "zh";
}

function applyStaticText() {
  for (const n of $$("[data-i18n]")) n.textContent = t(n.dataset.i18n);
  document.title = `${t("app.title")} · ${t("app.ca")}`;
}

function switchLanguage() {
  setLanguage(language() === "zh" ? "en" : "zh");
  try {
    localStorage.setItem("ukeyd-portal-lang", language());
  } catch {
    /* storage blocked */
  }
  for (const r of $$(".result")) r.replaceChildren();
  renderAll();
}

// --- messages --------------------------------------------------------------------

// ukeyd's problems the page words itself: their details speak to programs
// (PIN_LAST_TRY names the request member that spends the last try), and the
// user needs the rule in plain words. PIN_TOO_SIMPLE: docs/api.md, PIN rules.
const PAGE_WORDED = ["PIN_LAST_TRY", "PIN_TOO_SIMPLE", "PIN_SAME_AS_OLD"];

// An error for people: ukeyd's title and detail, or a sentence of our own when
// there was no problem document to show.
function errorBox(err) {
  if (err instanceof ApiError && err.kind === "problem" && err.source === "ca") return caErrorBox(err);
  if (err instanceof ApiError && err.kind === "problem" && PAGE_WORDED.includes(err.code)) {
    return el("div", { class: "msg error", role: "alert", "data-code": err.code },
      el("strong", { class: "title" }, err.code === "PIN_TOO_SIMPLE" && err.problem?.rule
        ? t(`pin.simple.${err.problem.rule}`) : t(`pinError.${err.code}`)),
      err.code === "PIN_LAST_TRY" ? null : el("span", { class: "detail" }, pinRuleWords(selectedToken()?.pin)));
  }
  if (err instanceof ApiError && err.kind === "problem") {
    const p = err.problem;
    const box = el("div", { class: "msg error", role: "alert", "data-code": p.code },
      el("strong", { class: "title" }, p.title || p.code));
    if (p.detail && p.detail !== p.title) box.append(el("span", { class: "detail" }, p.detail));
    return box;
  }
  if (err instanceof ApiError && err.source === "ca" && (err.kind === "network" || err.kind === "timeout")) {
    return el("div", { class: "msg error", role: "alert", "data-code": "CA_NETWORK" },
      el("strong", { class: "title" }, t("error.caNetwork")));
  }
  if (err instanceof ApiError && (err.kind === "network" || err.kind === "timeout")) {
    return el("div", { class: "msg error", role: "alert", "data-code": "NETWORK" },
      el("strong", { class: "title" }, t("error.network")),
      el("span", { class: "detail" }, t("help.noService.start")));
  }
  const status = err instanceof ApiError ? err.status : 0;
  return el("div", { class: "msg error", role: "alert" },
    el("strong", { class: "title" }, t("error.generic", { status })));
}

// The CA's own API speaks to programs (English titles): for the codes the
// portal knows, its own words in the page's language; the CA's otherwise.
function caErrorBox(err) {
  const p = err.problem;
  const key = `caError.${p.code}`;
  const title = t(key) === key ? p.title || p.code : t(key);
  const box = el("div", { class: "msg error", role: "alert", "data-code": p.code },
    el("strong", { class: "title" }, title));
  if (p.field) box.append(el("span", { class: "detail" }, t("caError.field", { field: p.field })));
  else if (t(key) === key && p.detail && p.detail !== p.title) box.append(el("span", { class: "detail" }, p.detail));
  return box;
}

// A file input in the page's words (选择文件, 未选择文件), not in the
// browser's own ("Choose File" in an English build).
function fileField(input) {
  const chosen = () => input.files?.[0]?.name ?? t("file.none");
  const name = el("span", { class: "file-name" }, chosen());
  input.classList.add("file-input");
  input.addEventListener("change", () => { name.textContent = chosen(); });
  return el("span", { class: "file-pick" }, input,
    el("button", { type: "button", class: "file-choose", onclick: () => input.click() }, t("file.choose")), name);
}

function okBox(text) {
  return el("div", { class: "msg ok", role: "status" }, text);
}

function warnBox(text) {
  return el("div", { class: "msg warn", role: "alert" }, text);
}

function show(target, node) {
  const box = typeof target === "string" ? $(target) : target;
  box.replaceChildren(...(node ? [node] : []));
}

// Runs an action with its button disabled; errors land in `result`.
async function withBusy(button, result, fn) {
  if (button) button.disabled = true;
  try {
    return await fn();
  } catch (err) {
    if (result) show(result, errorBox(err));
    // No answer at all: find out whether ukeyd is gone (the status line
    // and the help follow) rather than guess.
    if (err instanceof ApiError && err.kind === "network") scheduleRefresh();
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// --- connection and tokens ------------------------------------------------------

let refreshTimer = 0;
let offlineTimer = 0;

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, REFRESH_DEBOUNCE_MS);
}

// No usable answer from ukeyd: find out why, as far as a page can
// (ukeyd-client.js diagnose()), and ask again a little later.
async function noteConnectionError(err) {
  let why = "unreachable";
  if (err.kind === "problem") {
    // ukeyd answered, and said no: this site is not allowed, or this
    // account may not use the token (PEER_NOT_ALLOWED), or something else
    // that its title and detail explain.
    why = err.code === "ORIGIN_FORBIDDEN" || err.code === "HOST_FORBIDDEN" ? "origin-forbidden" : "refused";
  } else if (err.kind === "http") {
    why = "not-ukeyd";
  } else {
    why = await api.diagnose();
  }
  if (why === "ok") {
    // ukeyd answers after all: a passing hiccup.
    scheduleRefresh();
    return;
  }
  state.conn = why;
  state.connProblem = err;
  state.tokens = [];
  renderAll();
  clearTimeout(offlineTimer);
  offlineTimer = setTimeout(refresh, OFFLINE_RETRY_MS);
}

async function refresh() {
  const wasOk = state.conn === "ok";
  try {
    const list = await api.tokens();
    state.tokens = Array.isArray(list?.tokens) ? list.tokens : [];
    state.pcsc = true;
    state.conn = "ok";
    state.connProblem = null;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.code === "PCSC_UNAVAILABLE") {
      state.tokens = [];
      state.pcsc = false;
      state.conn = "ok";
      state.connProblem = err;
    } else {
      await noteConnectionError(err);
      return;
    }
  }
  if (unlock.tokenId && state.tokens.some((tk) => tk.id === unlock.tokenId)) {
    state.selected = unlock.tokenId;
  } else if (!state.tokens.some((tk) => tk.id === state.selected)) {
    const blocked = state.tokens.find((tk) => tk.pin?.blocked);
    state.selected = (blocked ?? state.tokens[0])?.id ?? null;
  }
  if (!wasOk) {
    openEvents();
    loadEnvironment();
    checkVersion();
  }
  renderAll();
}

// The CA's pages need ukeyd `config.minUkeydVersion` or later: an older one
// gets a notice saying what to do (ukeyd-client.js requireVersion()).
async function checkVersion() {
  try {
    const status = await api.requireVersion(config.minUkeydVersion);
    state.update = null;
    state.version = status?.version ?? null;
  } catch (err) {
    if (err instanceof UpdateRequiredError) {
      state.update = err;
      state.version = err.installed;
    }
    /* no answer: the status line says so already */
  }
  renderUpdate();
  renderSupport();
}

function renderUpdate() {
  const box = $("#update");
  const u = state.update;
  if (!u) {
    box.replaceChildren();
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.replaceChildren(el("h2", {}, t("update.title")),
    el("p", {}, t("update.body", { installed: u.installed, required: u.required })),
    el("ol", {}, el("li", {}, t("update.step.download")), el("li", {}, t("update.step.install")),
      el("li", {}, t("update.step.reload"))),
    el("div", { class: "actions" },
      el("button", { type: "button", id: "update-recheck", class: "primary",
        onclick: (e) => withBusy(e.currentTarget, null, checkVersion) }, t("update.recheck")),
      config.hotline ? el("span", { class: "muted" }, t("update.help", { hotline: config.hotline })) : null));
}

// --- the event stream ----------------------------------------------------------

let events = null;
let eventsReopen = 0;

function openEvents() {
  if (events) return;
  clearTimeout(eventsReopen);
  try {
    events = api.events({
      onEvent,
      onOpen: () => scheduleRefresh(),
      onError: (how) => {
        // EventSource reconnects by itself after a dropped stream; after a
        // refusal (CORS, 503 TOO_MANY_STREAMS) it gives up: ask again later.
        if (how === "closed") {
          events?.close();
          events = null;
          eventsReopen = setTimeout(openEvents, EVENTS_REOPEN_MS);
        }
        scheduleRefresh();
      },
    });
  } catch {
    events = null;
  }
}

function onEvent(type, data) {
  document.body.dataset.lastEvent = type;
  certPages.onEvent(type, data);
  if (type === "pcsc-lost") state.pcsc = false;
  if (type === "pin-changed" && data?.tokenId) {
    const tk = state.tokens.find((x) => x.id === data.tokenId);
    if (tk?.pin) {
      tk.pin.triesLeft = data.triesLeft ?? tk.pin.triesLeft;
      tk.pin.blocked = data.blocked ?? tk.pin.blocked;
      renderAll();
    }
  }
  scheduleRefresh();
}

// --- rendering: status line and help -------------------------------------------

function renderStatus() {
  const box = $("#status");
  const text = $("#status-text");
  let cls = "offline";
  let words;
  if (state.conn === "checking") {
    cls = "checking";
    words = t("status.checking");
  } else if (state.conn === "permission-denied") {
    words = t("status.blocked");
  } else if (state.conn === "origin-forbidden") {
    words = t("status.forbidden");
  } else if (state.conn === "refused") {
    words = state.connProblem?.title ?? t("status.noService");
  } else if (state.conn !== "ok") {
    words = t("status.noService");
  } else if (!state.pcsc) {
    cls = "absent";
    words = t("status.pcsc");
  } else if (state.tokens.length === 0) {
    cls = "absent";
    words = t("status.none");
  } else {
    cls = "present";
    words = state.tokens.length === 1
      ? t("status.connected") : t("status.connectedMany", { n: state.tokens.length });
  }
  box.className = `status ${cls}`;
  box.dataset.state = cls;
  box.dataset.conn = state.conn;
  text.textContent = words;
  renderHelp();
}

function renderHelp() {
  const help = $("#help");
  const retry = el("button", { type: "button", id: "help-retry", onclick: () => refresh() },
    t("help.retry"));
  if (state.conn === "permission-denied") {
    help.replaceChildren(el("h2", {}, t("help.blocked.title")),
      el("p", {}, t("help.blocked.body")), retry);
  } else if (state.conn === "origin-forbidden") {
    const said = state.connProblem?.kind === "problem" ? [errorBox(state.connProblem)] : [];
    help.replaceChildren(el("h2", {}, t("status.forbidden")), ...said,
      el("p", {}, t("help.forbidden.body")), retry);
  } else if (state.conn === "refused") {
    help.replaceChildren(errorBox(state.connProblem), retry);
  } else if (state.conn === "unreachable" || state.conn === "not-ukeyd") {
    help.replaceChildren(el("h2", {}, t("help.noService.title")),
      el("p", {}, t("help.noService.body")),
      el("ul", {},
        el("li", {}, t("help.noService.install")),
        el("li", {}, t("help.noService.start")),
        el("li", {}, t("help.maybeBlocked")),
        el("li", {}, t("help.notAllowed"))),
      retry);
  } else if (state.conn === "ok" && !state.pcsc && state.connProblem) {
    help.replaceChildren(errorBox(state.connProblem));
  } else {
    help.replaceChildren();
  }
  help.hidden = help.childElementCount === 0;
  help.className = `help ${state.conn}`;
}

// --- rendering: certificates -----------------------------------------------------

function attr(name, nameObj) {
  return nameObj?.attributes?.find((a) => a.name === name)?.value ?? null;
}

// Dates and times as the user's clock shows them, never in UTC.
const pad2 = (n) => String(n).padStart(2, "0");
function localDay(iso) {
  const d = typeof iso === "string" ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return "—";
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
}
function localTime(iso) {
  const d = typeof iso === "string" ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return "—";
  return `${localDay(iso)} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}
const day = localDay;

// Money as the CA's payment page shows it: ¥30.00 (yuan, 元).
function money(amount, currency = "CNY") {
  const n = Number(amount);
  const text = Number.isFinite(n) ? n.toFixed(2) : String(amount ?? "");
  if (currency && currency !== "CNY") return `${text} ${currency}`;
  return t("money.cny", { amount: text });
}

function usageText(cert) {
  const ku = cert.keyUsage || [];
  const kinds = [];
  if (ku.includes("digitalSignature") || ku.includes("nonRepudiation")) kinds.push(t("usage.sign"));
  if (ku.includes("keyEncipherment") || ku.includes("dataEncipherment") || ku.includes("keyAgreement")) {
    kinds.push(t("usage.encrypt"));
  }
  if ((cert.extendedKeyUsage || []).includes("clientAuth") && kinds.length === 0) kinds.push(t("usage.auth"));
  return kinds.join(" · ");
}

function row(label, value, extra = {}) {
  return el("div", { class: "row", ...extra }, el("dt", {}, label), el("dd", {}, value));
}

// A certificate's id in ukeyd's URLs: the PIV slot ("9a"), or an SKF key's
// "<container>.sign" / "<container>.enc" (older ukeyd: the slot alone).
function certId(cert) {
  return cert.id ?? cert.slot;
}

// What a certificate is for, in the user's words, never the card's slot
// names ("9a", "PIV Authentication", a container): SKF keys hold a signing
// and an encryption certificate per container; a PIV card's four slots
// are authentication, signing, key management (encryption) and card
// authentication.
const CERT_LABELS = {
  "SKF signing": "cert.label.sign", "SKF encryption": "cert.label.enc",
  "PIV Authentication": "cert.label.auth", "Digital Signature": "cert.label.sign",
  "Key Management": "cert.label.enc", "Card Authentication": "cert.label.card",
};
const SLOT_LABELS = { "9a": "cert.label.auth", "9c": "cert.label.sign", "9d": "cert.label.enc", "9e": "cert.label.card" };
// As the CA's assistant says it: what the key is used for first (签名证书,
// 加密证书), the slot's purpose only when the certificate does not say.
function certLabel(cert) {
  const skf = { "SKF signing": "cert.label.sign", "SKF encryption": "cert.label.enc" }[cert.label];
  if (skf) return t(skf);
  const usage = cert.decoded ? usageText(cert) : "";
  if (usage) return usage;
  const key = CERT_LABELS[cert.label] ?? SLOT_LABELS[cert.slot];
  return key ? t(key) : t("cert.label.other");
}
// A slot by what its certificate is for, or when it holds none (yet), by
// what the slot is meant for.
function slotLabel(slot, token = selectedToken()) {
  const cert = token?.certificates?.find((c) => (c.id ?? c.slot) === slot || c.slot === slot);
  if (cert?.decoded) return certLabel(cert);
  const [container, part] = String(slot).split(".");
  if (part === "sign") return t("cert.label.sign");
  if (part === "enc") return t("cert.label.enc");
  return SLOT_LABELS[container] ? t(SLOT_LABELS[container]) : t("cert.label.other");
}

// Ids may hold dots ("DEMO_SM2.sign"), which a CSS selector would misread.
function certMessage(token, cert) {
  return document.getElementById(`cert-msg-${token.id}-${certId(cert)}`);
}

// Key generation and certificate writes: what the token says it can do
// (older ukeyd does not say: PIV, which can).
function canWriteCerts(token) {
  return token.capabilities?.certificateWrites ?? true;
}

async function download(token, cert, format, button) {
  await withBusy(button, certMessage(token, cert), async () => {
    const blob = await api.certificateFile(token.id, certId(cert), format);
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: `${token.serial || token.id}-${certId(cert)}.${format}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
}

function certCard(token, cert) {
  const card = el("article", { class: "cert", dataset: { slot: cert.slot, cert: certId(cert), token: token.id } });
  if (!cert.decoded) {
    card.append(el("h3", {}, certLabel(cert)),
      el("p", { class: "muted" }, t("cert.undecoded")));
    return card;
  }
  const days = cert.daysLeft;
  let validity = `${day(cert.notBefore)} — ${day(cert.notAfter)}`;
  let warning = null;
  if (typeof days === "number") {
    if (days < 0) warning = warnBox(t("cert.expired", { n: -days }));
    else {
      validity += t("cert.daysLeft", { n: days });
      if (days < SOON_DAYS) warning = warnBox(t("cert.expiresSoon", { n: days }));
    }
  }
  const owner = cert.subject?.commonName ?? cert.subject?.display ?? "—";
  // Its kind (签名证书, 加密证书, …) heads the card, once.
  const kind = certLabel(cert);
  card.append(...[
    el("h3", {}, el("span", { class: "owner" }, owner),
      kind ? el("span", { class: "badge kind" }, kind) : null,
      null),
    el("dl", {},
      row(t("cert.owner"), owner, { class: "row owner-row" }),
      row(t("cert.org"), attr("O", cert.subject) ?? "—"),
      row(t("cert.serial"), cert.serial ?? "—", { class: "row serial-row" }),
      row(t("cert.validity"), validity, { class: `row validity-row${warning ? " soon" : ""}` }),
      row(t("cert.type"), cert.keyAlgorithm ?? cert.keyType ?? "—", { class: "row type-row" }),
      row(t("cert.sigAlg"), cert.signatureAlgorithm ?? "—"),
      row(t("cert.issuer"), cert.issuer?.commonName ?? cert.issuer?.display ?? "—"),
      row(t("token.medium"), `${token.model ?? token.edge ?? "—"} · ${token.reader}`, { class: "row medium-row" }),
      row(t("cert.usage"), kind)),
    warning,
    el("div", { class: "actions" },
      el("span", { class: "muted" }, t("cert.download")),
      el("button", { type: "button", class: "dl", "data-format": "pem",
        onclick: (e) => download(token, cert, "pem", e.currentTarget) }, ".pem"),
      el("button", { type: "button", class: "dl", "data-format": "der",
        onclick: (e) => download(token, cert, "der", e.currentTarget) }, ".der")),
    canWriteCerts(token) ? el("div", { class: "actions certop-links" },
      el("span", { class: "muted" }, t("certop.links")),
      ["change", "renewal", "reinstall"].map((kind) => el("button", { type: "button", class: "dl certop-link",
        "data-kind": kind, onclick: () => certPages.openFor(kind, token.id, cert.slot) }, t(`certop.kind.${kind}`)))) : null,
    el("div", { class: "result", id: `cert-msg-${token.id}-${certId(cert)}` })].filter(Boolean));
  return card;
}

function pinSummary(token) {
  const pin = token.pin || {};
  if (pin.blocked) return el("span", { class: "pin blocked" }, t("token.blocked"));
  if (pin.triesLeft === null || pin.triesLeft === undefined) {
    return el("span", { class: "pin" }, t("token.triesUnknown"));
  }
  const cls = `pin ${triesLevel(pin)}`;
  return el("span", { class: cls, "data-tries": pin.triesLeft },
    typeof pin.triesMax === "number" ? t("token.triesLeftOf", { n: pin.triesLeft, max: pin.triesMax })
      : t("token.triesLeft", { n: pin.triesLeft }));
}

// Tries left as a traffic light: all of them, fewer (amber), the last (red).
function triesLevel(pin) {
  if (pin.triesLeft <= 1) return "last";
  // A card that does not say its maximum: PIV's usual three.
  const full = typeof pin.triesMax === "number" ? pin.triesMax : 3;
  return pin.triesLeft < full ? "low" : "full";
}

// A PIN still the factory's: the user should change it before anything else.
function defaultPinNudge(token) {
  return token?.pin?.isDefault === true && !token.pin.blocked
    ? warnBox(t("pin.defaultWarning")) : null;
}

// The electronic seals (电子印章) on an SKF key, as a CA's assistant says
// them; nothing for a token that cannot hold any (seals is null).
function sealCount(token) {
  if (typeof token.seals !== "number") return null;
  return el("p", { class: "seals", "data-seals": token.seals },
    t(token.seals === 1 ? "token.seals1" : "token.seals", { n: token.seals }));
}

function renderCerts() {
  const panel = $("#panel-certs");
  if (state.conn !== "ok") {
    panel.replaceChildren();
    return;
  }
  if (state.tokens.length === 0) {
    panel.replaceChildren(el("p", { class: "empty" }, t("certs.none")));
    return;
  }
  panel.replaceChildren(...state.tokens.map((token) => el("section",
    { class: "token", dataset: { token: token.id, reader: token.reader } },
    el("header", {},
      el("h2", {}, token.model ?? token.edge),
      el("dl", { class: "inline" },
        // An SKF key sits in no reader: its library names the device.
        row(t(token.edge === "SKF" ? "token.device" : "token.reader"), token.reader),
        row(t("token.serial"), token.serial ?? "—"),
        row(t("token.pin"), pinSummary(token))),
      sealCount(token),
      defaultPinNudge(token)),
    token.certificates?.length
      ? el("div", { class: "certs" }, token.certificates.map((c) => certCard(token, c)))
      : el("div", { class: "no-cert" }, el("p", { class: "muted" }, t("certs.noCert")),
        canWriteCerts(token) ? el("button", { type: "button", class: "primary certop-link", "data-kind": "issue",
          onclick: () => certPages.openFor("issue", token.id) }, t("certop.kind.issue")) : null))));
}

// --- the token picker and PIN state (verify, change, unlock) -----------------------

function selectedToken() {
  return state.tokens.find((tk) => tk.id === state.selected) ?? null;
}

function tokenName(token) {
  const cert = token.certificates?.find((c) => c.decoded && c.subject?.commonName);
  return `${cert?.subject.commonName ?? token.model ?? token.id} · ${token.reader}`;
}

function policyText(pin) {
  if (!pin || !pin.minLength) return "";
  return t("pin.policy", { min: pin.minLength, max: pin.maxLength,
    charset: t(pin.charset === "digits" ? "pin.charset.digits" : "pin.charset.ascii") });
}

// The rule for a new PIN, in plain words: the token's length and characters,
// and what ukeyd refuses besides (docs/api.md, PIN rules).
function pinRuleWords(pin) {
  const policy = policyText(pin);
  return policy ? `${policy}${t("pin.rule.new")}` : t("pin.rule.new");
}

// The token's policy (GET …/pin), checked before anything is sent: a PIN
// that cannot be right spends no try, and the user reads why at once.
function pinProblem(pin, value) {
  if (!value) return t("pin.check.empty");
  if (!pin?.minLength) return null;
  if (value.length < pin.minLength || (pin.maxLength && value.length > pin.maxLength)) {
    return t("pin.check.length", { min: pin.minLength, max: pin.maxLength });
  }
  if (pin.charset === "digits" && !/^[0-9]+$/.test(value)) return t("pin.check.digits");
  if (!/^[\x20-\x7e]+$/.test(value)) return t("pin.check.chars");
  return null;
}

// A new PIN anyone would guess, by ukeyd's own rules (docs/api.md, PIN
// rules; api/v1/pinrule.c), so the page says why before sending: the rule's
// name, as PIN_TOO_SIMPLE's `rule`, or null.
const COMMON_PINS = ["112233", "123321", "147258", "159753", "789456", "5201314"];
function simplePinRule(value) {
  if (!value) return null;
  if (/^(.)\1*$/.test(value)) return "repeated";
  if (/^[0-9]+$/.test(value) && value.length > 1) {
    // Each digit one more than the one before (…8, 9, 0… counts), or one less.
    const steps = [...value].slice(1).map((c, i) => (Number(c) - Number(value[i]) + 10) % 10);
    if (steps.every((d) => d === 1) || steps.every((d) => d === 9)) return "sequence";
  }
  if (/^(.+)\1+$/.test(value)) return "pattern";
  if (COMMON_PINS.includes(value)) return "common";
  return null;
}

function newPinProblem(pin, newPin, again, oldPin) {
  const basic = pinProblem(pin, newPin);
  if (basic) return basic;
  if (newPin !== again) return t("change.mismatch");
  if (oldPin !== undefined && newPin === oldPin) return t("change.same");
  const rule = simplePinRule(newPin);
  if (rule) return t(`pin.simple.${rule}`);
  return null;
}

function renderPickers() {
  for (const pick of $$(".token-pick")) {
    if (state.tokens.length === 0) {
      pick.replaceChildren(el("p", { class: "empty" },
        state.conn === "ok" ? t("certs.none") : ""));
      continue;
    }
    const sel = el("select", { class: "token-select", "aria-label": t("token.choose"),
      onchange: (e) => { state.selected = e.target.value; onTokenChange(); } },
    state.tokens.map((tk) => el("option", { value: tk.id, selected: tk.id === state.selected },
      tokenName(tk))));
    pick.replaceChildren(el("label", {}, el("span", {}, t("token.choose")), sel));
  }
  const token = selectedToken();
  for (const box of $$(".pin-state")) {
    if (!token) {
      box.replaceChildren();
      continue;
    }
    const parts = [pinSummary(token)];
    if (!token.pin?.blocked && token.pin?.triesLeft === 1) parts.push(warnBox(t("lastTry.warning")));
    if (defaultPinNudge(token)) parts.push(defaultPinNudge(token));
    box.replaceChildren(...parts);
    box.dataset.tries = token.pin?.triesLeft ?? "";
    box.dataset.blocked = token.pin?.blocked ? "true" : "false";
  }
  for (const p of $$(".policy")) {
    p.textContent = p.closest("#change-form") ? pinRuleWords(token?.pin) : policyText(token?.pin);
  }
  const noToken = !token;
  for (const b of ["#verify-submit", "#change-submit"]) $(b).disabled = noToken;
}

function onTokenChange() {
  for (const r of ["#verify-result", "#change-result"]) show(r, null);
  // The user picked another token: a flow for the previous one is left behind.
  if (unlock.tokenId && unlock.tokenId !== state.selected) resetUnlock();
  renderPickers();
  renderUnlock();
  certPages.onTokenChange();
}

// --- verify and change ------------------------------------------------------------

// Asks the user before the last try; resolves true to go on.
function confirmLastTry() {
  const dlg = $("#last-try");
  return new Promise((resolve) => {
    const done = (answer) => {
      $("#last-try-go").removeEventListener("click", yes);
      $("#last-try-cancel").removeEventListener("click", no);
      dlg.removeEventListener("cancel", no);
      dlg.close();
      resolve(answer);
    };
    const yes = () => done(true);
    const no = () => done(false);
    $("#last-try-go").addEventListener("click", yes);
    $("#last-try-cancel").addEventListener("click", no);
    dlg.addEventListener("cancel", no);
    dlg.showModal();
  });
}

// Runs a PIN operation; on PIN_LAST_TRY asks the user, then sends it again
// with confirmLastTry (ukeyd-client.js confirmingLastTry). Returns the
// answer, or null when the user said no.
async function pinOperation(call) {
  try {
    return await confirmingLastTry(call, () => confirmLastTry());
  } catch (err) {
    if (err instanceof ApiError && err.code === "PIN_LAST_TRY") return null;
    throw err;
  }
}

async function afterPinOperation(tokenId, triesLeft) {
  const tk = state.tokens.find((x) => x.id === tokenId);
  if (tk?.pin && typeof triesLeft === "number") {
    tk.pin.triesLeft = triesLeft;
    tk.pin.blocked = false;
  }
  try {
    const pin = await api.pinState(tokenId);
    if (tk) tk.pin = pin;
  } catch {
    /* the event stream will bring it */
  }
  renderPickers();
  renderCerts();
}

async function refreshPinAfterError(tokenId, err) {
  const tk = state.tokens.find((x) => x.id === tokenId);
  if (tk?.pin && err instanceof ApiError) {
    if (typeof err.problem?.triesLeft === "number") tk.pin.triesLeft = err.problem.triesLeft;
    if (err.code === "PIN_BLOCKED") tk.pin.blocked = true;
  }
  await afterPinOperation(tokenId, undefined);
}

async function onVerify(e) {
  e.preventDefault();
  const token = selectedToken();
  if (!token) return;
  const input = $("#verify-pin");
  const pin = input.value;
  const problem = pinProblem(token.pin, pin);
  if (problem) {
    show("#verify-result", warnBox(problem));
    return;
  }
  show("#verify-result", el("div", { class: "msg busy" }, t("busy")));
  await withBusy($("#verify-submit"), "#verify-result", async () => {
    try {
      const r = await pinOperation((confirm) => api.verifyPin(token.id, pin, confirm));
      if (!r) {
        show("#verify-result", null);
        return;
      }
      input.value = "";
      show("#verify-result", okBox(t("verify.ok")));
      await afterPinOperation(token.id, r.triesLeft);
    } catch (err) {
      input.value = "";
      await refreshPinAfterError(token.id, err);
      throw err;
    }
  });
}

async function onChange(e) {
  e.preventDefault();
  const token = selectedToken();
  if (!token) return;
  const oldPin = $("#change-old").value;
  const newPin = $("#change-new").value;
  const again = $("#change-again").value;
  const problem = pinProblem(token.pin, oldPin) ?? newPinProblem(token.pin, newPin, again, oldPin);
  if (problem) {
    show("#change-result", warnBox(problem));
    return;
  }
  show("#change-result", el("div", { class: "msg busy" }, t("busy")));
  await withBusy($("#change-submit"), "#change-result", async () => {
    try {
      const r = await pinOperation((confirm) => api.changePin(token.id, oldPin, newPin, confirm));
      if (!r) {
        show("#change-result", null);
        return;
      }
      for (const id of ["#change-old", "#change-new", "#change-again"]) $(id).value = "";
      show("#change-result", okBox(t("change.ok")));
      await afterPinOperation(token.id, r.triesLeft);
    } catch (err) {
      $("#change-old").value = "";
      await refreshPinAfterError(token.id, err);
      throw err;
    }
  });
}

// --- the remote unlock ---------------------------------------------------------------

// One flow at a time, for one token. The session id is kept in sessionStorage,
// so a reload, or coming back from the payment page in the same tab, goes on.
const unlock = {
  tokenId: null,
  sid: null,
  session: null,
  method: null,          // null | "sms" | "review" | "code"
  smsSent: false,
  resendAt: 0,
  uploaded: false,
  payOpened: false,
  done: false,
  unavailable: false,
};
let unlockPoll = 0;
let resendTick = 0;

function sessionId(s) {
  return s?.sessionId ?? s?.id ?? s?.sid ?? null;
}

function saveUnlock() {
  try {
    if (unlock.sid && !unlock.done) {
      sessionStorage.setItem(UNLOCK_STORE, JSON.stringify({ tokenId: unlock.tokenId, sid: unlock.sid }));
    } else {
      sessionStorage.removeItem(UNLOCK_STORE);
    }
  } catch {
    /* storage blocked: the flow just does not survive a reload */
  }
}

async function resumeUnlock() {
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(UNLOCK_STORE) || "null");
  } catch {
    saved = null;
  }
  if (!saved?.sid) return;
  try {
    const s = await api.unlockSession(saved.sid);
    Object.assign(unlock, { tokenId: saved.tokenId, sid: saved.sid, session: s });
    state.selected = saved.tokenId;
    renderAll();
    pollUnlockIfWaiting();
  } catch {
    try { sessionStorage.removeItem(UNLOCK_STORE); } catch { /* ignore */ }
  }
}

function resetUnlock() {
  clearTimeout(unlockPoll);
  clearInterval(resendTick);
  Object.assign(unlock, { tokenId: null, sid: null, session: null, method: null, smsSent: false,
    resendAt: 0, uploaded: false, payOpened: false, done: false });
  saveUnlock();
  show("#unlock-result", null);
  renderUnlock();
}

function unlockPhase() {
  if (unlock.done) return "done";
  const st = unlock.session?.state;
  if (!st) return "start";
  if (st === "awaiting-payment") return "pay";
  if (st === "authorized") return "pin";
  if (st === "completed") return "done";
  if (st === "expired") return "expired";
  return "identity";
}

function setSession(s) {
  unlock.session = s;
  if (!unlock.sid) unlock.sid = sessionId(s);
  saveUnlock();
  renderUnlock();
  pollUnlockIfWaiting();
}

// While the user pays in another tab, or support reviews the materials, the
// page asks ukeyd for the session's state every couple of seconds.
function pollUnlockIfWaiting() {
  clearTimeout(unlockPoll);
  const st = unlock.session?.state;
  const waiting = st === "awaiting-payment" || st === "review-pending" ||
    (st === "awaiting-identity" && unlock.uploaded);
  if (!unlock.sid || !waiting) return;
  unlockPoll = setTimeout(async () => {
    try {
      const s = await api.unlockSession(unlock.sid);
      setSession(s);
    } catch (err) {
      if (err instanceof ApiError && err.kind === "problem") {
        show("#unlock-result", errorBox(err));
      } else {
        pollUnlockIfWaiting();
      }
    }
  }, UNLOCK_POLL_MS);
}

async function startUnlock(button) {
  const token = selectedToken();
  if (!token) return;
  show("#unlock-result", null);
  await withBusy(button, "#unlock-result", async () => {
    try {
      const s = await api.openUnlock(token.id);
      Object.assign(unlock, { tokenId: token.id, sid: sessionId(s), method: null, smsSent: false,
        uploaded: false, payOpened: false, done: false });
      setSession(s);
    } catch (err) {
      // A ukeyd without the unlock feature answers 404, or refuses the CORS
      // preflight of an unknown path, which the page sees as no answer.
      let missing = err instanceof ApiError && err.kind === "problem" &&
        (err.code === "NOT_FOUND" || err.code === "METHOD_NOT_ALLOWED");
      if (err instanceof ApiError && err.kind === "network") {
        missing = await api.status().then(() => true, () => false);
      }
      if (missing) {
        unlock.unavailable = true;
        show("#unlock-result", warnBox(t("unlock.unavailable")));
        return;
      }
      throw err;
    }
  });
}

function stepList(phase) {
  const fee = unlock.session?.fee;
  const steps = [];
  if (fee?.required) steps.push(["pay", t("unlock.step.pay")]);
  steps.push(["identity", t("unlock.step.identity")], ["pin", t("unlock.step.pin")],
    ["done", t("unlock.step.done")]);
  const order = steps.map((s) => s[0]);
  const at = order.indexOf(phase);
  $("#unlock-steps").replaceChildren(...(phase === "start" || phase === "expired" ? [] :
    steps.map(([key, label], i) => el("li", {
      // Reaching the last step is being done: drawn as done, not as current.
      class: i < at || phase === "done" ? "done" : i === at ? "current" : "", "data-step": key }, label))));
}

function renderUnlock() {
  const body = $("#unlock-body");
  // A flow stays with its token, even while that token is pulled out.
  const token = unlock.tokenId
    ? state.tokens.find((tk) => tk.id === unlock.tokenId) ?? null : selectedToken();
  const phase = unlockPhase();
  body.dataset.phase = phase;
  stepList(phase);
  if (!token && phase === "start") {
    body.replaceChildren();
    return;
  }
  const render = {
    start: renderUnlockStart,
    pay: renderUnlockPay,
    identity: renderUnlockIdentity,
    pin: renderUnlockPin,
    done: renderUnlockDone,
    expired: renderUnlockExpired,
  }[phase];
  body.replaceChildren(...render(token));
}

function cancelButton() {
  return el("button", { type: "button", class: "link", id: "unlock-cancel",
    onclick: () => resetUnlock() }, t("unlock.cancel"));
}

function renderUnlockStart(token) {
  const nodes = [];
  if (!token.pin?.blocked) nodes.push(el("p", { class: "muted" }, t("unlock.notBlocked")));
  nodes.push(el("button", { type: "button", id: "unlock-start", class: "primary",
    onclick: (e) => startUnlock(e.currentTarget) }, t("unlock.start")));
  return nodes;
}

function renderUnlockPay() {
  const s = unlock.session;
  const fee = s.fee || {};
  const nodes = [
    el("div", { class: "fee" },
      el("p", { class: "amount", id: "unlock-fee" }, t("unlock.fee", { amount: money(fee.amount, fee.currency) })),
      el("p", { class: "muted" }, t("unlock.invoice"))),
  ];
  const payButton = el("button", { type: "button", id: "unlock-pay", class: "primary",
    onclick: () => {
      // The CA's payment page, with its invoice form, in a tab of its own;
      // this page keeps asking ukeyd whether the order is paid.
      window.open(s.paymentUrl, "ukeyd-payment");
      unlock.payOpened = true;
      renderUnlock();
      pollUnlockIfWaiting();
    } }, t("unlock.pay"));
  nodes.push(el("div", { class: "actions" }, payButton,
    el("button", { type: "button", id: "unlock-paid", onclick: async (e) => {
      await withBusy(e.currentTarget, "#unlock-result", async () => {
        const st = await api.unlockSession(unlock.sid);
        setSession(st);
        if (st.state === "awaiting-payment") show("#unlock-result", warnBox(t("unlock.stillUnpaid")));
        else show("#unlock-result", null);
      });
    } }, t("unlock.paid")),
    cancelButton()));
  if (unlock.payOpened) nodes.push(el("p", { class: "msg info" }, t("unlock.payWaiting")));
  return nodes;
}

function methodsOf(s) {
  return Array.isArray(s.methods) ? s.methods : ["sms", "review"];
}

function renderUnlockIdentity() {
  const s = unlock.session;
  const fee = s.fee;
  const nodes = [];
  if (fee?.required) nodes.push(el("p", { class: "muted" }, t("unlock.feePaid")));
  else if (fee) nodes.push(el("p", { class: "muted" }, t("unlock.feeFree")));
  const review = s.review?.state ?? null;
  const method = unlock.method ?? (review ? "review" : null);
  if (!method) {
    nodes.push(el("p", {}, t("unlock.choose")));
    const choices = el("div", { class: "choices" });
    if (methodsOf(s).includes("sms")) {
      choices.append(el("button", { type: "button", class: "choice", id: "unlock-by-sms",
        onclick: () => { unlock.method = "sms"; renderUnlock(); } },
      el("strong", {}, t("unlock.bySms")),
      el("span", {}, t("unlock.bySmsHint", { phone: s.maskedPhone ?? "" }))));
    }
    if (methodsOf(s).includes("review")) {
      choices.append(el("button", { type: "button", class: "choice", id: "unlock-by-review",
        onclick: () => { unlock.method = "review"; renderUnlock(); } },
      el("strong", {}, t("unlock.byReview")),
      el("span", {}, t("unlock.byReviewHint"))));
    }
    nodes.push(choices,
      el("div", { class: "actions" },
        el("button", { type: "button", class: "link", id: "unlock-have-code",
          onclick: () => { unlock.method = "code"; renderUnlock(); } }, t("unlock.haveCode")),
        cancelButton()));
    return nodes;
  }
  if (method === "sms") nodes.push(...smsForm(s));
  else nodes.push(...reviewForms(s, method === "code"));
  nodes.push(el("div", { class: "actions" },
    el("button", { type: "button", class: "link", id: "unlock-back",
      onclick: () => { unlock.method = null; show("#unlock-result", null); renderUnlock(); } },
    t("unlock.back")),
    cancelButton()));
  return nodes;
}

function secondsToResend() {
  return Math.max(0, Math.ceil((unlock.resendAt - Date.now()) / 1000));
}

function smsForm(s) {
  const phone = el("input", { type: "tel", id: "unlock-phone", inputmode: "numeric",
    autocomplete: "tel", maxlength: 20, required: true });
  const send = el("button", { type: "button", id: "unlock-send-sms" }, t("unlock.sendSms"));
  const wait = secondsToResend();
  if (wait > 0) {
    send.disabled = true;
    send.textContent = t("unlock.resendIn", { n: wait });
  }
  send.addEventListener("click", async () => {
    const number = phone.value.replace(/[\s-]/g, "");
    await withBusy(send, "#unlock-result", async () => {
      const r = await api.sendSms(unlock.sid, number);
      unlock.smsSent = true;
      unlock.resendAt = Date.now() + 1000 * (r?.resendAfter ?? 60);
      show("#unlock-result", okBox(t("unlock.smsSent",
        { phone: s.maskedPhone ?? "", min: Math.max(1, Math.round((r?.expiresIn ?? 300) / 60)) })));
      startResendTick();
      renderUnlock();
    });
    if (secondsToResend() > 0) send.disabled = true;
  });
  const code = el("input", { type: "text", id: "unlock-sms-code", inputmode: "numeric",
    maxlength: 6, pattern: "[0-9]{6}", autocomplete: "one-time-code", required: true });
  const form = el("form", { class: "form", id: "unlock-sms-form", autocomplete: "off",
    onsubmit: async (e) => {
      e.preventDefault();
      await withBusy($("#unlock-verify-sms"), "#unlock-result", async () => {
        const r = await api.verifySms(unlock.sid, code.value.trim());
        show("#unlock-result", null);
        setSession(r?.state ? r : await api.unlockSession(unlock.sid));
      });
    } },
  el("label", {}, el("span", {}, t("unlock.phone", { phone: s.maskedPhone ?? "" })),
    el("span", { class: "inline-field" }, phone, send)),
  el("label", {}, el("span", {}, t("unlock.smsCode")), code),
  el("button", { type: "submit", id: "unlock-verify-sms", class: "primary" }, t("unlock.verify")));
  // Keep what the user typed across re-renders.
  if (unlock.phoneTyped) phone.value = unlock.phoneTyped;
  phone.addEventListener("input", () => { unlock.phoneTyped = phone.value; });
  return [form];
}

function startResendTick() {
  clearInterval(resendTick);
  resendTick = setInterval(() => {
    const b = $("#unlock-send-sms");
    const wait = secondsToResend();
    if (!b) return;
    if (wait > 0) {
      b.disabled = true;
      b.textContent = t("unlock.resendIn", { n: wait });
    } else {
      b.disabled = false;
      b.textContent = t("unlock.sendSms");
      clearInterval(resendTick);
    }
  }, 1000);
}

function sameOrigin(url) {
  try {
    return new URL(url, location.href).origin === location.origin;
  } catch {
    return false;
  }
}

function reviewForms(s, codeOnly) {
  const nodes = [];
  const review = s.review?.state ?? null;
  if (!codeOnly) {
    if (review === "pending") nodes.push(el("div", { class: "msg info", id: "review-state", "data-review": "pending" }, t("unlock.review.pending")));
    if (review === "approved") nodes.push(el("div", { class: "msg ok", id: "review-state", "data-review": "approved" }, t("unlock.review.approved")));
    if (review === "rejected") {
      nodes.push(el("div", { class: "msg warn", id: "review-state", "data-review": "rejected" },
        t("unlock.review.rejected", { reason: s.review.reason ?? "" })));
    }
    if (review !== "pending" && review !== "approved" && s.reviewUrl) nodes.push(uploadForm(s));
  }
  if (codeOnly || review) nodes.push(unlockCodeForm());
  return nodes;
}

function uploadForm(s) {
  const action = `${s.reviewUrl.replace(/\/$/, "")}/materials`;
  if (!sameOrigin(s.reviewUrl)) {
    // A CA whose upload page lives elsewhere: send the user there.
    return el("p", {}, el("a", { href: s.reviewUrl, target: "_blank", rel: "noopener",
      id: "unlock-review-link" }, t("unlock.upload.submit")));
  }
  const kind = el("select", { name: "kind", id: "unlock-kind" },
    el("option", { value: "business-licence" }, t("unlock.upload.licence")),
    el("option", { value: "id-copy" }, t("unlock.upload.id")));
  const file = el("input", { type: "file", name: "file", id: "unlock-file",
    accept: "image/png,image/jpeg,application/pdf", required: true });
  const form = el("form", { class: "form", id: "unlock-upload-form", method: "post",
    action, enctype: "multipart/form-data",
    onsubmit: async (e) => {
      e.preventDefault();
      const f = file.files?.[0];
      if (!f) {
        show("#unlock-result", warnBox(t("unlock.upload.none")));
        return;
      }
      if (f.size > MATERIAL_MAX) {
        show("#unlock-result", warnBox(t("unlock.upload.tooBig")));
        return;
      }
      await withBusy($("#unlock-upload"), "#unlock-result", async () => {
        const data = new FormData();
        data.append("kind", kind.value);
        data.append("file", f, f.name);
        // The CA's own upload endpoint (same origin as this page); ukeyd is
        // not involved: the materials go to the CA only.
        const resp = await fetch(action, { method: "POST", body: data,
          headers: { Accept: "application/json", "Accept-Language": acceptLanguage() } });
        if (!resp.ok) {
          let p = null;
          try { p = await resp.json(); } catch { p = null; }
          const e = p?.code ? new ApiError("problem", { status: resp.status, problem: p })
            : new ApiError("http", { status: resp.status });
          e.source = "ca";                  // the CA's refusal, in the page's words
          throw e;
        }
        unlock.uploaded = true;
        show("#unlock-result", null);
        setSession(await api.unlockSession(unlock.sid));
      });
    } },
  el("label", {}, el("span", {}, t("unlock.upload.kind")), kind),
  el("label", {}, el("span", {}, t("unlock.upload.file")), fileField(file)),
  el("button", { type: "submit", id: "unlock-upload", class: "primary" }, t("unlock.upload.submit")));
  return form;
}

function unlockCodeForm() {
  const code = el("input", { type: "text", id: "unlock-code", inputmode: "numeric",
    maxlength: 6, pattern: "[0-9]{6}", autocomplete: "one-time-code", required: true });
  return el("form", { class: "form", id: "unlock-code-form", autocomplete: "off",
    onsubmit: async (e) => {
      e.preventDefault();
      await withBusy($("#unlock-verify-code"), "#unlock-result", async () => {
        const r = await api.verifyUnlockCode(unlock.sid, code.value.trim());
        show("#unlock-result", null);
        setSession(r?.state ? r : await api.unlockSession(unlock.sid));
      });
    } },
  el("label", {}, el("span", {}, t("unlock.unlockCode")), code),
  el("button", { type: "submit", id: "unlock-verify-code", class: "primary" }, t("unlock.authenticate")));
}

function renderUnlockPin(token) {
  const p1 = el("input", { type: "password", id: "unlock-new-pin", autocomplete: "new-password", required: true });
  const p2 = el("input", { type: "password", id: "unlock-new-pin-again", autocomplete: "new-password", required: true });
  return [el("form", { class: "form", id: "unlock-pin-form", autocomplete: "off",
    onsubmit: async (e) => {
      e.preventDefault();
      const problem = newPinProblem(token?.pin, p1.value, p2.value);
      if (problem) {
        show("#unlock-result", warnBox(problem));
        return;
      }
      await withBusy($("#unlock-complete"), "#unlock-result", async () => {
        const r = await api.completeUnlock(unlock.sid, p1.value);
        p1.value = "";
        p2.value = "";
        unlock.done = true;
        if (r?.state) unlock.session = r;
        saveUnlock();
        show("#unlock-result", null);
        renderUnlock();
        await afterPinOperation(unlock.tokenId, undefined);
      });
    } },
  el("label", {}, el("span", {}, t("unlock.newPin")), p1),
  el("label", {}, el("span", {}, t("unlock.newPinAgain")), p2),
  el("p", { class: "policy-inline" }, pinRuleWords(token?.pin)),
  el("button", { type: "submit", id: "unlock-complete", class: "primary" }, t("unlock.complete")))];
}

function renderUnlockDone() {
  return [el("div", { class: "msg ok big", id: "unlock-done" }, t("unlock.done")),
    el("button", { type: "button", id: "unlock-again", onclick: () => resetUnlock() }, t("unlock.again"))];
}

function renderUnlockExpired() {
  return [warnBox(t("unlock.expired")),
    el("button", { type: "button", id: "unlock-restart", onclick: () => resetUnlock() }, t("unlock.again"))];
}

// --- the environment ---------------------------------------------------------------

async function loadEnvironment() {
  try {
    state.env = await api.environment();
    state.envAvailable = true;
  } catch (err) {
    if (err instanceof ApiError && err.kind === "problem" &&
        (err.code === "NOT_FOUND" || err.status === 404 || err.status === 405)) {
      state.envAvailable = false;
      if (state.tab === "env") selectTab("certs");
    } else if (err instanceof ApiError && err.kind === "http" && err.status === 404) {
      state.envAvailable = false;
    } else if (state.envAvailable) {
      show("#env-result", errorBox(err));
    }
  }
  renderEnv();
}

// The checks' headings in the page's words: ukeyd's titles name the parts
// (pcscd, systemd, CCID), which support reads in the folded details.
const CHECK_NAMES = {
  "system.os": "check.os", "system.ukeyd": "check.ukeyd", "clock.skew": "check.clock",
  "network.ca-service": "check.network", "pcsc.service": "check.cardService",
  "pcsc.readers": "check.readers", "pcsc.tokens": "check.tokens", "pcsc.systemd": "check.autostart",
  "pcsc.drivers": "check.driver", "browser.local-network": "check.browser",
};
function checkName(id, title, details) {
  if (CHECK_NAMES[id]) return t(CHECK_NAMES[id]);
  if (id.startsWith("token.")) {
    // One check per key: named as the key picker names it.
    const tk = state.tokens.find((x) => x.id === (details?.tokenId ?? id.slice("token.".length)));
    const who = tk ? tokenName(tk) : details?.serial;
    return who ? t("check.tokenOf", { who }) : t("check.token");
  }
  return title;
}

// The service's inner workings (pcscd, its systemd unit, the CCID driver)
// mean nothing to a user while they work: their findings wait in 查看详情.
const QUIET_WHEN_OK = ["pcsc.service", "pcsc.systemd", "pcsc.drivers"];

// The clock as the user's own clock shows it (ukeyd's words name the zone,
// "Etc/UTC", which a user does not say).
function clockWords(c) {
  const local = c.id === "clock.skew" ? c.details?.localTime : null;
  if (typeof local !== "string") return null;
  const skew = c.details.skewSeconds;
  return typeof skew === "number"
    ? t("check.clock.skew", { time: localTime(local), n: Math.abs(skew) })
    : t("check.clock.alone", { time: localTime(local) });
}

function checksOf(env) {
  const list = Array.isArray(env?.checks) ? env.checks : [];
  return list.map((c) => ({
    id: c.id ?? c.name ?? "",
    title: c.title ?? c.label ?? c.name ?? c.id ?? "",
    name: checkName(c.id ?? "", c.title ?? c.label ?? c.name ?? c.id ?? "", c.details),
    details: c.details && typeof c.details === "object" ? c.details : null,
    detail: clockWords(c) ?? c.found ?? c.detail ?? c.message ?? "",
    state: c.state ?? c.status ?? c.result ?? "",
    hint: c.hint ?? c.fix ?? c.fixHint ?? "",
    repairable: c.repairable ?? false,
  }));
}

function renderEnv() {
  $("#tab-env").hidden = state.envAvailable !== true;
  if (state.envAvailable !== true) return;
  const checks = checksOf(state.env);
  const known = ["ok", "warn", "fail", "skip"];
  const sum = state.env?.summary;
  $("#env-checks").replaceChildren(
    sum ? el("p", { class: `env-summary ${state.env.state ?? ""}`, id: "env-summary" },
      t("env.summary", { ok: sum.ok ?? 0, warn: sum.warn ?? 0, fail: sum.fail ?? 0 })) : "",
    el("ul", { class: "checks" }, checks.map((c) => el("li",
      { class: `check ${c.state}`, "data-check": c.id, "data-state": c.state },
      el("span", { class: "state" }, known.includes(c.state) ? t(`env.${c.state}`) : c.state),
      el("div", {},
        el("strong", { class: "check-name" }, c.name),
        c.detail && !(c.state === "ok" && QUIET_WHEN_OK.includes(c.id))
          ? el("p", { class: "found" }, c.detail) : null,
        c.hint && c.state !== "ok" ? el("p", { class: "hint" }, t("env.hint", { hint: c.hint })) : null,
        el("details", { class: "for-support" }, el("summary", {}, t("env.details")),
          el("p", {}, `${c.title} (${c.id})`),
          c.detail ? el("p", {}, c.detail) : null,
          c.details ? el("dl", {}, detailLines(c.details).map(([k, v]) => row(k, v))) : null))))));
}

// A check's machine-readable details as lines for people: "key: value".
function detailLines(details, prefix = "") {
  return Object.entries(details).flatMap(([k, v]) => {
    if (Array.isArray(v) && v.some((x) => x && typeof x === "object")) {
      return v.flatMap((x, i) => (x && typeof x === "object" ? detailLines(x, `${prefix}${k}[${i + 1}].`)
        : [[`${prefix}${k}[${i + 1}]`, String(x)]]));
    }
    if (v && typeof v === "object" && !Array.isArray(v)) return detailLines(v, `${prefix}${k}.`);
    const text = Array.isArray(v) ? v.join(", ") : v === null ? "—" : String(v);
    return [[`${prefix}${k}`, text]];
  });
}

// --- 客服中心: the hotline, and the report support asks for -------------------------

function renderSupport() {
  const hotline = $("#support-hotline");
  hotline.replaceChildren(config.hotline
    ? el("p", { class: "hotline" }, t("support.hotline"), el("strong", { id: "hotline-number" }, config.hotline))
    : el("p", {}, t("support.noHotline")));
  $("#support-version").textContent = t("support.version", {
    installed: state.version ?? "—", required: config.minUkeydVersion });
}

// The environment report as a text file support can read: what the page and
// ukeyd know of this machine and its keys. No PIN or code is in it: ukeyd
// never reports them.
function reportText(env, status) {
  const lines = [t("report.title"), ""];
  const add = (label, value) => lines.push(`${label}: ${value ?? "—"}`);
  add(t("report.time"), localTime(new Date().toISOString()) + ` (${Intl.DateTimeFormat().resolvedOptions().timeZone})`);
  add(t("report.site"), location.origin);
  add(t("report.browser"), navigator.userAgent);
  add(t("report.ukeyd"), status?.version ?? state.version);
  add(t("report.required"), config.minUkeydVersion);
  if (state.update) lines.push(t("update.body", { installed: state.update.installed, required: state.update.required }));
  lines.push("", `== ${t("report.checks")} ==`);
  if (env?.summary) lines.push(t("env.summary", { ok: env.summary.ok ?? 0, warn: env.summary.warn ?? 0, fail: env.summary.fail ?? 0 }));
  for (const c of checksOf(env)) {
    lines.push("", `[${t(`env.${c.state}`)}] ${c.name} — ${c.title} (${c.id})`);
    if (c.detail) lines.push(`  ${t("report.found")}: ${c.detail}`);
    if (c.hint) lines.push(`  ${t("report.hint")}: ${c.hint}`);
    if (c.details) for (const [k, v] of detailLines(c.details)) lines.push(`  ${k}: ${v}`);
  }
  lines.push("", `== ${t("report.tokens")} ==`);
  if (state.tokens.length === 0) lines.push(t("certs.none"));
  for (const tk of state.tokens) {
    lines.push("", `${tk.model ?? tk.edge ?? "—"} · ${tk.reader}`);
    add(`  ${t("token.serial")}`, tk.serial);
    const pin = tk.pin ?? {};
    add(`  ${t("token.pin")}`, pin.blocked ? t("token.blocked")
      : typeof pin.triesLeft === "number" ? t("token.triesLeft", { n: pin.triesLeft }) : t("token.triesUnknown"));
    for (const c of tk.certificates ?? []) {
      if (!c.decoded) continue;
      lines.push(`  ${certLabel(c)}: ${c.subject?.commonName ?? "—"} · ${t("cert.serial")} ${c.serial ?? "—"} · ` +
        `${localDay(c.notBefore)} — ${localDay(c.notAfter)} (${c.slot})`);
    }
  }
  return `${lines.join("\r\n")}\r\n`;
}

async function exportReport(button) {
  await withBusy(button, "#support-result", async () => {
    const [env, status] = await Promise.all([api.environment(), api.status().catch(() => null)]);
    const now = new Date();
    const stamp = `${now.getFullYear()}${pad2(now.getMonth() + 1)}${pad2(now.getDate())}-` +
      `${pad2(now.getHours())}${pad2(now.getMinutes())}${pad2(now.getSeconds())}`;
    // A byte-order mark: Windows Notepad then reads the Chinese as UTF-8.
    const blob = new Blob(["\ufeff", reportText(env, status)], { type: "text/plain;charset=utf-8" });
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: `${t("report.file")}-${stamp}.txt` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    show("#support-result", okBox(t("report.saved")));
  });
}

// --- tabs and the whole page ----------------------------------------------------------

function selectTab(name) {
  if (!TABS.includes(name) || (name === "env" && state.envAvailable !== true)) name = "certs";
  state.tab = name;
  for (const b of $$("[role=tab]")) {
    const on = b.dataset.tab === name;
    b.setAttribute("aria-selected", on ? "true" : "false");
    b.classList.toggle("active", on);
  }
  for (const tab of TABS) $(`#panel-${tab}`).hidden = tab !== name;
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  if (name === "env" && state.envAvailable) loadEnvironment();
  if (name === "unlock") {
    pollUnlockIfWaiting();
  }
  certPages.onTabShown(name);
}

function renderAll() {
  applyStaticText();
  renderStatus();
  renderCerts();
  renderPickers();
  renderUnlock();
  renderEnv();
  renderUpdate();
  renderSupport();
  certPages.render();
  document.body.dataset.ready = state.conn === "checking" ? "no" : "yes";
}

// The certificate business and the personal centre (cert-pages.js), drawn
// with this page's helpers.
const certPages = createCertPages({
  api, ca, state, el, $, $$, t, show, errorBox, okBox, warnBox, withBusy, pinOperation, policyText,
  localDay, localTime, money, certLabel, slotLabel, fileField,
  afterPinOperation, refreshPinAfterError, selectTab, onTokenChange,
  refreshTokens: () => scheduleRefresh(),
});

function init() {
  setLanguage(initialLanguage());
  $("#lang-switch").addEventListener("click", switchLanguage);
  for (const b of $$("[role=tab]")) b.addEventListener("click", () => selectTab(b.dataset.tab));
  $("#verify-form").addEventListener("submit", onVerify);
  $("#change-form").addEventListener("submit", onChange);
  $("#support-export").addEventListener("click", (e) => exportReport(e.currentTarget));
  $("#env-run").addEventListener("click", (e) => withBusy(e.currentTarget, "#env-result", async () => {
    show("#env-result", null);
    await loadEnvironment();
  }));
  $("#env-repair").addEventListener("click", (e) => withBusy(e.currentTarget, "#env-result", async () => {
    show("#env-result", el("div", { class: "msg busy" }, t("busy")));
    const r = await api.repairEnvironment();
    // The answer: what each repair step did, and the checks run again.
    if (r?.environment?.checks) state.env = r.environment;
    else await loadEnvironment();
    renderEnv();
    const steps = Array.isArray(r?.steps) ? r.steps : [];
    show("#env-result", el("div", { class: "msg ok", id: "env-repaired" },
      el("strong", { class: "title" }, t("env.repaired")),
      steps.length ? el("ul", { class: "steps-done" }, steps.map((st) => el("li",
        { "data-step": st.id, "data-state": st.state },
        st.message ?? st.id, st.command ? el("code", {}, ` ${st.command}`) : null))) : null));
  }));
  // Back from the payment tab: look at once rather than at the next poll.
  window.addEventListener("focus", () => {
    if (unlock.sid && unlock.session?.state === "awaiting-payment") {
      api.unlockSession(unlock.sid).then(setSession, () => {});
    }
    certPages.onFocus();
  });
  renderAll();
  selectTab(location.hash.slice(1) || "certs");
  refresh().then(resumeUnlock);
}

init();
