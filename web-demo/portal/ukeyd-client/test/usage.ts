// SPDX-License-Identifier: MIT
//
// usage.ts — what a CA's page written in TypeScript does with ukeyd-client,
// type-checked (tsc --noEmit, strict) against the package as npm installs
// it. The @ts-expect-error lines are misuses the types must refuse: if a
// type grew too loose, tsc reports the unused directive and the check fails.

import {
  ERROR_CODES,
  ErrorCode,
  EVENT_TYPES,
  MIN_DAEMON_VERSION,
  UkeydClient,
  UkeydError,
  UpdateRequiredError,
  confirmingLastTry,
  type CertAction,
  type EventDataMap,
  type EventType,
  type PinSimplicityRule,
  type PinState,
  type Problem,
  type Status,
  type Token,
  type UnlockMechanism,
  type UnlockSession,
} from "ukeyd-client";

const ukeyd = new UkeydClient({ language: "zh-CN", timeoutMs: 10000 });

export async function start(show: (text: string) => void): Promise<Token[]> {
  let status: Status;
  try {
    status = await ukeyd.requireVersion(MIN_DAEMON_VERSION);
  } catch (e) {
    if (e instanceof UpdateRequiredError) {
      show(`请升级 ukeyd：已安装 ${e.installed}，需要 ${e.required}`);
      return [];
    }
    throw e;
  }
  show(`ukeyd ${status.version}, ${status.tokenCount} token(s)`);
  const { tokens } = await ukeyd.tokens();
  for (const token of tokens) {
    const pin: PinState = token.pin;
    const tries: number | null = pin.triesLeft;
    show(`${token.reader}: ${tries ?? "?"} tries, ${token.certificates.length} certificate(s)`);
    if (pin.isDefault === true) show("请先修改出厂默认 PIN 码");
    const unlock: UnlockMechanism[] = token.capabilities.unlock;
    if (token.edge === "SKF") show(`${token.manufacturer ?? ""} ${pin.triesMax ?? "?"} ${unlock.join(",")}`);
    const seals: number | null = token.seals;
    if (seals !== null) show(`电子钥匙内有 ${seals} 个电子印章`);
    for (const cert of token.certificates) {
      if (cert.decoded) show(`${cert.id} ${cert.subject?.commonName ?? ""} ${cert.daysLeft ?? ""}`);
      await ukeyd.certificateFile(token.id, cert.id, "der");
    }
  }
  return tokens;
}

export async function verify(id: string, pin: string, ask: (text: string) => Promise<boolean>) {
  try {
    const result = await confirmingLastTry(
      (last) => ukeyd.verifyPin(id, pin, { confirmLastTry: last }),
      (e) => ask(e.detail ?? ""));
    const verified: true = result.verified;
    return verified;
  } catch (e) {
    if (!(e instanceof UkeydError)) throw e;
    switch (e.code) {
      case ErrorCode.PIN_INCORRECT:
        return `wrong, ${e.triesLeft} left`;
      case ErrorCode.PIN_BLOCKED:
        return "blocked: 找回密码";
      case "PIN_POLICY": {
        const problem: Problem | null = e.problem;
        return `${problem?.minLength}-${problem?.maxLength} ${problem?.charset}`;
      }
      default:
        return e.title ?? e.kind;
    }
  }
}

// A new PIN ukeyd refuses says which rule, for the page to say it in its words.
export async function change(id: string, oldPin: string, newPin: string): Promise<string> {
  try {
    return String((await ukeyd.changePin(id, oldPin, newPin)).changed);
  } catch (e) {
    if (!(e instanceof UkeydError)) throw e;
    if (e.code === ErrorCode.PIN_SAME_AS_OLD) return "新密码不能与原密码相同";
    if (e.code === ErrorCode.PIN_TOO_SIMPLE) {
      const rule: PinSimplicityRule | undefined = e.problem?.rule;
      // @ts-expect-error: not one of the rules
      const wrong: PinSimplicityRule = "too-short";
      return rule === "sequence" ? "不能是连续的数字" : `过于简单 (${rule ?? wrong})`;
    }
    return e.title ?? e.kind;
  }
}

export async function unlock(id: string, phone: string, code: string, newPin: string) {
  const session: UnlockSession = await ukeyd.openUnlock(id);
  if (session.fee.required && !session.fee.paid && session.paymentUrl) return session.paymentUrl;
  const sent = await ukeyd.sendSms(session.sessionId, phone);
  const wait: number = sent.resendAfter;
  await ukeyd.verifySms(session.sessionId, code);
  const done = await ukeyd.completeUnlock(session.sessionId, newPin);
  return `${done.tokenId} ${done.triesLeft} ${wait}`;
}

export async function writeApproved(id: string, pin: string) {
  const { actions } = await ukeyd.certActions(id);
  const action: CertAction | undefined = actions.find((a) => a.state === "approved");
  if (!action) return null;
  const result = await ukeyd.carryOutCertAction(id, action.number,
                                                action.needsPin ? { pin } : {});
  return result.certificate?.serial ?? result.serial;
}

export function follow(onChange: (tokenId: string) => void) {
  const subscription = ukeyd.events({
    onEvent(type, data) {
      if (type === "certificates-changed" && data) {
        const changed = data as EventDataMap["certificates-changed"];
        onChange(changed.tokenId);
      }
    },
    onError(state) {
      if (state === "closed") subscription.close();
    },
  });
  return subscription;
}

export const codes: readonly ErrorCode[] = ERROR_CODES;
export const events: readonly EventType[] = EVENT_TYPES;
export const lastTry: "PIN_LAST_TRY" = ErrorCode.PIN_LAST_TRY;
export const mismatch: ErrorCode = ErrorCode.UNLOCK_RECORD_MISMATCH;

export async function misuses() {
  // @ts-expect-error: not one of ukeyd's codes
  const unknown: ErrorCode = "PIN_WRONG";
  // @ts-expect-error: not one of ukeyd's events
  const event: EventType = "token-changed";
  // @ts-expect-error: the PIN is a string
  await ukeyd.verifyPin("piv-1", 123456);
  // @ts-expect-error: certificate files are pem or der
  await ukeyd.certificateFile("piv-1", "9a", "txt");
  const status = await ukeyd.status();
  // @ts-expect-error: no such member
  status.versionName;
  const { tokens } = await ukeyd.tokens();
  // @ts-expect-error: unlock mechanisms are puk, admin-pin or remote-unblock
  const mechanism: UnlockMechanism = "sms";
  // @ts-expect-error: the interface is PIV or SKF
  const isPkcs11 = tokens[0].edge === "PKCS11";
  // @ts-expect-error: installed is a string, as /v1/status says it
  const installed: number = new UpdateRequiredError("0.1.0", "0.2.0").installed;
  return [unknown, event, installed, mechanism, isPkcs11];
}
