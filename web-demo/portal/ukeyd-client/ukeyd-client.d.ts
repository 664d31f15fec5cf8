// SPDX-License-Identifier: MIT
//
// ukeyd-client.d.ts — the types of ukeyd-client.js: every request body and
// answer of ukeyd's API v1 (docs/openapi.yaml is the reference; the names
// are its schemas'), every event, every problem code, and the client's own
// options and errors. Written by hand, next to the code it describes;
// tests/test-ukeyd-client-package.sh holds the codes and events against the
// daemon's sources and type-checks a page that uses them.

// --- constants ------------------------------------------------------------------

/** Where ukeyd listens by default. */
export declare const UKEYD_BASE: "http://127.0.0.1:17990";
/** The oldest ukeyd this client works with (requireVersion()'s default). */
export declare const MIN_DAEMON_VERSION: string;

export declare const ErrorCode: {
  readonly BAD_REQUEST: "BAD_REQUEST";
  readonly HOST_FORBIDDEN: "HOST_FORBIDDEN";
  readonly MISDIRECTED_REQUEST: "MISDIRECTED_REQUEST";
  readonly ORIGIN_FORBIDDEN: "ORIGIN_FORBIDDEN";
  readonly PEER_NOT_ALLOWED: "PEER_NOT_ALLOWED";
  readonly NOT_FOUND: "NOT_FOUND";
  readonly METHOD_NOT_ALLOWED: "METHOD_NOT_ALLOWED";
  readonly PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE";
  readonly UNSUPPORTED_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE";
  readonly TOO_MANY_STREAMS: "TOO_MANY_STREAMS";
  readonly PIN_INCORRECT: "PIN_INCORRECT";
  readonly PIN_BLOCKED: "PIN_BLOCKED";
  readonly PIN_LAST_TRY: "PIN_LAST_TRY";
  readonly PIN_POLICY: "PIN_POLICY";
  readonly PIN_SAME_AS_OLD: "PIN_SAME_AS_OLD";
  readonly PIN_TOO_SIMPLE: "PIN_TOO_SIMPLE";
  readonly PUK_INCORRECT: "PUK_INCORRECT";
  readonly PUK_BLOCKED: "PUK_BLOCKED";
  readonly PUK_LAST_TRY: "PUK_LAST_TRY";
  readonly TOKEN_NOT_FOUND: "TOKEN_NOT_FOUND";
  readonly TOKEN_REMOVED: "TOKEN_REMOVED";
  readonly TOKEN_BUSY: "TOKEN_BUSY";
  readonly CERTIFICATE_NOT_FOUND: "CERTIFICATE_NOT_FOUND";
  readonly CARD_UNSUPPORTED: "CARD_UNSUPPORTED";
  readonly CARD_ERROR: "CARD_ERROR";
  readonly PCSC_UNAVAILABLE: "PCSC_UNAVAILABLE";
  readonly TIMEOUT: "TIMEOUT";
  readonly UNLOCK_NOT_CONFIGURED: "UNLOCK_NOT_CONFIGURED";
  readonly UNLOCK_SERVICE_UNAVAILABLE: "UNLOCK_SERVICE_UNAVAILABLE";
  readonly UNLOCK_SESSION_NOT_FOUND: "UNLOCK_SESSION_NOT_FOUND";
  readonly UNLOCK_SESSION_EXPIRED: "UNLOCK_SESSION_EXPIRED";
  readonly UNLOCK_STATE_CONFLICT: "UNLOCK_STATE_CONFLICT";
  readonly UNLOCK_TOKEN_UNKNOWN: "UNLOCK_TOKEN_UNKNOWN";
  readonly UNLOCK_RECORD_MISMATCH: "UNLOCK_RECORD_MISMATCH";
  readonly PAYMENT_REQUIRED: "PAYMENT_REQUIRED";
  readonly PHONE_MISMATCH: "PHONE_MISMATCH";
  readonly CODE_INCORRECT: "CODE_INCORRECT";
  readonly CODE_NOT_ISSUED: "CODE_NOT_ISSUED";
  readonly CODE_EXPIRED: "CODE_EXPIRED";
  readonly TOO_MANY_ATTEMPTS: "TOO_MANY_ATTEMPTS";
  readonly RATE_LIMITED: "RATE_LIMITED";
  readonly CERT_SERVICE_UNAVAILABLE: "CERT_SERVICE_UNAVAILABLE";
  readonly CERT_ACTION_NOT_FOUND: "CERT_ACTION_NOT_FOUND";
  readonly CERT_ACTION_NOT_READY: "CERT_ACTION_NOT_READY";
  readonly CERT_INVALID: "CERT_INVALID";
  readonly MANAGEMENT_AUTH_FAILED: "MANAGEMENT_AUTH_FAILED";
  readonly TOKEN_WRITE_FAILED: "TOKEN_WRITE_FAILED";
  readonly TOKEN_FULL: "TOKEN_FULL";
  readonly OPERATION_NOT_SUPPORTED: "OPERATION_NOT_SUPPORTED";
  readonly CERT_ROOTS_NOT_CONFIGURED: "CERT_ROOTS_NOT_CONFIGURED";
  readonly INTERNAL: "INTERNAL";
};
/** One of ukeyd's problem codes, e.g. "PIN_INCORRECT". */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
export declare const ERROR_CODES: readonly ErrorCode[];

