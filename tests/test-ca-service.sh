#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-ca-service.sh — the reference CA unlock service (ukey-ca) over
# real HTTP with curl, against docs/unlock-protocol.md: the free, paid and
# forgotten-phone paths, every refusal the protocol names, the PUK rotation
# with its idempotent retries and reconciliation (across a restart too), the
# demo pages, clean problem+json for bad input, and a log without secrets.
# Runs its own server on a free loopback port with a temporary database and
# a seed made here, with short timings. TAP on stdout.
#
# The conditions given to all() are single-quoted on purpose: it evaluates
# them when it runs, after the request they look at (and the variables they
# read look unused to shellcheck).
# shellcheck disable=SC2016,SC2034
set -u

# shellcheck source=tests/lib/ca-http.sh
. "$(dirname "$0")/lib/ca-http.sh"

readonly RESEND_S=2
readonly CODE_TTL_S=3
readonly SHORT_REQUEST_TTL_S=3
readonly CURL_MAX_S=10
readonly PUK=12345678
readonly CODE_ATTEMPTS=5
readonly SMS_PER_HOUR=5
readonly PHONE_MISMATCH_MAX=5
readonly JSON_BODY_MAX=16384
readonly MATERIAL_MAX=$((2 * 1024 * 1024))

# Tokens of the seed: one per path, so the per-token SMS limits of one
# test never touch another.
readonly FREE_ID=piv-0000000000000000000000000000f001
readonly FREE_PHONE=13900002000
readonly FREE_SERIAL=00CD6D17A05F675F49            # with the DER sign octet, as ukeyd sends
readonly FREE_ISSUER="CN=Demo RSA Root CA, O=演示数字认证中心, C=CN"
readonly PAID_ID=piv-0000000000000000000000000000a001
readonly PAID_PHONE=13700001000
readonly LIMIT_ID=piv-0000000000000000000000000000b001
readonly LIMIT_PHONE=13800003000
readonly PHONE_ID=piv-0000000000000000000000000000c001
readonly PHONE_PHONE=13600004000
readonly REVIEW_ID=piv-0000000000000000000000000000d001
readonly REVIEW_PHONE=13500005000
readonly EXPIRY_ID=piv-0000000000000000000000000000e001
readonly EXPIRY_PHONE=13400006000
readonly SM2_ISSUER="CN=演示根CA, O=演示数字认证中心, C=CN"

need_tools jq curl
[ -x "$ukey_ca" ] || skip_all "$ukey_ca not built"

make_work ca-service
cleanup() {
    stop_server >/dev/null 2>&1
    [ -n "${extra_pid:-}" ] && kill -TERM "$extra_pid" 2>/dev/null
    remove_work
}
trap cleanup EXIT

open_request() {   # TOKEN_ID SERIAL ISSUER
    post /unlock/v1/requests "$(jq -cn --arg t "$1" --arg s "$2" --arg i "$3" \
        '{tokenId: $t, certSerial: $s, certIssuer: $i}')"
}

latest_code() {   # PHONE -> the newest SMS code in the demo outbox
    curl -sS --max-time "$CURL_MAX_S" "$URL/demo/api/outbox?phone=$1" | jq -r '.messages[0].code'
}

send_sms() { post "/unlock/v1/requests/$1/sms" "{\"phone\":\"$2\"}"; }
verify_sms() { post "/unlock/v1/requests/$1/verify" "{\"smsCode\":\"$2\"}"; }
verify_unlock() { post "/unlock/v1/requests/$1/verify" "{\"unlockCode\":\"$2\"}"; }
authorize() { req POST "/unlock/v1/requests/$1/authorize"; }
confirm() { post "/unlock/v1/rotations/$1/confirm" "{\"result\":\"$2\"}"; }
reconcile() { req POST "/unlock/v1/rotations/$1/reconcile"; }

