// SPDX-License-Identifier: MIT
//
// ca-portal.js — the demo CA's own browser-facing API for certificate
// requests (证书变更, 证书延期, 证书重装, 证书下载) and the personal centre: the
// page's own origin, /portal/api/ (served by ukey-ca next to this page).
// ukeyd is not involved here: a request is filed with the CA, reviewed and
// paid for there; only the approved action reaches ukeyd, which writes it
// (ukeyd-client.js certActions / carryOutCertAction).
//
// Refusals become the same UkeydError as ukeyd's (kind "problem" with the
// CA's problem+json, already in the page's language), with source "ca", so
// the page shows them the same way.

import { UkeydError } from "./ukeyd-client.js";

const TIMEOUT_MS = 30000;

export class CaPortal {
  // language: a function returning the Accept-Language value.
  constructor({ base = new URL("/portal/api/", globalThis.location?.href).href, language = () => "zh-CN" } = {}) {
    this.base = base.endsWith("/") ? base : `${base}/`;
    this.language = language;
  }

  async request(method, path, body = undefined) {
    const headers = { Accept: "application/json", "Accept-Language": this.language() };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (body instanceof FormData) {
      init.body = body;                     // the browser writes the multipart boundary
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    init.signal = abort.signal;
    let resp;
    try {
      resp = await fetch(this.base + path, init);
    } catch (e) {
      throw caError(abort.signal.aborted ? "timeout" : "network", { cause: e });
    } finally {
      clearTimeout(timer);
    }
    let json = null;
    try {
      json = await resp.json();
    } catch {
      json = null;
    }
    if (resp.ok && json) return json;
    if (!resp.ok && typeof json?.code === "string") {
      throw caError("problem", { status: resp.status, problem: json });
    }
    throw caError("http", { status: resp.status });
  }

  // Files a request: { tokenId, kind, slot, certSerial, details } →
  // { number, state, fee: {amount, currency} | null, paymentUrl | null }.
  createRequest(request) {
    return this.request("POST", "cert-requests", request);
  }

  // The supporting document for a request (the same form fields as the
  // unlock review's upload: kind and file).
  uploadMaterial(number, kind, file) {
    const data = new FormData();
    data.append("kind", kind);
    data.append("file", file, file.name);
    return this.request("POST", `cert-requests/${encodeURIComponent(number)}/materials`, data);
  }

  // The personal centre: { requests: [...] }, newest first.
  requests(tokenId) {
    return this.request("GET", `tokens/${encodeURIComponent(tokenId)}/cert-requests`);
  }
}

function caError(kind, options) {
  const e = new UkeydError(kind, options);
  e.source = "ca";
  return e;
}