/** The events of GET /v1/events. */
export type EventType =
  | "reader-added"
  | "reader-removed"
  | "token-inserted"
  | "token-removed"
  | "pin-changed"
  | "certificates-changed"
  | "pcsc-lost"
  | "pcsc-back"
  | "resync";
export declare const EVENT_TYPES: readonly EventType[];

// --- answers --------------------------------------------------------------------

export type PeerPolicyMode = "active-session" | "console" | "users" | "any-local";
export interface PeerPolicy {
  mode: PeerPolicyMode;
  configured: "auto" | PeerPolicyMode;
  logind: boolean;
}

/** GET /v1/status */
export interface Status {
  version: string;
  api: "v1";
  uptimeSeconds: number;
  pcscAvailable: boolean;
  readerCount: number;
  tokenCount: number;
  peerPolicy?: PeerPolicy;
}

export interface Reader {
  name: string;
  cardPresent: boolean;
  /** Upper-case hex; null without a card. */
  atr: string | null;
  tokenId: string | null;
}
/** GET /v1/readers */
export interface ReaderList {
  readers: Reader[];
}

/** GET /v1/tokens/{id}/pin, and a token's `pin`. Reading it costs no try. */
export interface PinState {
  triesLeft: number | null;
  /** The tries a fresh PIN has; null when the token does not say (PIV). */
  triesMax: number | null;
  blocked: boolean;
  /** Still the factory PIN: ask the user to change it. Null when the token does not say (PIV). */
  isDefault: boolean | null;
  minLength: number;
  maxLength: number;
  charset: "digits" | "ascii";
}

export interface NameAttribute {
  name: string;
  oid: string;
  value: string;
}
export interface Name {
  /** e.g. "CN=演示专用, O=演示科技有限公司, C=CN" */
  display: string;
  commonName: string | null;
  /** In certificate order (least specific first). */
  attributes: NameAttribute[];
}

/** A certificate as decoded by ukeyd; only id, slot, label and decoded when decoded is false. */
export interface Certificate {
  /** Its id in the certificate URLs: the PIV slot ("9a"), or an SKF key's "<container>.sign" / "<container>.enc". */
  id: string;
  /** The PIV slot; for an SKF key the same as id. */
  slot: string;
  label: string;
  decoded: boolean;
  subject?: Name;
  issuer?: Name;
  /** Upper-case hex as encoded. */
  serial?: string;
  notBefore?: string;
  notAfter?: string;
  /** Negative when expired. */
  daysLeft?: number;
  keyAlgorithm?: string | null;
  keyType?: "SM2" | "RSA" | "EC" | null;
  keyBits?: number | null;
  curve?: string | null;
  signatureAlgorithm?: string | null;
  keyUsage?: string[];
  extendedKeyUsage?: string[];
  fingerprints?: { sha256: string; sm3: string };
}
/** GET /v1/tokens/{id}/certificates */
export interface CertificateList {
  tokenId: string;
  certificates: Certificate[];
}

/** How a blocked or forgotten PIN can be reset on a token. */
export type UnlockMechanism = "puk" | "admin-pin" | "remote-unblock";

