// SPDX-License-Identifier: MIT
//
// The portal's certificate business: 证书变更 (change the details), 证书延期
// (renewal: a new key pair and validity), 证书重装 (reinstall), 证书下载 (the
// first certificate of a token that has none), and 个人中心, the personal
// centre listing the token's requests and their states.
//
// One flow per kind, for the token picked: the user files a request with the
// CA (ca-portal.js: details, materials), pays when it is charged (the CA's
// /pay/{order} page with its invoice form), waits for the review (the page
// asks the CA every couple of seconds), and once approved has ukeyd write the
// new certificate to the token (ukeyd-client.js carryOutCertAction, the PIN
// when the action makes a new key pair). The phase shown is derived from what
// the CA and ukeyd say now, so a reload, another tab or a pulled token never
// leaves the page behind.
//
// app.js owns the page; it hands in its helpers (ctx) and calls render(),
// onEvent(), onTabShown() and onTokenChange().

export const CERT_TABS = ["cert-change", "cert-renewal", "cert-reinstall", "cert-issue", "account"];

const KINDS = {
  change: { tab: "cert-change", details: true, materials: true },
  renewal: { tab: "cert-renewal", details: false, materials: false },
  reinstall: { tab: "cert-reinstall", details: false, materials: false },
  issue: { tab: "cert-issue", details: true, materials: true },
};
const KIND_OF_TAB = Object.fromEntries(Object.entries(KINDS).map(([k, v]) => [v.tab, k]));
const STANDARD_SLOTS = ["9a", "9c", "9d", "9e"];
const OPEN_STATES = ["awaiting-payment", "submitted", "under-review", "approved"];
const WAITING_STATES = ["awaiting-payment", "submitted", "under-review"];
const POLL_MS = 2000;
const MATERIAL_MAX = 2 * 1024 * 1024;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
// The subject attributes a change may touch, as ukeyd names them
// (OpenSSL short names) and as the CA's request names them.
const FIELDS = [
  { key: "organization", attr: "O", label: "certop.field.o" },
  { key: "organizationalUnit", attr: "OU", label: "certop.field.ou" },
  { key: "commonName", attr: "CN", label: "certop.field.cn" },
  { key: "email", attr: "emailAddress", label: "certop.field.email" },
];
// Codes for which the page adds what to do next under the problem's own words.
const HINTED = ["CERT_SERVICE_UNAVAILABLE", "CERT_ACTION_NOT_FOUND", "CERT_ACTION_NOT_READY",
  "CERT_INVALID", "MANAGEMENT_AUTH_FAILED", "TOKEN_WRITE_FAILED", "TOKEN_FULL",
  "OPERATION_NOT_SUPPORTED", "CERT_ROOTS_NOT_CONFIGURED", "TOKEN_REMOVED", "TOKEN_NOT_FOUND",
  "PIN_BLOCKED", "TOKEN_BUSY"];