# A code that is surely not the right one.
other_code() { printf '%06d' $(((10#$1 + 1) % 1000000)); }

start_unlock_server() {   # DB LOG [extra options...]: the seed made here, short timings
    local db=$1 log=$2
    shift 2
    start_server "$db" "$log" "$work/seed.json" --sms-resend-seconds "$RESEND_S" \
        --code-ttl-seconds "$CODE_TTL_S" "$@"
}

cat >"$work/seed.json" <<EOF
{ "tokens": [
  { "tokenId": "$FREE_ID", "owner": "Zhang Wei 张伟", "phone": "$FREE_PHONE", "puk": "$PUK",
    "fee": null,
    "certificates": [ { "serial": "CD6D17A05F675F49", "issuer": "$FREE_ISSUER" } ] },
  { "tokenId": "$PAID_ID", "owner": "演示专用", "phone": "$PAID_PHONE", "puk": "$PUK",
    "fee": { "amount": "30.00", "currency": "CNY" },
    "certificates": [ { "serial": "184E831EDBC1E728", "issuer": "$SM2_ISSUER" },
                      { "serial": "7C4700FABE9771BD", "issuer": "$SM2_ISSUER" } ] },
  { "tokenId": "$LIMIT_ID", "owner": "Limits", "phone": "$LIMIT_PHONE", "puk": "$PUK",
    "certificates": [ { "serial": "0B01", "issuer": "$SM2_ISSUER" } ] },
  { "tokenId": "$PHONE_ID", "owner": "Phone", "phone": "$PHONE_PHONE", "puk": "$PUK",
    "certificates": [ { "serial": "0C01", "issuer": "$SM2_ISSUER" } ] },
  { "tokenId": "$REVIEW_ID", "owner": "示例有限公司", "phone": "$REVIEW_PHONE", "puk": "$PUK",
    "certificates": [ { "serial": "0D01", "issuer": "$SM2_ISSUER" } ] },
  { "tokenId": "$EXPIRY_ID", "owner": "Expiry", "phone": "$EXPIRY_PHONE", "puk": "$PUK",
    "certificates": [ { "serial": "0E01", "issuer": "$SM2_ISSUER" } ] }
] }
EOF

log="$work/ukey-ca.log"
db="$work/ca.db"
SECRETS=()    # every PUK and code seen: none may appear in the log

check "ukey-ca starts on a free loopback port and says where" start_unlock_server "$db" "$log"
diag "service at $URL"

get /unlock/v1/health
check "health answers" all 'status_is 200' 'field_is .status ok'

get "/portal/config.json?ukeyd=1"
check "the portal page's configuration: ukeyd on 127.0.0.1:17990 by default, whatever the query" \
    all 'status_is 200' 'field_is .ukeydBase http://127.0.0.1:17990'
check "--ukeyd-port takes a port from 1 to 65535 only" \
    all '! "$ukey_ca" --db "$work/port.db" --ukeyd-port 0 2>/dev/null' \
    '! "$ukey_ca" --db "$work/port.db" --ukeyd-port 65536 2>/dev/null'

# --- the free phone path ----------------------------------------------------------

open_request "$FREE_ID" "$(tr 'A-F' 'a-f' <<<"$FREE_SERIAL")" \
    "CN=Demo RSA Root CA,O=演示数字认证中心,C=CN"
FREE_RID=$(field .requestId)
check "open: 201, awaiting-identity, free (serial case, sign octet and issuer spacing ignored)" \
    all 'status_is 201' 'field_is .state awaiting-identity' 'field_is .fee.required false' \
    'field_is .paymentUrl null'
check "open: masked phone, both methods, review URL, expiry, Location" \
    all 'field_is .maskedPhone "139****2000"' 'field_is ".methods|join(\",\")" sms,review' \
    '[[ $(field .reviewUrl) == "$URL"/review/rvt-* ]]' '[ "$(field .expiresAt)" != null ]' \
    'header_has "Location: /unlock/v1/requests/$FREE_RID"'
check "open: the phone number itself is not in the answer" body_lacks "$FREE_PHONE"
check "request id is random, 128 bits, URL-safe" \
    grep -Eq '^req-[0-9a-f]{32}$' <<<"$FREE_RID"

open_request piv-unknown "$FREE_SERIAL" "$FREE_ISSUER"
check "unknown token -> 404 TOKEN_UNKNOWN" is_problem 404 TOKEN_UNKNOWN
open_request "$FREE_ID" 0BAD "$FREE_ISSUER"
check "certificate not on that token -> 404 TOKEN_UNKNOWN" is_problem 404 TOKEN_UNKNOWN
open_request "$FREE_ID" "$FREE_SERIAL" "CN=Someone Else, C=CN"
check "issuer not matching -> 404 TOKEN_UNKNOWN" is_problem 404 TOKEN_UNKNOWN

authorize "$FREE_RID"
check "authorize before identity is proven -> 409 STATE_CONFLICT with the state" \
    all 'is_problem 409 STATE_CONFLICT' 'field_is .state awaiting-identity'

send_sms "$FREE_RID" "$FREE_PHONE"
check "sms: 202 with resendAfter and expiresIn" \
    all 'status_is 202' "field_is .resendAfter $RESEND_S" "field_is .expiresIn $CODE_TTL_S"
code=$(latest_code "$FREE_PHONE")
SECRETS+=("$code")
check "the demo outbox holds a 6-digit code for that phone" grep -Eq '^[0-9]{6}$' <<<"$code"
# A page that rebound its own name to 127.0.0.1 reaches the port, but its
# browser sends that name as Host: it must not read the outbox.
req GET "/demo/api/outbox?phone=$FREE_PHONE" -H "Host: rebound.example:${URL##*:}"
check "a DNS-rebinding Host: 403 HOST_FORBIDDEN, and no code in the answer" \
    all 'is_problem 403 HOST_FORBIDDEN' "body_lacks $code"
req GET "/demo/api/outbox?phone=$FREE_PHONE" -H "Host: localhost:${URL##*:}"
check "Host localhost is this machine: served" status_is 200
# People read the outbox in a browser tab or with curl: the Chinese as it is.
check "the outbox reads as UTF-8: the SMS text in Chinese characters" \
    grep -qF '【演示CA】您的证书解锁验证码为' <<<"$BODY"
check "…with no \\uXXXX escapes" bash -c '! grep -qE "\\\\u[0-9a-fA-F]{4}" <<<"$1"' _ "$BODY"
check "…and says its charset" header_has 'Content-Type: application/json; charset=utf-8'

verify_sms "$FREE_RID" "$code"
check "verify: right SMS code -> authorized" all 'status_is 200' 'field_is .state authorized'
verify_sms "$FREE_RID" "$code"
check "verify again (a lost answer retried) -> still 200 authorized" \
    all 'status_is 200' 'field_is .state authorized'

authorize "$FREE_RID"
ROT1=$(field .rotationId)
NEXT1=$(field .nextPuk)
SECRETS+=("$NEXT1")
check "authorize: current PUK, a fresh 8-digit PUK, a 128-bit rotation id" \
    all 'status_is 200' "field_is .puk $PUK" 'grep -Eq "^[0-9]{8}\$" <<<"$NEXT1"' \
    '[ "$NEXT1" != "$PUK" ]' 'grep -Eq "^rot-[0-9a-f]{32}\$" <<<"$ROT1"' 'field_is .resumed false'
check "authorize: never cached" header_has 'Cache-Control: no-store'
authorize "$FREE_RID"
check "authorize again while pending: the same pair and rotation (resumed)" \
    all 'status_is 200' "field_is .rotationId $ROT1" "field_is .puk $PUK" \
    "field_is .nextPuk $NEXT1" 'field_is .resumed true'
reconcile "$ROT1"
check "reconcile a pending rotation: the same pair" \
    all 'status_is 200' "field_is .puk $PUK" "field_is .nextPuk $NEXT1"

confirm "$ROT1" rotated
check "confirm rotated -> 200" all 'status_is 200' 'field_is .result rotated'
confirm "$ROT1" rotated
check "confirm again (idempotent) -> 200" all 'status_is 200' 'field_is .result rotated'
confirm "$ROT1" unchanged
check "confirm with the other result -> 409 ROTATION_CONFLICT naming the result" \
    all 'is_problem 409 ROTATION_CONFLICT' 'field_is .result rotated'
reconcile "$ROT1"
check "reconcile once confirmed -> 410 ROTATION_CLOSED with the result" \
    all 'is_problem 410 ROTATION_CLOSED' 'field_is .result rotated'
get "/unlock/v1/requests/$FREE_RID"
check "the request is completed" field_is .state completed
send_sms "$FREE_RID" "$FREE_PHONE"
check "sms on a completed request -> 409 STATE_CONFLICT" is_problem 409 STATE_CONFLICT

# The next unlock of the same token gets the rotated PUK.
sleep "$RESEND_S"
open_request "$FREE_ID" "$FREE_SERIAL" "$FREE_ISSUER"
FREE_RID2=$(field .requestId)
send_sms "$FREE_RID2" "$FREE_PHONE"
code=$(latest_code "$FREE_PHONE")
SECRETS+=("$code")
verify_sms "$FREE_RID2" "$code"
authorize "$FREE_RID2"
ROT2=$(field .rotationId)
NEXT2=$(field .nextPuk)
SECRETS+=("$NEXT2")
check "PUK rotated: the next unlock hands out the new PUK as puk" \
    all 'status_is 200' "field_is .puk $NEXT1" '[ "$ROT2" != "$ROT1" ]'

confirm "$ROT2" unchanged
check "confirm unchanged -> 200 (the card kept its PUK)" \
    all 'status_is 200' 'field_is .result unchanged'
authorize "$FREE_RID2"
check "after unchanged the old PUK stays and a new rotation starts" \
    all 'status_is 200' "field_is .puk $NEXT1" "[ \"\$(field .rotationId)\" != $ROT2 ]" \
    'field_is .resumed false'
ROT3=$(field .rotationId)
NEXT3=$(field .nextPuk)
SECRETS+=("$NEXT3")
post "/unlock/v1/rotations/$ROT3/confirm" '{"result":"rotated","pinReset":"no"}'
check "confirm with a pinReset that is not a boolean -> 400 field pinReset" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field pinReset'
post "/unlock/v1/rotations/$ROT3/confirm" '{"result":"rotated","pinReset":false}'
check "confirm rotated with pinReset false (recovery: PUK changed, PIN still blocked) -> 200" \
    status_is 200
get "/unlock/v1/requests/$FREE_RID2"
check "... the request stays authorized for another try" field_is .state authorized
authorize "$FREE_RID2"
check "... and its next pair starts from the rotated PUK" \
    all 'status_is 200' "field_is .puk $NEXT3" 'field_is .resumed false'
SECRETS+=("$(field .nextPuk)")
ROT4=$(field .rotationId)

# A client whose card refused the PUK on record reports it: recorded, nothing
# settled, and no more pairs for the token until the record changes.
report() { post "/unlock/v1/rotations/$1/report" "$2"; }
report "$ROT4" '{"cardRefused":"puk-wrong"}'
check "report with a cardRefused that is neither -> 400 field cardRefused" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field cardRefused'
report "$ROT4" '{"cardRefused":"puk-incorrect","pukTriesLeft":-1}'
check "report with pukTriesLeft out of range -> 400 field pukTriesLeft" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field pukTriesLeft'
report rot-00000000000000000000000000000000 '{"cardRefused":"puk-incorrect"}'
check "report on an unknown rotation -> 404 ROTATION_UNKNOWN" is_problem 404 ROTATION_UNKNOWN
report "$ROT4" '{"cardRefused":"puk-incorrect","pukTriesLeft":2}'
check "report: the card refused the PUK on record -> 200 recorded" \
    all 'status_is 200' 'field_is .recorded true' "field_is .rotationId $ROT4"
report "$ROT4" '{"cardRefused":"puk-incorrect","pukTriesLeft":2}'
check "report again (idempotent) -> 200" status_is 200
reconcile "$ROT4"
check "the report settles nothing: reconcile still answers the pair" \
    all 'status_is 200' "field_is .puk $NEXT3"
authorize "$FREE_RID2"
check "authorize while the record is in doubt -> 409 PUK_RECORD_MISMATCH, no PUK" \
    all 'is_problem 409 PUK_RECORD_MISMATCH' 'body_lacks "$NEXT3"'

# --- the paid path ---------------------------------------------------------------

open_request "$PAID_ID" 7C4700FABE9771BD "$SM2_ISSUER"
PAID_RID=$(field .requestId)
ORDER=$(field .fee.orderId)
check "charged token: awaiting-payment, 30.00 CNY unpaid, a payment URL" \
    all 'status_is 201' 'field_is .state awaiting-payment' 'field_is .fee.required true' \
    'field_is .fee.amount 30.00' 'field_is .fee.currency CNY' 'field_is .fee.paid false' \
    'field_is .paymentUrl "$URL/pay/$ORDER"'
send_sms "$PAID_RID" "$PAID_PHONE"
check "sms before payment -> 402 PAYMENT_REQUIRED" is_problem 402 PAYMENT_REQUIRED
post "/unlock/v1/requests/$PAID_RID/verify" '{"smsCode":"123456"}'
check "verify before payment -> 402 PAYMENT_REQUIRED" is_problem 402 PAYMENT_REQUIRED

get "/pay/$ORDER"
check "payment page: HTML, Chinese first, fee, invoice form, demo banner" \
    all 'status_is 200' 'header_has "Content-Type: text/html"' 'body_has 30.00' \
    'body_has 发票抬头' 'body_has 税号' 'body_has "Demo:"' 'body_has 演示'
req POST "/pay/$ORDER" --data-urlencode title=示例有限公司 \
    --data-urlencode tax_number=91110000XXXX \
    --data-urlencode email=finance@example.cn
check "payment form with a malformed tax number -> 400 page, not paid" \
    all 'status_is 400' 'header_has "Content-Type: text/html"' 'body_has BAD_REQUEST'
get "/unlock/v1/requests/$PAID_RID"
check "still awaiting-payment" field_is .state awaiting-payment
req POST "/pay/$ORDER" --data-urlencode title=示例有限公司 \
    --data-urlencode tax_number=91110000MA01ABCD2X --data-urlencode phone=13700001000 \
    --data-urlencode email=finance@example.cn
check "payment form with invoice details -> 200 payment complete page" \
    all 'status_is 200' 'body_has 支付成功'
get "/demo/api/orders/$ORDER"
check "the invoice details are stored with the paid order" \
    all 'field_is .paid true' 'field_is .invoice.title 示例有限公司' \
    'field_is .invoice.taxNumber 91110000MA01ABCD2X' 'field_is .invoice.email finance@example.cn'
post "/demo/api/orders/$ORDER/pay" '{}'
check "paying again (demo JSON API) is idempotent" all 'status_is 200' 'field_is .paid true'
get "/unlock/v1/requests/$PAID_RID"
check "after payment the request awaits identity, fee paid" \
    all 'field_is .state awaiting-identity' 'field_is .fee.paid true'
open_request "$PAID_ID" 184E831EDBC1E728 "$SM2_ISSUER"
check "a second request before the unlock is done reuses the paid order" \
    all 'status_is 201' 'field_is .state awaiting-identity' "field_is .fee.orderId $ORDER"
send_sms "$PAID_RID" "$PAID_PHONE"
check "sms after payment -> 202" status_is 202
code=$(latest_code "$PAID_PHONE")
SECRETS+=("$code")
verify_sms "$PAID_RID" "$code"
authorize "$PAID_RID"
PAID_ROT=$(field .rotationId)
SECRETS+=("$(field .nextPuk)")
confirm "$PAID_ROT" rotated
check "paid unlock completes" status_is 200
open_request "$PAID_ID" 184E831EDBC1E728 "$SM2_ISSUER"
check "the next unlock of a charged token needs a new payment" \
    all 'field_is .state awaiting-payment' "[ \"\$(field .fee.orderId)\" != $ORDER ]"
NEW_ORDER=$(field .fee.orderId)
post "/demo/api/orders/$NEW_ORDER/pay" '{"invoice":{"title":"张伟","email":"zw@example.cn"}}'
check "demo JSON payment with an invoice -> 200" all 'status_is 200' 'field_is .paid true'
post /demo/api/orders/ord-nonexistent/pay '{}'
check "paying an unknown order -> 404 ORDER_UNKNOWN" is_problem 404 ORDER_UNKNOWN

# --- wrong phone, wrong codes, expiry, resend limits ------------------------------

open_request "$LIMIT_ID" 0B01 "$SM2_ISSUER"
LIMIT_RID=$(field .requestId)
send_sms "$LIMIT_RID" 13800009999
check "wrong phone -> 403 PHONE_MISMATCH" is_problem 403 PHONE_MISMATCH
check "the refusal does not reveal the registered number" \
    all 'body_lacks "$LIMIT_PHONE"' 'body_lacks 0003000' 'body_lacks 13800009999'
post "/unlock/v1/requests/$LIMIT_RID/sms" '{"phone":"138-0000"}'
check "a phone that is not digits -> 400 BAD_REQUEST field phone" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field phone'
post "/unlock/v1/requests/$LIMIT_RID/verify" '{"smsCode":"123456"}'
check "verify before any SMS -> 409 CODE_NOT_ISSUED" is_problem 409 CODE_NOT_ISSUED
send_sms "$LIMIT_RID" "$LIMIT_PHONE"
check "right phone -> 202" status_is 202
code=$(latest_code "$LIMIT_PHONE")
SECRETS+=("$code")
send_sms "$LIMIT_RID" "$LIMIT_PHONE"
retry=$(field .retryAfter)
check "resend too soon -> 429 RATE_LIMITED with retryAfter and Retry-After" \
    all 'is_problem 429 RATE_LIMITED' '[ "$retry" -ge 1 ] && [ "$retry" -le $RESEND_S ]' \
    'header_has "Retry-After: $retry"'
verify_sms "$LIMIT_RID" "$(other_code "$code")"
check "wrong code -> 403 CODE_INCORRECT, attemptsLeft 4" \
    all 'is_problem 403 CODE_INCORRECT' "field_is .attemptsLeft $((CODE_ATTEMPTS - 1))"
post "/unlock/v1/requests/$LIMIT_RID/verify" '{"smsCode":"12345"}'
check "a code that is not 6 digits -> 400 field smsCode (no attempt counted)" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field smsCode'
for _ in 2 3 4; do verify_sms "$LIMIT_RID" "$(other_code "$code")"; done
check "fourth wrong code -> attemptsLeft 1" \
    all 'is_problem 403 CODE_INCORRECT' 'field_is .attemptsLeft 1'
verify_sms "$LIMIT_RID" "$(other_code "$code")"
check "fifth wrong code -> 429 TOO_MANY_ATTEMPTS, attemptsLeft 0" \
    all 'is_problem 429 TOO_MANY_ATTEMPTS' 'field_is .attemptsLeft 0'
verify_sms "$LIMIT_RID" "$code"
check "after that even the right code -> TOO_MANY_ATTEMPTS" is_problem 429 TOO_MANY_ATTEMPTS

sleep "$RESEND_S"
send_sms "$LIMIT_RID" "$LIMIT_PHONE"
check "a new SMS after the resend interval -> 202" status_is 202
code=$(latest_code "$LIMIT_PHONE")
SECRETS+=("$code")
sleep $((CODE_TTL_S + 1))
verify_sms "$LIMIT_RID" "$code"
check "the right code after its lifetime -> 410 CODE_EXPIRED" is_problem 410 CODE_EXPIRED

sent=2
while [ "$sent" -lt "$SMS_PER_HOUR" ]; do
    send_sms "$LIMIT_RID" "$LIMIT_PHONE"
    if [ "$STATUS" = 202 ]; then
        sent=$((sent + 1))
        SECRETS+=("$(latest_code "$LIMIT_PHONE")")
    else
        sleep 1
    fi
done
sleep "$RESEND_S"
send_sms "$LIMIT_RID" "$LIMIT_PHONE"
check "a sixth SMS within the hour -> 429 RATE_LIMITED, retry in most of an hour" \
    all 'is_problem 429 RATE_LIMITED' '[ "$(field .retryAfter)" -gt 3000 ]' \
    '[ "$(field .retryAfter)" -le 3600 ]'

open_request "$PHONE_ID" 0C01 "$SM2_ISSUER"
PHONE_RID=$(field .requestId)
for i in $(seq "$PHONE_MISMATCH_MAX"); do send_sms "$PHONE_RID" "1360000000$i"; done
check "five wrong numbers are each PHONE_MISMATCH" is_problem 403 PHONE_MISMATCH
send_sms "$PHONE_RID" "$PHONE_PHONE"
check "then even the right number is RATE_LIMITED (the masked digits cannot be guessed)" \
    all 'is_problem 429 RATE_LIMITED' '[ "$(field .retryAfter)" -gt 3000 ]'

# --- the forgotten-phone path -------------------------------------------------------

open_request "$REVIEW_ID" 0D01 "$SM2_ISSUER"
REVIEW_RID=$(field .requestId)
REVIEW_URL=$(field .reviewUrl)
TICKET=${REVIEW_URL##*/}
check "the review URL carries a ticket, never the request id" \
    all '[[ $TICKET == rvt-* ]]' '[[ $REVIEW_URL != *"$REVIEW_RID"* ]]'
get "/review/$TICKET"
check "upload page: HTML form for business licence or ID copy" \
    all 'status_is 200' 'body_has 营业执照' 'body_has 身份证' 'body_has multipart/form-data'

# A PNG's signature, then noise: the service checks the type by the first bytes.
{ printf '\x89PNG\r\n\x1a\n'; head -c 3000 /dev/urandom; } >"$work/id-copy.png"
printf '<html><body><script>alert(document.cookie)</script></body></html>\n' >"$work/id-copy.html"
req POST "/review/$TICKET/materials" -H 'Accept: application/json' \
    -F kind=id-copy -F "file=@$work/id-copy.html;type=image/png"
check "an HTML page sent as image/png -> 415 FILE_TYPE_UNSUPPORTED field file" \
    all 'is_problem 415 FILE_TYPE_UNSUPPORTED' 'field_is .field file'
req POST "/review/$TICKET/materials" -H 'Accept: application/json' \
    -F kind=id-copy -F "file=@$work/id-copy.png;type=image/png"
check "materials upload -> 201 review-pending" \
    all 'status_is 201' 'field_is .state review-pending'
req POST "/review/$TICKET/materials" -H 'Accept: application/json' \
    -F kind=passport -F "file=@$work/id-copy.png;type=image/png"
check "an unknown kind of material -> 400 field kind" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field kind'
head -c $((MATERIAL_MAX + 1)) /dev/zero >"$work/big.png"
req POST "/review/$TICKET/materials" -H 'Accept: application/json' \
    -F kind=id-copy -F "file=@$work/big.png;type=image/png"
check "a file over the size limit -> 413 PAYLOAD_TOO_LARGE" is_problem 413 PAYLOAD_TOO_LARGE
req POST "/review/$TICKET/materials" -F kind=business-licence \
    -F "file=@$work/id-copy.png;type=image/png;filename=licence.png"
check "a form upload from the page -> 201 HTML" \
    all 'status_is 201' 'header_has "Content-Type: text/html"' 'body_has 材料已提交'
get "/unlock/v1/requests/$REVIEW_RID"
check "request state review-pending, review pending" \
    all 'field_is .state review-pending' 'field_is .review.state pending'

get /demo/api/reviews
REVIEW=$(field "[.reviews[] | select(.requestId == \"$REVIEW_RID\")][0].reviewId")
MATERIAL=$(field "[.reviews[] | select(.reviewId == \"$REVIEW\")][0].materials[0].id")
check "the review queue lists it with both materials" \
    all 'status_is 200' '[[ $REVIEW == rev-* ]]' \
    "field_is \"[.reviews[] | select(.reviewId == \\\"\$REVIEW\\\")][0].materials | length\" 2"
get /demo/admin/reviews
check "the support desk page shows the review" \
    all 'status_is 200' 'body_has "$REVIEW"' 'body_has 示例有限公司' 'body_has 通过'
curl -sS --max-time "$CURL_MAX_S" -o "$work/downloaded" \
    "$URL/demo/api/reviews/$REVIEW/materials/$MATERIAL"
check "the uploaded file comes back intact" cmp -s "$work/id-copy.png" "$work/downloaded"

post "/demo/api/reviews/$REVIEW/approve" '{}'
UNLOCK=$(field .unlockCode)
SECRETS+=("$UNLOCK")
check "approve -> a 6-digit unlock code for support to read out" \
    all 'status_is 200' 'grep -Eq "^[0-9]{6}\$" <<<"$UNLOCK"'
get "/unlock/v1/requests/$REVIEW_RID"
check "request state review-approved" field_is .state review-approved
post "/demo/api/reviews/$REVIEW/approve" '{}'
check "approving twice -> 409 STATE_CONFLICT" is_problem 409 STATE_CONFLICT
verify_unlock "$REVIEW_RID" "$(other_code "$UNLOCK")"
check "wrong unlock code -> CODE_INCORRECT attemptsLeft 4" \
    all 'is_problem 403 CODE_INCORRECT' "field_is .attemptsLeft $((CODE_ATTEMPTS - 1))"
verify_unlock "$REVIEW_RID" "$UNLOCK"
check "right unlock code -> authorized" all 'status_is 200' 'field_is .state authorized'
authorize "$REVIEW_RID"
REVIEW_ROT=$(field .rotationId)
SECRETS+=("$(field .nextPuk)")
check "authorize after review -> the PUK pair" all 'status_is 200' "field_is .puk $PUK"
confirm "$REVIEW_ROT" rotated
open_request "$REVIEW_ID" 0D01 "$SM2_ISSUER"
REVIEW_RID2=$(field .requestId)
TICKET2=$(field .reviewUrl); TICKET2=${TICKET2##*/}
verify_unlock "$REVIEW_RID2" "$UNLOCK"
check "an unlock code works once only -> CODE_NOT_ISSUED" is_problem 409 CODE_NOT_ISSUED

req POST "/review/$TICKET2/materials" -H 'Accept: application/json' \
    -F kind=business-licence -F "file=@$work/id-copy.png;type=application/pdf"
get /demo/api/reviews
REVIEW2=$(field "[.reviews[] | select(.requestId == \"$REVIEW_RID2\")][0].reviewId")
post "/demo/api/reviews/$REVIEW2/reject" '{"reason":"营业执照不清晰 / licence unreadable"}'
check "reject with a reason -> 200" all 'status_is 200' 'field_is .state rejected'
get "/unlock/v1/requests/$REVIEW_RID2"
check "request state review-rejected, the reason shown" \
    all 'field_is .state review-rejected' 'field_is .review.state rejected' \
    'field_is .review.reason "营业执照不清晰 / licence unreadable"'
post "/demo/api/reviews/$REVIEW2/approve" '{}'
check "approving a rejected review -> 409 STATE_CONFLICT" is_problem 409 STATE_CONFLICT
post "/demo/api/reviews/$REVIEW2/reject" '{}'
check "reject without a reason -> 400 field reason" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field reason'
req POST "/review/$TICKET2/materials" -H 'Accept: application/json' \
    -F kind=business-licence -F "file=@$work/id-copy.png;type=application/pdf"
check "after a rejection the user may upload again -> review-pending" \
    all 'status_is 201' 'field_is .state review-pending'

# --- bad input gets clean problems -------------------------------------------------------

post /unlock/v1/requests '{"tokenId": '
check "garbage JSON -> 400 BAD_REQUEST problem+json" is_problem 400 BAD_REQUEST
post /unlock/v1/requests '["not", "an", "object"]'
check "JSON that is not an object -> 400" is_problem 400 BAD_REQUEST
post /unlock/v1/requests '{"tokenId": 7, "certSerial": "01", "certIssuer": "CN=x"}'
check "a member of the wrong type -> 400 naming it" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field tokenId'
post /unlock/v1/requests '{"tokenId": "a", "tokenId": "b"}'
check "duplicate members -> 400" is_problem 400 BAD_REQUEST
req POST /unlock/v1/requests -H 'Content-Type: text/plain' --data-binary '{}'
check "not application/json -> 415 UNSUPPORTED_MEDIA_TYPE" is_problem 415 UNSUPPORTED_MEDIA_TYPE
head -c $((JSON_BODY_MAX + 1)) /dev/zero | tr '\0' ' ' >"$work/big.json"
req POST /unlock/v1/requests -H 'Content-Type: application/json' --data-binary "@$work/big.json"
check "a body over the limit -> 413 PAYLOAD_TOO_LARGE" is_problem 413 PAYLOAD_TOO_LARGE
get /unlock/v1/nowhere
check "unknown route -> 404 NOT_FOUND problem+json" is_problem 404 NOT_FOUND
req DELETE "/unlock/v1/requests/$FREE_RID"
check "wrong method -> 405 with Allow" \
    all 'is_problem 405 METHOD_NOT_ALLOWED' 'header_has "Allow: GET"'
get "/unlock/v1/requests/req-00000000000000000000000000000000"
check "unknown request -> 404 REQUEST_UNKNOWN" is_problem 404 REQUEST_UNKNOWN
get "/unlock/v1/requests/REQ%2F..%2Fx"
check "a malformed id -> 404, never a handler" is_problem 404 NOT_FOUND
reconcile rot-00000000000000000000000000000000
check "unknown rotation -> 404 ROTATION_UNKNOWN" is_problem 404 ROTATION_UNKNOWN
confirm "$ROT3" sideways
check "confirm with a result that is neither -> 400 field result" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field result'
req POST "/unlock/v1/requests/$FREE_RID2/authorize" -H 'Origin: https://evil.example'
check "a browser (Origin) on the protocol -> 403 ORIGIN_FORBIDDEN, no PUK" \
    all 'is_problem 403 ORIGIN_FORBIDDEN' 'body_lacks "$NEXT1"'
req GET "/unlock/v1/requests/$FREE_RID" -H 'Sec-Fetch-Site: same-origin'
check "a browser (fetch metadata) on the protocol -> 403 ORIGIN_FORBIDDEN" \
    is_problem 403 ORIGIN_FORBIDDEN

# --- expiry, and a pending rotation that outlives it and a restart --------------------------

start_expiring() {
    extra_url=""
    rm -f "$work/ready2"
    "$ukey_ca" --listen 127.0.0.1:0 --db "$work/expiry.db" --seed "$work/seed.json" \
        --ready-file "$work/ready2" --request-ttl-seconds "$SHORT_REQUEST_TTL_S" --sms-resend-seconds "$RESEND_S" \
        2>>"$log" &
    extra_pid=$!
    extra_url=$(ready_url "$work/ready2")
    [ -n "$extra_url" ]
}
main_url=$URL
check "a second service with short-lived requests starts" start_expiring
URL=$extra_url
open_request "$EXPIRY_ID" 0E01 "$SM2_ISSUER"
EXP_RID=$(field .requestId)
send_sms "$EXP_RID" "$EXPIRY_PHONE"
code=$(latest_code "$EXPIRY_PHONE")
SECRETS+=("$code")
verify_sms "$EXP_RID" "$code"
authorize "$EXP_RID"
EXP_ROT=$(field .rotationId)
EXP_NEXT=$(field .nextPuk)
SECRETS+=("$EXP_NEXT")
sleep $((SHORT_REQUEST_TTL_S + 1))
get "/unlock/v1/requests/$EXP_RID"
check "a request past its time reads as expired" field_is .state expired
authorize "$EXP_RID"
check "authorize on an expired request -> 410 REQUEST_EXPIRED" is_problem 410 REQUEST_EXPIRED
reconcile "$EXP_ROT"
check "the pending rotation outlives its request: reconcile still answers" \
    all 'status_is 200' "field_is .nextPuk $EXP_NEXT"
kill -TERM "$extra_pid"
wait "$extra_pid"
check "the second service stops cleanly on SIGTERM" [ $? -eq 0 ]
extra_pid=""
start_expiring
URL=$extra_url
reconcile "$EXP_ROT"
check "after a restart (seed again, kept) the pending pair is still there" \
    all 'status_is 200' "field_is .puk $PUK" "field_is .nextPuk $EXP_NEXT"
open_request "$EXPIRY_ID" 0E01 "$SM2_ISSUER"
EXP_RID2=$(field .requestId)
send_sms "$EXP_RID2" "$EXPIRY_PHONE"
code=$(latest_code "$EXPIRY_PHONE")
SECRETS+=("$code")
verify_sms "$EXP_RID2" "$code"
authorize "$EXP_RID2"
check "a new request of that token resumes the same pending rotation" \
    all 'status_is 200' "field_is .rotationId $EXP_ROT" "field_is .nextPuk $EXP_NEXT" \
    'field_is .resumed true'
confirm "$EXP_ROT" rotated
get "/unlock/v1/requests/$EXP_RID2"
check "confirming completes the request that resumed it" field_is .state completed
kill -TERM "$extra_pid"
wait "$extra_pid"
extra_pid=""
URL=$main_url

# --- the demo seed from the virtual tokens --------------------------------------------------

if [ -r "$build/demo/tokens.env" ] && [ -x "$build/vtoken" ]; then
    mkdir -p "$work/demo"
    cp "$build/demo/tokens.env" "$build/demo"/*.state "$build/demo"/*.pem "$work/demo/"
    check "make-demo-seed makes a seed from the demo tokens" \
        "$top/web-demo/make-demo-seed" "$work/demo" "$build/vtoken"
    seed="$work/demo/ca-seed.json"
    BODY=$(cat "$seed" 2>/dev/null)
    guid=$("$build/vtoken" show --state "$work/demo/sm2.state" | sed -n 's/^guid *: *//p')
    check "seed: the SM2 token as ukeyd names it, charged 30.00 CNY, phone 13700001000" \
        all "field_is '.tokens[0].tokenId' piv-${guid,,}" \
        "field_is '.tokens[0].fee.amount' 30.00" "field_is '.tokens[0].phone' 13700001000" \
        "field_is '.tokens[0].owner' 演示专用"
    check "seed: the RSA/EC token is free, phone 13900002000, both certificates" \
        all "field_is '.tokens[1].fee' null" "field_is '.tokens[1].phone' 13900002000" \
        "field_is '.tokens[1].certificates | length' 2"
    check "seed: serials upper-case hex, issuers RFC 4514, PUKs from tokens.env" \
        all "field_is '[.tokens[].certificates[].serial | test(\"^[0-9A-F]+\$\")] | all' true" \
            "field_is '.tokens[0].certificates[0].issuer' 'CN=演示根CA, O=演示数字认证中心, C=CN'" \
            "field_is '.tokens[0].puk' $PUK"
    check "seed: readable by its owner only (it holds PUKs)" \
        [ "$(stat -c %a "$seed")" = 600 ]
    rm -f "$work/demo.db"
    URL=""
    (
        "$ukey_ca" --listen 127.0.0.1:0 --db "$work/demo.db" --seed "$seed" \
            --ready-file "$work/ready3" 2>>"$log" &
        pid=$!
        URL=$(ready_url "$work/ready3")
        pem="$work/demo/sm2-9a.pem"
        serial=$(openssl x509 -in "$pem" -noout -serial | sed 's/serial=//')
        open_request "piv-${guid,,}" "$serial" "CN=演示根CA, O=演示数字认证中心, C=CN"
        kill -TERM "$pid"
        wait "$pid"
        [ "$STATUS" = 201 ] && [ "$(field .state)" = awaiting-payment ]
    )
    check "ukey-ca takes that seed: the SM2 token's unlock awaits payment" [ $? -eq 0 ]
    URL=$main_url
else
    diag "no demo tokens in $build/demo: make-demo-seed not tried"
fi

# --- the log ----------------------------------------------------------------------------------

stop_server
check "ukey-ca stops cleanly on SIGTERM (exit 0, no leaks under ASan)" [ $? -eq 0 ]
leaked=""
for s in "$PUK" "${SECRETS[@]}" "$FREE_PHONE" "$PAID_PHONE" "$LIMIT_PHONE" "$REVIEW_PHONE" \
         "$FREE_RID" "$ROT1"; do
    [ -n "$s" ] && [ "$s" != null ] && holds_secret "$s" "$log" && leaked="$leaked $s"
done
check "the log holds no PUK, code, full phone number or full id" [ -z "$leaked" ]
[ -n "$leaked" ] && diag "in the log:$leaked"
check "the log says what happened (rotations, SMS to a masked phone)" \
    all 'grep -q "confirmed: rotated" "$log"' 'grep -q "139\*\*\*\*2000" "$log"'

done_testing