/** What a token can do beyond reading and its PIN. */
export interface Capabilities {
  unlock: UnlockMechanism[];
  /** Whether certificate actions (change, renewal, reinstall) can write to it. */
  certificateWrites: boolean;
}

/** GET /v1/tokens/{id} */
export interface Token {
  id: string;
  /** The PC/SC reader; for an SKF key, the device's name in its vendor's library. */
  reader: string;
  /** The interface the token speaks: "PIV" (a PIV card through pcscd) or "SKF" (a GM/T 0016 key through its vendor's library). */
  edge: "PIV" | "SKF";
  /** As an SKF key says it; null for PIV. */
  manufacturer: string | null;
  capabilities: Capabilities;
  model: string | null;
  serial: string | null;
  version: string | null;
  atr: string;
  pin: PinState;
  /** Electronic seals (电子印章) on an SKF key, read when it was plugged in;
   * null for a token that cannot hold them (PIV) or whose library cannot read files. */
  seals: number | null;
  certificates: Certificate[];
}
/** GET /v1/tokens */
export interface TokenList {
  tokens: Token[];
}

export interface PinVerifyResult {
  verified: true;
  triesLeft: number | null;
}
export interface PinChangeResult {
  changed: true;
  triesLeft: number | null;
}

export type UnlockState =
  | "awaiting-payment"
  | "awaiting-identity"
  | "review-pending"
  | "review-approved"
  | "review-rejected"
  | "authorized"
  | "completed"
  | "expired";
/** POST /v1/tokens/{id}/unlock, GET /v1/unlock/{sid}, POST …/verify */
export interface UnlockSession {
  sessionId: string;
  tokenId: string;
  state: UnlockState;
  fee: {
    required: boolean;
    /** Decimal with two places, e.g. "30.00" (yuan); never a float. */
    amount: string;
    currency: string;
    paid: boolean;
  };
  paymentUrl: string | null;
  /** e.g. "137****1000" */
  maskedPhone: string;
  methods: ("sms" | "review")[];
  reviewUrl: string | null;
  review: { state: "pending" | "approved" | "rejected"; reason: string | null } | null;
  expiresAt: string;
}
/** POST /v1/unlock/{sid}/sms */
export interface UnlockSmsResult {
  sent: true;
  /** Seconds before another SMS may be sent. */
  resendAfter: number;
  /** Seconds the code lives. */
  expiresIn: number;
}
/** POST /v1/unlock/{sid}/complete */
export interface UnlockCompleteResult {
  completed: true;
  tokenId: string;
  triesLeft: number | null;
}

export type CertActionKind = "change" | "renewal" | "reinstall" | "issue";
export interface CertAction {
  /** "C" and 10 digits. */
  number: string;
  kind: CertActionKind;
  state: "approved" | "issued";
  slot: "9a" | "9c" | "9d" | "9e";
  keyPolicy: "keep" | "new";
  keyAlgorithm: "RSA-2048" | "EC-P256" | "EC-P384" | "SM2";
  subject: string;
  oldSerial: string | null;
  expiresAt: string;
  /** A new key: carryOutCertAction() must carry `pin`. */
  needsPin: boolean;
  interrupted: boolean;
  expectedSerial: string | null;
  /** Every certificate the action re-issues, its own first: a change on a
   * token with a signing and an encryption certificate lists both (a pair,
   * carried out as one). */
  certificates: CertActionCertificate[];
}
export interface CertActionCertificate {
  slot: string;
  /** 签名证书 or 加密证书. */
  role: "signing" | "encryption";
  oldSerial: string | null;
}
/** GET /v1/tokens/{id}/cert-actions */
export interface CertActionList {
  tokenId: string;
  actions: CertAction[];
}
/** POST /v1/tokens/{id}/cert-actions/{number} */
export interface CertActionResult {
  number: string;
  kind: CertActionKind;
  slot: string;
  state: "done" | "written";
  serial: string;
  certificate: Certificate | null;
  /** Every slot written, the action's own first (a pair's two). */
  certificates: { slot: string; serial: string; certificate: Certificate | null }[];
}