export function createCertPages(ctx) {
  const { api, ca, state, el, $, t, show, errorBox, okBox, warnBox, withBusy, pinOperation } = ctx;

  const data = new Map();        // tokenId → { requests, actions, caErr, ukeydErr }
  const loading = new Map();     // tokenId → the load in flight
  const drafts = {};             // "kind token" → what the user typed: { slot, fields, matKind, file }
  const writing = {};            // kind → true while ukeyd writes
  const done = {};               // kind → { tokenId, number, slot, certificate }
  const rendered = {};           // panel → the key it was last drawn for
  const shownPhase = {};         // kind → the phase last drawn
  let pollTimer = 0;

  const selected = () => state.tokens.find((tk) => tk.id === state.selected) ?? null;
  const draft = (kind, tokenId = state.selected) =>
    (drafts[`${kind} ${tokenId}`] ??= { slot: null, fields: {}, matKind: "business-licence", file: null });
  const visibleTab = () => (CERT_TABS.includes(state.tab) ? state.tab : null);

  // --- what the CA and ukeyd say ------------------------------------------------

  async function load(tokenId) {
    if (!tokenId) return;
    if (loading.has(tokenId)) return loading.get(tokenId);
    const p = (async () => {
      const [reqs, acts] = await Promise.allSettled([ca.requests(tokenId), api.certActions(tokenId)]);
      const d = data.get(tokenId) ?? {};
      if (reqs.status === "fulfilled") {
        d.requests = Array.isArray(reqs.value?.requests) ? reqs.value.requests : [];
        d.caErr = null;
      } else {
        d.caErr = reqs.reason;
      }
      if (acts.status === "fulfilled") {
        d.actions = Array.isArray(acts.value?.actions) ? acts.value.actions : [];
        d.ukeydErr = null;
      } else {
        d.actions = d.actions ?? [];
        d.ukeydErr = acts.reason;
      }
      data.set(tokenId, d);
    })();
    loading.set(tokenId, p);
    try {
      await p;
    } finally {
      loading.delete(tokenId);
    }
    render();
    schedulePoll();
  }

  // While a request waits for payment or review, or an approved one has not
  // reached ukeyd yet, ask again in a moment; only while a page of ours shows.
  function schedulePoll() {
    clearTimeout(pollTimer);
    const token = selected();
    if (!token || !visibleTab()) return;
    const d = data.get(token.id);
    const waiting = d?.requests?.some((r) => WAITING_STATES.includes(r.state) ||
      (r.state === "approved" && !d.actions?.some((a) => a.number === r.number)));
    if (waiting || d?.caErr || d?.ukeydErr) pollTimer = setTimeout(() => load(token.id), POLL_MS);
  }

  // --- phases ---------------------------------------------------------------------

  function currentCert(token, slot) {
    return token.certificates?.find((c) => c.slot === slot && c.decoded) ?? null;
  }

  // An SKF key's certificates are named by container ("DEMO_SM2.sign"): it
  // has no PIV slots to offer beyond those it holds.
  function standardSlots(token) {
    return token.edge === "SKF" ? [] : STANDARD_SLOTS;
  }

  function slotChoices(kind, token) {
    const present = (token.certificates ?? []).filter((c) => c.decoded).map((c) => c.slot);
    if (kind === "change" || kind === "renewal") return present;
    if (kind === "issue") return standardSlots(token).filter((s) => !present.includes(s));
    return [...new Set([...present, ...standardSlots(token)])];
  }

  function slotOf(kind, token) {
    const choices = slotChoices(kind, token);
    const want = draft(kind, token.id).slot;
    if (want && choices.includes(want)) return want;
    // A reinstall is offered first for the signing slot when its
    // certificate is missing.
    if (kind === "reinstall" && token.edge !== "SKF" && !currentCert(token, "9a")) return "9a";
    return choices[0] ?? null;
  }

  function phaseOf(kind, token) {
    const d = data.get(token.id);
    if (done[kind]?.tokenId === token.id) {
      return { phase: "done", ...done[kind], request: d?.requests?.find((r) => r.number === done[kind].number) ?? null };
    }
    if (!d) return { phase: "loading" };
    const action = d.actions?.find((a) => a.kind === kind);
    const request = d.requests?.find((r) => r.kind === kind) ?? null;   // the newest
    if (action) {
      return { phase: writing[kind] ? "writing" : "write", action,
        request: d.requests?.find((r) => r.number === action.number) ?? null };
    }
    if (request && OPEN_STATES.includes(request.state)) {
      if (request.state === "awaiting-payment") return { phase: "pay", request };
      if (request.state === "approved") return { phase: "approved", request };
      return { phase: "review", request };
    }
    return { phase: "form", rejected: request?.state === "rejected" ? request : null };
  }

  // --- rendering -------------------------------------------------------------------

  function feeRequired(fee) {
    return Boolean(fee && Number(fee.amount) > 0);
  }

  function steps(kind, ph) {
    const fee = ph.request?.fee ?? null;
    const list = [["form", t(KINDS[kind].details ? "certop.step.form" : "certop.step.confirm")]];
    if (feeRequired(fee)) list.push(["pay", t("certop.step.pay")]);
    list.push(["review", t("certop.step.review")], ["write", t("certop.step.write")],
      ["done", t("certop.step.done")]);
    const at = { form: 0, pay: 1, review: 2, approved: 3, write: 3, writing: 3, done: 4 }[ph.phase] ?? 0;
    const order = ["form", "pay", "review", "write", "done"];
    return list.map(([key, label]) => {
      const i = order.indexOf(key);
      // Reaching the last step is being done: drawn as done, not as current.
      const finished = i < at || ph.phase === "done";
      return el("li", { class: finished ? "done" : i === at ? "current" : "", "data-step": key }, label);
    });
  }

  function attr(cert, name) {
    return cert?.subject?.attributes?.find((a) => a.name === name)?.value ?? null;
  }

  function certRows(token, cert, idPrefix) {
    const owner = cert.subject?.commonName ?? cert.subject?.display ?? "—";
    const day = ctx.localDay;
    return el("dl", { class: "cert-details", id: idPrefix },
      row(t("cert.owner"), owner, "owner-row"),
      row(t("cert.org"), attr(cert, "O") ?? "—", "org-row"),
      attr(cert, "OU") ? row(t("certop.field.ou"), attr(cert, "OU"), "ou-row") : null,
      attr(cert, "emailAddress") ? row(t("certop.field.email"), attr(cert, "emailAddress"), "email-row") : null,
      row(t("cert.serial"), cert.serial ?? "—", "serial-row"),
      row(t("cert.validity"), `${day(cert.notBefore)} — ${day(cert.notAfter)}`, "validity-row"),
      row(t("cert.type"), cert.keyAlgorithm ?? cert.keyType ?? "—", "type-row"),
      row(t("cert.issuer"), cert.issuer?.commonName ?? cert.issuer?.display ?? "—", "issuer-row"),
      row(t("cert.usage"), ctx.certLabel(cert), "slot-row"));
  }

  function row(label, value, cls) {
    return el("div", { class: `row ${cls}` }, el("dt", {}, label), el("dd", {}, value));
  }

  function kindName(kind) {
    return t(`certop.kind.${kind}`);
  }

  function stateName(st) {
    return t(`certop.state.${st}`) === `certop.state.${st}` ? st : t(`certop.state.${st}`);
  }

  function feeText(fee) {
    return feeRequired(fee) ? ctx.money(fee.amount, fee.currency ?? "CNY") : t("certop.free");
  }

  // A problem, with what to do next when the page knows better than "failed".
  function problemBox(err) {
    const box = errorBox(err);
    const code = err?.code;
    if (code && HINTED.includes(code)) box.append(el("span", { class: "hint" }, t(`certop.hint.${code}`)));
    return box;
  }

  function renderKind(kind) {
    const panel = $(`#panel-${KINDS[kind].tab}`);
    if (!panel) return;
    const body = $(`#${KINDS[kind].tab}-body`);
    const stepsBox = $(`#${KINDS[kind].tab}-steps`);
    const pinBox = $(".pin-state", panel);
    const token = selected();
    if (!token || state.conn !== "ok") {
      rendered[kind] = null;
      body.replaceChildren();
      stepsBox.replaceChildren();
      if (pinBox) pinBox.hidden = true;
      return;
    }
    const ph = phaseOf(kind, token);
    const slot = slotOf(kind, token);
    const d = data.get(token.id);
    // Redraw only when something the user sees changed: a redraw would
    // throw away the focus and half-typed input.
    const key = JSON.stringify([t("app.title"), token.id, slot, ph, d?.caErr?.code ?? d?.caErr?.kind ?? null,
      d?.ukeydErr?.code ?? d?.ukeydErr?.kind ?? null,
      (token.certificates ?? []).map((c) => c.serial), token.pin?.triesLeft, token.pin?.blocked]);
    if (pinBox) pinBox.hidden = !((ph.phase === "write" || ph.phase === "writing") && ph.action?.needsPin);
    if (rendered[kind] === key) return;
    rendered[kind] = key;
    body.dataset.phase = ph.phase;
    // A message about the last step is stale once the flow has moved on;
    // the write's own outcome stays (it is shown as writing ends).
    if (shownPhase[kind] && shownPhase[kind] !== ph.phase &&
        !["write", "writing"].includes(ph.phase)) show(`#${KINDS[kind].tab}-result`, null);
    shownPhase[kind] = ph.phase;
    stepsBox.replaceChildren(...(ph.phase === "loading" ? [] : steps(kind, ph)));
    const draw = {
      loading: () => [el("div", { class: "msg busy" }, t("busy"))],
      form: () => formPhase(kind, token, slot, ph),
      pay: () => payPhase(kind, token, ph.request),
      review: () => reviewPhase(kind, token, ph.request),
      approved: () => approvedPhase(kind, token, ph.request),
      write: () => writePhase(kind, token, ph),
      writing: () => writingPhase(kind, token, ph),
      done: () => donePhase(kind, token, ph),
    }[ph.phase];
    body.replaceChildren(...draw().filter(Boolean));
  }

  // --- the request form ------------------------------------------------------------

  function formPhase(kind, token, slot, ph) {
    const nodes = [];
    const d = data.get(token.id);
    if (d?.caErr) nodes.push(problemBox(d.caErr));
    if (ph.rejected) {
      nodes.push(el("div", { class: "msg warn", id: `${KINDS[kind].tab}-rejected`, "data-state": "rejected" },
        t("certop.rejectedBefore", { number: ph.rejected.number, reason: ph.rejected.reason ?? "" })));
    }
    const choices = slotChoices(kind, token);
    if (!slot) {
      nodes.push(el("p", { class: "empty" }, t(kind === "issue" ? "certop.issue.full" : "certop.noCert")));
      if (kind !== "issue") {
        nodes.push(el("button", { type: "button", class: "link", onclick: () => openFor("issue", token.id) },
          t("certop.kind.issue")));
      }
      return nodes;
    }
    const cert = currentCert(token, slot);
    const dr = draft(kind, token.id);
    const slotSelect = el("select", { id: `${KINDS[kind].tab}-slot`, onchange: (e) => {
      dr.slot = e.target.value;
      dr.fields = {};
      render();
    } }, choices.map((s) => {
      const c = currentCert(token, s);
      const words = `${ctx.slotLabel(s)} · ${c ? c.subject?.commonName ?? "" : t("certop.missing")}`;
      return el("option", { value: s, selected: s === slot }, words);
    }));
    nodes.push(el("label", { class: "slot-pick" }, el("span", {}, t("certop.slot")), slotSelect));
    if (cert) {
      nodes.push(el("h3", { class: "sub" }, t("certop.current")), certRows(token, cert, `${KINDS[kind].tab}-current`));
    } else if (kind === "reinstall") {
      nodes.push(warnBox(t("certop.reinstall.missing", { slot: ctx.slotLabel(slot) })));
    }
    nodes.push(el("p", { class: "muted" }, t(`certop.${kind}.about`)));
    const form = el("form", { class: "form", id: `${KINDS[kind].tab}-form`, autocomplete: "off",
      onsubmit: (e) => { e.preventDefault(); submit(kind, token, slot, cert); } });
    if (KINDS[kind].details) {
      form.append(el("h3", { class: "sub" }, t(kind === "issue" ? "certop.details.issue" : "certop.details.change")));
      for (const f of FIELDS) {
        const input = el("input", { type: f.key === "email" ? "email" : "text", id: `${KINDS[kind].tab}-${f.key}`,
          name: f.key, maxlength: 64, required: kind === "issue" && f.key === "commonName" });
        input.value = dr.fields[f.key] ?? attr(cert, f.attr) ?? "";
        input.addEventListener("input", () => { dr.fields[f.key] = input.value; });
        form.append(el("label", {}, el("span", {}, t(f.label)), input));
      }
    }
    if (KINDS[kind].materials) form.append(...materialFields(kind, dr));
    form.append(el("div", { class: "actions" },
      el("button", { type: "submit", id: `${KINDS[kind].tab}-submit`, class: "primary" }, t("certop.submit"))));
    nodes.push(form);
    return nodes;
  }

  function materialFields(kind, dr) {
    const sel = el("select", { id: `${KINDS[kind].tab}-matkind`, name: "kind",
      onchange: (e) => { dr.matKind = e.target.value; } },
    ["business-licence", "id-copy", "letter"].map((k) =>
      el("option", { value: k, selected: dr.matKind === k }, t(`certop.material.${k}`))));
    const file = el("input", { type: "file", id: `${KINDS[kind].tab}-file`, name: "file",
      accept: "image/png,image/jpeg,application/pdf" });
    if (dr.file) {
      // Keep the chosen file across a redraw (e.g. a language switch).
      try {
        const dt = new DataTransfer();
        dt.items.add(dr.file);
        file.files = dt.files;
      } catch {
        dr.file = null;
      }
    }
    file.addEventListener("change", () => { dr.file = file.files?.[0] ?? null; });
    return [el("h3", { class: "sub" }, t("certop.materials")),
      el("label", {}, el("span", {}, t("unlock.upload.kind")), sel),
      el("label", {}, el("span", {}, t("unlock.upload.file")), ctx.fileField(file))];
  }

  function detailsFor(kind, token, cert) {
    const dr = draft(kind, token.id);
    const details = {};
    for (const f of FIELDS) {
      const v = (dr.fields[f.key] ?? attr(cert, f.attr) ?? "").trim();
      if (v) details[f.key] = v;
    }
    return details;
  }

  function checkForm(kind, token, cert, details) {
    const dr = draft(kind, token.id);
    if (KINDS[kind].details) {
      if (details.email && !EMAIL.test(details.email)) return t("certop.badEmail");
      if (kind === "change" && FIELDS.every((f) => (details[f.key] ?? "") === (attr(cert, f.attr) ?? ""))) {
        return t("certop.nothingChanged");
      }
    }
    if (KINDS[kind].materials) {
      if (!dr.file) return t("unlock.upload.none");
      if (dr.file.size > MATERIAL_MAX) return t("unlock.upload.tooBig");
    }
    return null;
  }

  async function submit(kind, token, slot, cert) {
    const result = `#${KINDS[kind].tab}-result`;
    const details = KINDS[kind].details ? detailsFor(kind, token, cert) : undefined;
    const wrong = checkForm(kind, token, cert, details);
    if (wrong) {
      show(result, warnBox(wrong));
      return;
    }
    show(result, el("div", { class: "msg busy" }, t("busy")));
    await withBusy($(`#${KINDS[kind].tab}-submit`), result, async () => {
      const body = { tokenId: token.id, kind, slot, certSerial: cert?.serial ?? null };
      if (details) body.details = details;
      const r = await ca.createRequest(body);
      const dr = draft(kind, token.id);
      // Filed: whatever happens to the upload, the form is done with (a
      // failed upload is offered again beside the request's state).
      drafts[`${kind} ${token.id}`] = null;
      try {
        if (dr.file) await ca.uploadMaterial(r.number, dr.matKind, dr.file);
      } finally {
        await load(token.id);
      }
      show(result, okBox(t("certop.submitted", { number: r.number })));
    });
  }

  // --- payment and review -------------------------------------------------------------

  function payPhase(kind, token, request) {
    return [
      el("div", { class: "fee" },
        el("p", { class: "amount", id: `${KINDS[kind].tab}-fee` },
          t("certop.fee", { kind: kindName(kind), amount: ctx.money(request.fee?.amount, request.fee?.currency ?? "CNY") })),
        el("p", { class: "muted" }, t("certop.number", { number: request.number })),
        el("p", { class: "muted" }, t("unlock.invoice"))),
      el("div", { class: "actions" },
        request.paymentUrl ? el("button", { type: "button", id: `${KINDS[kind].tab}-pay`, class: "primary",
          onclick: () => {
            // The CA's payment page with its invoice form, in a tab of its
            // own; this page keeps asking the CA whether it is paid.
            window.open(request.paymentUrl, "ukeyd-payment");
            show(`#${KINDS[kind].tab}-result`, el("p", { class: "msg info" }, t("unlock.payWaiting")));
            schedulePoll();
          } }, t("unlock.pay")) : null,
        el("button", { type: "button", id: `${KINDS[kind].tab}-paid`, onclick: async (e) => {
          await withBusy(e.currentTarget, `#${KINDS[kind].tab}-result`, async () => {
            await load(token.id);
            const now = phaseOf(kind, token);
            show(`#${KINDS[kind].tab}-result`, now.phase === "pay" ? warnBox(t("unlock.stillUnpaid")) : null);
          });
        } }, t("unlock.paid"))),
      moreMaterial(kind, token, request),
    ];
  }

  // A further document for a filed request (or the one whose upload failed).
  function moreMaterial(kind, token, request) {
    if (!KINDS[kind].materials) return null;
    const tab = KINDS[kind].tab;
    const dr = { matKind: "business-licence", file: null };
    const form = el("form", { class: "form more-material", id: `${tab}-more`, autocomplete: "off",
      onsubmit: async (e) => {
        e.preventDefault();
        if (!dr.file) {
          show(`#${tab}-result`, warnBox(t("unlock.upload.none")));
          return;
        }
        if (dr.file.size > MATERIAL_MAX) {
          show(`#${tab}-result`, warnBox(t("unlock.upload.tooBig")));
          return;
        }
        await withBusy($(`#${tab}-more-submit`), `#${tab}-result`, async () => {
          await ca.uploadMaterial(request.number, dr.matKind, dr.file);
          show(`#${tab}-result`, okBox(t("certop.moreDone")));
          rendered[kind] = null;
          await load(token.id);
        });
      } },
    ...materialFields(kind, dr).slice(1),
    el("button", { type: "submit", id: `${tab}-more-submit` }, t("certop.moreSubmit")));
    return el("details", { class: "more" }, el("summary", {}, t("certop.more")), form);
  }

  function reviewPhase(kind, token, request) {
    const nodes = [el("div", { class: "msg info", id: `${KINDS[kind].tab}-state`, "data-state": request.state },
      t(request.state === "under-review" ? "certop.underReview" : "certop.waitingReview", { number: request.number }))];
    nodes.push(moreMaterial(kind, token, request));
    nodes.push(el("p", {}, el("button", { type: "button", class: "link", onclick: () => ctx.selectTab("account") },
      t("certop.seeAccount"))));
    return nodes;
  }

  function approvedPhase(kind, token, request) {
    const d = data.get(token.id);
    const nodes = [el("div", { class: "msg ok", id: `${KINDS[kind].tab}-state`, "data-state": "approved" },
      t("certop.approved", { number: request.number }))];
    // Approved at the CA, yet ukeyd does not list it: ukeyd cannot reach the
    // CA (its own words), or it is a moment behind.
    if (d?.ukeydErr) nodes.push(problemBox(d.ukeydErr));
    else nodes.push(el("div", { class: "msg busy" }, t("certop.preparing")));
    return nodes;
  }

  // --- writing -------------------------------------------------------------------------

  // The new certificate's subject as the user knows it: holder, organisation,
  // department, e-mail; never the distinguished name itself.
  function subjectRows(subject) {
    const parts = {};
    for (const m of String(subject ?? "").matchAll(/(?:^|,)\s*([A-Za-z]+)=((?:\\.|[^,\\])*)/g)) {
      parts[m[1]] ??= m[2].replace(/\\(.)/g, "$1").trim();
    }
    const email = parts.emailAddress ?? parts.E;
    return [
      row(t("cert.owner"), parts.CN ?? "—", "subject-row owner-row"),
      parts.O ? row(t("cert.org"), parts.O, "org-row") : null,
      parts.OU ? row(t("certop.field.ou"), parts.OU, "ou-row") : null,
      email ? row(t("certop.field.email"), email, "email-row") : null,
    ];
  }

  // A pair (签名证书 and 加密证书 re-issued together) is one action: both named.
  function pairLabel(action) {
    const slots = action.certificates?.length ? action.certificates.map((c) => c.slot) : [action.slot];
    return slots.map((slot) => (ctx.slotLabel ? ctx.slotLabel(slot) : slot)).join(" + ");
  }

  function actionRows(action) {
    const day = ctx.localDay;
    return el("dl", { class: "cert-details", id: `action-${action.number}` },
      row(t("certop.numberLabel"), action.number, "number-row"),
      ...subjectRows(action.subject),
      row(t("cert.usage"), pairLabel(action), "slot-row"),
      row(t("certop.key"), action.keyPolicy === "new"
        ? t("certop.key.new", { alg: action.keyAlgorithm ?? "" }) : t("certop.key.keep"), "key-row"),
      action.expiresAt ? row(t("certop.until"), day(action.expiresAt), "until-row") : null);
  }

  function writePhase(kind, token, ph) {
    const { action } = ph;
    const tab = KINDS[kind].tab;
    const nodes = [el("div", { class: "msg ok", id: `${tab}-state`, "data-state": "approved" },
      t("certop.readyToWrite", { number: action.number }))];
    if (action.interrupted) nodes.push(warnBox(t("certop.interrupted")));
    nodes.push(actionRows(action));
    const form = el("form", { class: "form", id: `${tab}-write-form`, autocomplete: "off",
      onsubmit: (e) => { e.preventDefault(); write(kind, token, action); } });
    if (action.needsPin) {
      form.append(el("label", {}, el("span", {}, t("certop.pin")),
        el("input", { type: "password", id: `${tab}-pin`, autocomplete: "off", required: true })),
      el("p", { class: "policy-inline" }, ctx.policyText(token.pin)));
    }
    form.append(warnBox(t("certop.keepPlugged")),
      el("button", { type: "submit", id: `${tab}-write`, class: "primary", disabled: token.pin?.blocked && action.needsPin },
        t(action.interrupted ? "certop.resume" : "certop.write")));
    nodes.push(form);
    return nodes;
  }

  function writingPhase(kind, token, ph) {
    return [el("div", { class: "msg busy progress", id: `${KINDS[kind].tab}-progress`, role: "status" },
      el("strong", { class: "title" }, t("certop.writing")),
      el("span", { class: "detail" }, t(ph.action.keyPolicy === "new" ? "certop.writing.new" : "certop.writing.keep")),
      el("div", { class: "bar" }, el("span", {}))),
    actionRows(ph.action)];
  }

  async function write(kind, token, action) {
    const tab = KINDS[kind].tab;
    const input = $(`#${tab}-pin`);
    const pin = input?.value ?? undefined;
    if (action.needsPin && !pin) return;
    show(`#${tab}-result`, null);
    writing[kind] = true;
    render();
    try {
      const r = await pinOperation((last) => api.carryOutCertAction(token.id, action.number,
        { pin: action.needsPin ? pin : undefined, confirmLastTry: last }));
      writing[kind] = false;
      if (!r) {               // the user would not spend the last try
        rendered[kind] = null;
        render();
        return;
      }
      done[kind] = { tokenId: token.id, number: r.number ?? action.number, slot: r.slot ?? action.slot,
        certificate: r.certificate ?? null, others: (r.certificates ?? []).slice(1) };
      if (action.needsPin) await ctx.afterPinOperation(token.id, undefined);
    } catch (err) {
      writing[kind] = false;
      rendered[kind] = null;
      show(`#${tab}-result`, problemBox(err));
      if (err?.code?.startsWith?.("PIN_")) await ctx.refreshPinAfterError(token.id, err);
    }
    render();
    ctx.refreshTokens();
    await load(token.id);
  }

  function donePhase(kind, token, ph) {
    const tab = KINDS[kind].tab;
    const cert = ph.certificate ?? currentCert(token, ph.slot);
    // The other half of a pair, written with it: shown with it, as one.
    const others = (ph.others ?? []).map((o) => ({ slot: o.slot, cert: o.certificate ?? currentCert(token, o.slot) }))
      .filter((o) => o.cert);
    return [el("div", { class: "msg ok big", id: `${tab}-done` }, t("certop.done", { kind: kindName(kind) })),
      cert ? el("h3", { class: "sub" }, t("certop.newCert")) : null,
      cert ? certRows(token, cert, `${tab}-new`) : null,
      ...others.map((o) => certRows(token, o.cert, `${tab}-new-${o.slot}`)),
      el("div", { class: "actions" },
        el("button", { type: "button", id: `${tab}-finish`, onclick: () => {
          done[kind] = null;
          show(`#${tab}-result`, null);
          render();
        } }, t("certop.finish")),
        el("button", { type: "button", class: "link", onclick: () => ctx.selectTab("certs") }, t("tab.certs")))];
  }

  // --- the personal centre -------------------------------------------------------------

  function renderAccount() {
    const body = $("#account-body");
    if (!body) return;
    const token = selected();
    if (!token || state.conn !== "ok") {
      rendered.account = null;
      body.replaceChildren();
      return;
    }
    const d = data.get(token.id);
    const key = JSON.stringify([t("app.title"), token.id, d?.requests ?? null, d?.actions?.map((a) => a.number),
      d?.caErr?.code ?? d?.caErr?.kind ?? null]);
    if (rendered.account === key) return;
    rendered.account = key;
    const nodes = [];
    if (d?.caErr) nodes.push(problemBox(d.caErr));
    if (!d?.requests) {
      if (!d?.caErr) nodes.push(el("div", { class: "msg busy" }, t("busy")));
    } else if (d.requests.length === 0) {
      nodes.push(el("p", { class: "empty", id: "account-empty" }, t("account.none")));
    } else {
      nodes.push(el("div", { class: "table-scroll" }, el("table", { class: "requests", id: "account-requests" },
        el("thead", {}, el("tr", {}, ["number", "kind", "slot", "state", "fee", "created", "updated", "note", "do"]
          .map((c) => el("th", {}, t(`account.col.${c}`))))),
        el("tbody", {}, d.requests.map((r) => requestRow(token, r, d))))));
    }
    body.replaceChildren(...nodes);
  }

  function requestRow(token, r, d) {
    const when = ctx.localTime;
    let note = "";
    if (r.state === "rejected") note = el("span", { class: "reason" }, t("account.reason", { reason: r.reason ?? "" }));
    else if (r.details) {
      note = FIELDS.filter((f) => r.details[f.key]).map((f) => `${t(f.label)}：${r.details[f.key]}`).join("；");
    }
    let action = null;
    if (r.state === "awaiting-payment" && r.paymentUrl) {
      action = el("a", { href: r.paymentUrl, target: "ukeyd-payment", class: "pay-link" }, t("unlock.pay"));
    } else if (r.state === "approved" && KINDS[r.kind]) {
      const ready = d.actions?.some((a) => a.number === r.number);
      action = el("button", { type: "button", class: "primary small", disabled: !ready,
        onclick: () => openFor(r.kind, token.id, r.slot) }, t("account.write"));
    }
    return el("tr", { "data-number": r.number, "data-state": r.state, "data-kind": r.kind },
      el("td", { class: "number" }, r.number),
      el("td", { class: "kind" }, KINDS[r.kind] ? kindName(r.kind) : r.kind),
      el("td", { class: "col-cert" }, r.slot ? ctx.slotLabel(r.slot) : "—"),
      el("td", {}, el("span", { class: `state-badge ${r.state}` }, stateName(r.state))),
      el("td", { class: "col-fee" }, feeText(r.fee)),
      el("td", { class: "when" }, when(r.createdAt)),
      el("td", { class: "when" }, when(r.updatedAt)),
      el("td", { class: "note" }, note),
      el("td", {}, action));
  }

  // --- what app.js calls ----------------------------------------------------------------

  function render() {
    const issueTab = $("#tab-cert-issue");
    if (issueTab) {
      // 证书下载 is for a token that has no certificate yet.
      issueTab.hidden = !(state.tokens.some((tk) => !(tk.certificates ?? []).some((c) => c.decoded)) ||
        done.issue || state.tab === "cert-issue");
    }
    for (const kind of Object.keys(KINDS)) renderKind(kind);
    renderAccount();
  }

  // Opens a kind's page for a token (and slot), e.g. from a certificate card.
  function openFor(kind, tokenId, slot = null) {
    if (tokenId && tokenId !== state.selected) {
      state.selected = tokenId;
      ctx.onTokenChange();
    }
    if (slot) draft(kind, tokenId ?? state.selected).slot = slot;
    ctx.selectTab(KINDS[kind].tab);
  }

  function onTabShown(name) {
    if (!CERT_TABS.includes(name)) {
      clearTimeout(pollTimer);
      return;
    }
    for (const r of ["#account-result"]) show(r, null);
    render();
    load(state.selected);
  }

  function onTokenChange() {
    if (visibleTab()) load(state.selected);
    render();
  }

  function onEvent(type, ev) {
    // A certificate was written (here or by another program): what the CA
    // and ukeyd list has moved on.
    if (type === "certificates-changed" && ev?.tokenId && data.has(ev.tokenId)) load(ev.tokenId);
    if (type === "token-inserted" && visibleTab()) load(state.selected);
  }

  // Back from the payment tab: look at once rather than at the next poll.
  function onFocus() {
    if (visibleTab() && state.selected) load(state.selected);
  }

  return { render, openFor, onTabShown, onTokenChange, onEvent, onFocus, kindOfTab: (tab) => KIND_OF_TAB[tab] };
}