export type EnvironmentState = "ok" | "warn" | "fail";
export interface EnvironmentCheck {
  /** e.g. "pcsc.service", "token.piv-…" */
  id: string;
  category: "system" | "clock" | "network" | "pcsc" | "token" | "browser";
  title: string;
  state: EnvironmentState;
  found: string | null;
  hint: string | null;
  details: Record<string, unknown>;
}
/** GET /v1/environment */
export interface EnvironmentReport {
  state: EnvironmentState;
  summary: { ok: number; warn: number; fail: number };
  checks: EnvironmentCheck[];
  version: string;
  checkedAt: string;
  elapsedMs: number;
  timeoutMs: number;
}
export interface EnvironmentRepairStep {
  id: "restart-pcscd" | "rescan" | "install-ccid" | "install-pcscd" | "sync-clock";
  state: "done" | "skipped" | "failed" | "manual";
  message: string | null;
  command: string | null;
  details: Record<string, unknown>;
}
/** POST /v1/environment/repair */
export interface EnvironmentRepairResult {
  state: EnvironmentState;
  steps: EnvironmentRepairStep[];
  environment: EnvironmentReport;
}

/** Why a new PIN is too simple: one character throughout (111111), a run of
 * digits (123456, 654321), a group repeated (123123), or a well-known PIN. */
export type PinSimplicityRule = "repeated" | "sequence" | "pattern" | "common";

/** An error's body (RFC 9457), title and detail in the language asked for. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  /** The body field at fault (BAD_REQUEST, PIN_POLICY, PIN_SAME_AS_OLD, PIN_TOO_SIMPLE). */
  field?: string;
  /** PIN and PUK problems. */
  triesLeft?: number | null;
  /** PIN_POLICY */
  minLength?: number;
  maxLength?: number;
  charset?: string;
  /** PIN_TOO_SIMPLE: which rule the new PIN broke (docs/api.md, "PIN rules"). */
  rule?: PinSimplicityRule;
  /** CODE_INCORRECT, TOO_MANY_ATTEMPTS */
  attemptsLeft?: number | null;
  /** RATE_LIMITED: seconds. */
  retryAfter?: number;
  /** UNLOCK_STATE_CONFLICT, CERT_ACTION_NOT_READY */
  state?: string;
  requestId?: string;
}

// --- requests -------------------------------------------------------------------

export interface PinVerifyRequest {
  pin: string;
  confirmLastTry?: boolean;
}
export interface PinChangeRequest {
  oldPin: string;
  newPin: string;
  confirmLastTry?: boolean;
}
export interface UnlockSmsRequest {
  phone: string;
}
export type UnlockVerifyRequest = { smsCode: string } | { unlockCode: string };
export interface UnlockCompleteRequest {
  newPin: string;
  confirmNewPin?: string;
}
export interface CertActionRequest {
  pin?: string;
  confirmLastTry?: boolean;
}

// --- events ---------------------------------------------------------------------

/** The data of each event, by event name. */
export interface EventDataMap {
  "reader-added": { reader: string };
  "reader-removed": { reader: string };
  "token-inserted": { reader: string; tokenId: string };
  "token-removed": { reader: string; tokenId: string };
  "pin-changed": { reader: string; tokenId: string; triesLeft: number | null; blocked: boolean };
  "certificates-changed": { reader: string; tokenId: string };
  "pcsc-lost": Record<string, never>;
  "pcsc-back": Record<string, never>;
  resync: Record<string, never>;
}
export type EventData = EventDataMap[EventType];

export interface EventHandlers {
  /** data is null only for a frame that was not JSON. */
  onEvent?<T extends EventType>(type: T, data: EventDataMap[T] | null, id: string): void;
  onOpen?(): void;
  /** "reconnecting": EventSource retries by itself; "closed": it gave up. */
  onError?(state: "reconnecting" | "closed"): void;
}
export interface EventSubscription {
  close(): void;
  source: EventSource;
}

// --- the client -----------------------------------------------------------------

export type Language = "zh-CN" | "en" | (string & {});

export interface UkeydClientOptions {
  /** http://127.0.0.1:PORT or http://[::1]:PORT; anything else throws TypeError. */
  base?: string;
  /** Accept-Language for ukeyd's title and detail, or a function giving it. */
  language?: Language | (() => Language) | null;
  /** Per request; 30 s by default. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  EventSource?: typeof EventSource;
}

export interface CertActionOptions {
  pin?: string;
  confirmLastTry?: boolean;
}

export type LastTryOption = boolean | { confirmLastTry?: boolean };

export type Diagnosis = "ok" | "origin-forbidden" | "permission-denied" | "not-ukeyd" | "unreachable";

export type UkeydErrorKind = "problem" | "network" | "timeout" | "http" | "update-required";

export declare class UkeydError extends Error {
  constructor(
    kind: UkeydErrorKind,
    init?: { status?: number; problem?: Problem | null; cause?: unknown },
  );
  readonly kind: UkeydErrorKind;
  /** The HTTP status; 0 when there was no answer. */
  readonly status: number;
  readonly problem: Problem | null;
  /** ukeyd's code when kind is "problem"; switch on it with ErrorCode. */
  readonly code: ErrorCode | null;
  readonly title: string | null;
  readonly detail: string | null;
  readonly triesLeft: number | null;
  readonly requestId: string | null;
}

/** The installed ukeyd is older than the page needs: tell the user to update it. */
export declare class UpdateRequiredError extends UkeydError {
  constructor(installed: string, required: string);
  readonly kind: "update-required";
  /** ukeyd's version as /v1/status reported it. */
  readonly installed: string;
  /** The minimum the page asked for. */
  readonly required: string;
}

export declare class UkeydClient {
  constructor(options?: UkeydClientOptions);
  readonly base: string;
  language: UkeydClientOptions["language"];
  timeoutMs: number;

  request<T = unknown>(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    options?: { asBlob?: boolean; timeoutMs?: number },
  ): Promise<T>;

  status(): Promise<Status>;
  /** Resolves with the status when ukeyd is `minimum` (MIN_DAEMON_VERSION) or later, else rejects with UpdateRequiredError. */
  requireVersion(minimum?: string): Promise<Status>;
  readers(): Promise<ReaderList>;
  tokens(): Promise<TokenList>;
  token(id: string): Promise<Token>;
  certificates(id: string): Promise<CertificateList>;
  /** certId: the certificate's id as listed ("9a", "DEMO_SM2.sign"). */
  certificate(id: string, certId: string): Promise<Certificate>;
  certificateFile(id: string, certId: string, format?: "pem" | "der"): Promise<Blob>;
  pinState(id: string): Promise<PinState>;

  verifyPin(id: string, pin: string, options?: LastTryOption): Promise<PinVerifyResult>;
  changePin(id: string, oldPin: string, newPin: string, options?: LastTryOption): Promise<PinChangeResult>;

  openUnlock(id: string): Promise<UnlockSession>;
  unlockSession(sid: string): Promise<UnlockSession>;
  sendSms(sid: string, phone: string): Promise<UnlockSmsResult>;
  verifySms(sid: string, smsCode: string): Promise<UnlockSession>;
  verifyUnlockCode(sid: string, unlockCode: string): Promise<UnlockSession>;
  completeUnlock(sid: string, newPin: string): Promise<UnlockCompleteResult>;

  certActions(id: string): Promise<CertActionList>;
  carryOutCertAction(id: string, number: string, options?: CertActionOptions): Promise<CertActionResult>;

  environment(): Promise<EnvironmentReport>;
  repairEnvironment(): Promise<EnvironmentRepairResult>;

  events(handlers?: EventHandlers, options?: { types?: readonly EventType[] }): EventSubscription;

  diagnose(): Promise<Diagnosis>;
}

/** Runs attempt(false); on PIN_LAST_TRY asks confirm(error) and, on a yes, runs attempt(true). */
export declare function confirmingLastTry<T>(
  attempt: (confirmLastTry: boolean) => Promise<T>,
  confirm: (error: UkeydError) => boolean | Promise<boolean>,
): Promise<T>;

/** The browser's permission for pages to reach loopback. */
export declare function localNetworkPermission(): Promise<"granted" | "denied" | "prompt" | "unknown">;

/** Checks a base URL is a loopback literal with a port; returns it without a trailing slash. */
export declare function loopbackBase(base: string): string;

/** Compares "MAJOR.MINOR.PATCH" versions like a sort comparator. */
export declare function compareVersions(a: string, b: string): number;
