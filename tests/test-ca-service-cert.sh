#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-ca-service-cert.sh — the reference CA service's certificate side
# (ukey-ca, docs/cert-protocol.md) over real HTTP with curl, a real SQLite
# database and the demo tokens' real CAs, with the openssl CLI as the judge:
# requests a person files (fee, payment, materials of the types asked for,
# review, rejection with a reason, approval), each reachable only from the
# portal session that filed it, the actions ukeyd lists, management-key answers that
# `openssl enc` agrees with and their limit, certificates issued for
# openssl-made requests (RSA, EC, SM2 with its distinguishing id) and for
# kept keys, the pair a change re-issues (the SM2 token's signing 9a with its
# encryption 9d: one subject, the 9d key kept, confirmed only with both
# serials), refusals of bad requests, confirmation, expiry, the browser
# guard, a restart, make-demo-seed's seed and roots, and a log without
# secrets. TAP on stdout.
#
# The conditions given to all() are single-quoted on purpose: it evaluates
# them when it runs, after the request they look at.
# shellcheck disable=SC2016,SC2034
set -u

# shellcheck source=tests/lib/ca-http.sh
. "$(dirname "$0")/lib/ca-http.sh"

readonly CURL_MAX_S=20
readonly SM2_ID=1234567812345678
readonly MGMT_ANSWERS_MAX=16
readonly SHORT_ACTION_TTL_S=2

need_tools jq curl openssl base64 xxd
[ -x "$ukey_ca" ] || skip_all "$ukey_ca not built"
if [ ! -r "$build/demo/tokens.env" ] || [ ! -x "$build/vtoken" ]; then
    skip_all "no demo tokens in $build/demo (make)"
fi

make_work ca-service-cert
cleanup() {
    stop_server >/dev/null 2>&1
    remove_work
}
trap cleanup EXIT

# The browser's cookies: the portal session. JAR=OTHER before a call makes it
# another browser's.
JAR="$work/cookies"

start_issuing() {   # DB [extra options...]: ukey-ca issuing with both demo CAs
    local db=$1
    shift
    start_server "$db" "$log" "$demo/ca-seed.json" \
        --issuer "$demo/sm2-ca.pem:$demo/sm2-ca-key.pem" \
        --issuer "$demo/rsa-ca.pem:$demo/rsa-ca-key.pem" "$@"
}

# --- the protocol's and the portal's calls ----------------------------------------

file_request() {   # TOKEN KIND SLOT SERIAL|null [DETAILS-JSON] [KEY-ALG]
    post /portal/api/cert-requests "$(jq -cn --arg t "$1" --arg k "$2" --arg s "$3" \
        --arg c "$4" --argjson d "${5:-null}" --arg a "${6:-}" \
        '{tokenId: $t, kind: $k, slot: $s, certSerial: (if $c == "null" then null else $c end),
          details: $d} + (if $a == "" then {} else {keyAlgorithm: $a} end)')"
}
decide() { req POST "/demo/api/cert-requests/$2/$1"; }              # review|approve NUMBER
reject() { post "/demo/api/cert-requests/$1/reject" "$(jq -cn --arg r "$2" '{reason: $r}')"; }
pay() { post "/demo/api/orders/${1##*/}/pay" '{}'; }                  # PAYMENT-URL
query() { post /cert/v1/actions/query "{\"tokenId\":\"$1\",\"certificates\":[]}"; }
action_of() {   # TOKEN NUMBER -> the action id ukeyd would see
    post /cert/v1/actions/query "{\"tokenId\":\"$1\",\"certificates\":[]}"
    field "[.actions[] | select(.number == \"$2\")][0].actionId"
}
listed() { query "$1"; [ "$(field "[.actions[] | select(.number == \"$2\")] | length")" = 1 ]; }
not_listed() { query "$1"; status_is 200 && ! listed "$1" "$2"; }
centre_state() {   # TOKEN NUMBER -> the personal centre's state of the request
    get "/portal/api/tokens/$1/cert-requests"
    field "[.requests[] | select(.number == \"$2\")][0].state"
}
mgmt_auth() { post "/cert/v1/actions/$1/management-auth" "{\"algorithm\":\"$2\",\"challenge\":\"$3\"}"; }
issue() { post "/cert/v1/actions/$1/issue" "${2:-{\}}"; }
issue_csr() { issue "$1" "{\"csr\":\"$(base64 -w 0 <"$2")\"}"; }
confirm() { post "/cert/v1/actions/$1/confirm" "{\"serial\":\"$2\"}"; }
# confirm_pair ACTION SERIAL ENC-SERIAL: the confirmation of a signing (9a) and encryption (9d) pair
confirm_pair() {
    post "/cert/v1/actions/$1/confirm" "$(jq -cn --arg s "$2" --arg e "$3" \
        '{serial: $s, certificates: [{slot: "9a", serial: $s}, {slot: "9d", serial: $e}]}')"
}

# Expected management-key answer: CHALLENGE-HEX ALG KEY-HEX -> base64
openssl_answer() {
    local cipher
    case "$2" in
    3DES) cipher=des-ede3-ecb ;;
    AES-128) cipher=aes-128-ecb ;;
    AES-192) cipher=aes-192-ecb ;;
    AES-256) cipher=aes-256-ecb ;;
    esac
    printf '%s' "$1" | xxd -r -p | openssl enc -e -K "$3" -nopad "-$cipher" | base64 -w 0
}
block_hex() { openssl rand -hex "$1"; }
hex_b64() { printf '%s' "$1" | xxd -r -p | base64 -w 0; }

# The certificate of the last issue answer, as PEM in FILE.
save_cert() { field .certificate | base64 -d | openssl x509 -inform DER -out "$1" 2>/dev/null; }
session_in() { awk '$6 == "ukey-ca-portal" { print $7 }' "$1" 2>/dev/null; }   # JAR
materials_of() {   # NUMBER -> how many materials the staff see
    get /demo/api/cert-requests
    field "[.requests[] | select(.number == \"$1\")][0].materials | length"
}
upload() {   # NUMBER FILE TYPE
    req POST "/portal/api/cert-requests/$1/materials" -H 'Accept: application/json' \
        -F kind=business-licence -F "file=@$2;type=$3"
}
cert_serial() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }
# Serials compare as numbers: the protocol keeps a 00 sign octet, openssl drops it.
no_leading_zeros() { local v=${1^^}; echo "${v#"${v%%[!0]*}"}"; }
same_serial() { [ "$(no_leading_zeros "$1")" = "$(no_leading_zeros "$2")" ]; }
cert_subject() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253,-esc_msb | sed 's/^subject=//'; }
pub_of_cert() { openssl x509 -in "$1" -noout -pubkey; }
pub_of_key() { openssl pkey -in "$1" -pubout; }
pub_of_csr() { openssl req -inform DER -in "$1" -noout -pubkey; }
verify_sm2() { openssl verify -CAfile "$demo/sm2-ca.pem" -vfyopt "distid:$SM2_ID" "$1" >/dev/null 2>&1; }
verify_rsa() { openssl verify -CAfile "$demo/rsa-ca.pem" "$1" >/dev/null 2>&1; }
signed_sm3_sm2() { openssl x509 -in "$1" -noout -text | grep -q 'Signature Algorithm: SM2-with-SM3'; }
signed_sha256_rsa() { openssl x509 -in "$1" -noout -text | grep -q 'Signature Algorithm: sha256WithRSAEncryption'; }
ext_text() { openssl x509 -in "$1" -noout -ext "$2" 2>/dev/null; }

# Requests made with the openssl CLI; the subject they ask for is ignored.
csr_rsa() { openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -subj "/CN=ignored" \
    -outform DER -out "$1" 2>/dev/null; }
csr_ec() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -subj "/CN=ignored" -outform DER -out "$1" 2>/dev/null; }
csr_sm2() {
    openssl genpkey -algorithm SM2 -out "$1.key" 2>/dev/null &&
        openssl req -new -key "$1.key" -sm3 -sigopt "distid:$SM2_ID" -subj "/CN=ignored" \
            -outform DER -out "$1" 2>/dev/null
}
# The same request with one bit of its signature flipped.
break_signature() {
    local size at byte
    cp "$1" "$2"
    size=$(stat -c %s "$2")
    at=$((size - 2))
    byte=$(xxd -s "$at" -l 1 -p "$2")
    printf '%02x' $((0x$byte ^ 1)) | xxd -r -p | dd of="$2" bs=1 seek="$at" conv=notrunc 2>/dev/null
}

# --- the demo seed ---------------------------------------------------------------

demo="$work/demo"
mkdir -p "$demo"
cp "$build/demo/tokens.env" "$build/demo"/*.state "$build/demo"/*.pem "$demo/"
log="$work/ukey-ca.log"
check "make-demo-seed makes the seed and the CA roots from the demo tokens" \
    "$top/web-demo/make-demo-seed" "$demo" "$build/vtoken" >/dev/null
# shellcheck source=/dev/null
. "$demo/tokens.env"
SM2_ALG=${DEMO_SM2_MGMT_ALG:-${SM2_MGMT_ALG:-3DES}}
SM2_KEY=${DEMO_SM2_MGMT_KEY:-${SM2_MGMT_KEY:-010203040506070801020304050607080102030405060708}}
RSA_ALG=${DEMO_RSA_EC_MGMT_ALG:-${RSA_EC_MGMT_ALG:-3DES}}
RSA_KEY=${DEMO_RSA_EC_MGMT_KEY:-${RSA_EC_MGMT_KEY:-010203040506070801020304050607080102030405060708}}
BODY=$(cat "$demo/ca-seed.json")
SM2=$(field '.tokens[0].tokenId')
RSA=$(field '.tokens[1].tokenId')
check "seed: each token's management key from tokens.env" \
    all "field_is '.tokens[0].managementKey.algorithm' $SM2_ALG" \
    "field_is '.tokens[0].managementKey.key' $SM2_KEY" \
    "field_is '.tokens[1].managementKey.algorithm' $RSA_ALG"
check "seed: certificate fees (SM2: change 50.00, renewal 100.00; RSA/EC: free)" \
    all "field_is '.tokens[0].certFees.change' 50.00" "field_is '.tokens[0].certFees.renewal' 100.00" \
    "field_is '.tokens[0].certFees.reinstall' 0.00" "field_is '.tokens[1].certFees.change' 0.00"
field '.tokens[0].certificates[0].der' | base64 -d | openssl x509 -inform DER -out "$work/seed-9a.pem"
check "seed: each certificate with its slot and its DER (the SM2 9a one is sm2-9a.pem)" \
    all "field_is '.tokens[0].certificates[0].slot' 9a" "field_is '.tokens[1].certificates[1].slot' 9c" \
    'cmp -s <(openssl x509 -in "$work/seed-9a.pem" -outform DER) <(openssl x509 -in "$demo/sm2-9a.pem" -outform DER)'
check "ca-roots.pem holds the SM2 and the RSA root" \
    all '[ "$(grep -c "BEGIN CERTIFICATE" "$demo/ca-roots.pem")" = 2 ]' \
    'openssl verify -CAfile "$demo/ca-roots.pem" -vfyopt distid:$SM2_ID "$demo/sm2-9a.pem" >/dev/null' \
    'openssl verify -CAfile "$demo/ca-roots.pem" "$demo/rsa-ec-9c.pem" >/dev/null'
SM2_9A=$(cert_serial "$demo/sm2-9a.pem")
SM2_9D=$(cert_serial "$demo/sm2-9d.pem")
RSA_9A=$(cert_serial "$demo/rsa-ec-9a.pem")
RSA_9C=$(cert_serial "$demo/rsa-ec-9c.pem")

db="$work/ca.db"
check "ukey-ca starts with both demo CAs as issuers" start_issuing "$db"
diag "service at $URL"

# --- a charged change on the SM2 token ------------------------------------------------

file_request "$SM2" change 9a "$SM2_9A" '{"organization":"新演示科技有限公司","organizationalUnit":"研发部"}'
CHG=$(field .number)
CHG_PAY=$(field .paymentUrl)
check "SM2 change: 201, awaiting-payment, 50.00 CNY, a payment URL, a C-number" \
    all 'status_is 201' 'field_is .state awaiting-payment' 'field_is .fee.amount 50.00' \
    'field_is .fee.currency CNY' '[[ $CHG_PAY == "$URL"/pay/ord-* ]]' \
    'grep -Eq "^C[0-9]{10}\$" <<<"$CHG"'
check "the answer to the browser holds no action id" body_lacks act-
check "filing opens a portal session: a random cookie, HttpOnly, SameSite=Strict, under /portal/" \
    all 'header_has "Set-Cookie: ukey-ca-portal=ps-[0-9a-f]\{32\}; Path=/portal/; HttpOnly; SameSite=Strict"' \
    '[ -n "$(session_in "$JAR")" ]'
check "the new subject: O replaced, OU added after it, CN and C kept" \
    field_is .subject "CN=演示专用, OU=研发部, O=新演示科技有限公司, C=CN"
get "${CHG_PAY#"$URL"}"
check "the payment page names the certificate service fee" \
    all 'status_is 200' 'body_has 证书业务服务费' 'body_has 50.00'
decide approve "$CHG"
check "approve before payment -> 409 STATE_CONFLICT awaiting-payment" \
    all 'is_problem 409 STATE_CONFLICT' 'field_is .state awaiting-payment'
check "unpaid: not listed for ukeyd" not_listed "$SM2" "$CHG"
# A real PNG (1x1), and a real PDF with nothing on its page.
base64 -d >"$work/licence.png" <<<"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
printf '%s\n' '%PDF-1.4' '1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj' \
    '2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj' \
    '3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj' \
    'trailer << /Root 1 0 R >>' '%%EOF' >"$work/licence.pdf"
printf '<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>\n' \
    >"$work/licence.html"
printf '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>\n' >"$work/licence.svg"
upload "$CHG" "$work/licence.png" image/png
check "materials upload (a PNG) -> 201, still awaiting payment" \
    all 'status_is 201' 'field_is .state awaiting-payment'
req POST "/portal/api/cert-requests/$CHG/materials" -H 'Accept: application/json' \
    -F kind=passport -F "file=@$work/licence.png;type=image/png"
check "an unknown kind of material -> 400 field kind" all 'is_problem 400 BAD_REQUEST' 'field_is .field kind'
upload "$CHG" "$work/licence.html" image/png
check "an HTML page, even sent as image/png -> 415 FILE_TYPE_UNSUPPORTED field file" \
    all 'is_problem 415 FILE_TYPE_UNSUPPORTED' 'field_is .field file'
upload "$CHG" "$work/licence.svg" image/svg+xml
check "an SVG image -> 415 FILE_TYPE_UNSUPPORTED field file" \
    all 'is_problem 415 FILE_TYPE_UNSUPPORTED' 'field_is .field file'
upload "$CHG" "$work/licence.pdf" application/octet-stream
check "a PDF, whatever type the browser gave it -> 201" status_is 201
get /demo/api/cert-requests
check "the staff see the PNG and the PDF only, each under the type its bytes show" \
    all "field_is '[.requests[] | select(.number == \"$CHG\")][0].materials | map(.contentType) | join(\",\")' image/png,application/pdf"

# --- a request is reachable only from the portal session that filed it ------------------------

JAR="$work/stranger.jar" get "/portal/api/tokens/$SM2/cert-requests"
check "another browser's personal centre of the token lists nothing" \
    all 'status_is 200' 'field_is ".requests | length" 0'
JAR="$work/stranger.jar" upload "$CHG" "$work/licence.png" image/png
check "another browser's upload to the request by number -> 404 REQUEST_UNKNOWN, as if absent" \
    is_problem 404 REQUEST_UNKNOWN
printf '127.0.0.1\tFALSE\t/portal/\tFALSE\t0\tukey-ca-portal\tps-%032d\n' 0 >"$work/forged.jar"
JAR="$work/forged.jar" upload "$CHG" "$work/licence.png" image/png
check "a session cookie the service never issued -> 404 REQUEST_UNKNOWN" is_problem 404 REQUEST_UNKNOWN
JAR="$work/stranger.jar" file_request "$RSA" reinstall 9a "$RSA_9A"
STRANGER=$(field .number)
check "the other browser files for its own token: 201, in a session of its own" \
    all 'status_is 201' '[ -n "$(session_in "$work/stranger.jar")" ]' \
    '[ "$(session_in "$work/stranger.jar")" != "$(session_in "$JAR")" ]'
JAR="$work/stranger.jar" upload "$CHG" "$work/licence.png" image/png
check "... and with that session still cannot upload to the first one's request -> 404" \
    is_problem 404 REQUEST_UNKNOWN
JAR="$work/stranger.jar" get "/portal/api/tokens/$SM2/cert-requests"
check "... nor list it" all 'status_is 200' 'field_is ".requests | length" 0'
check "none of the refused uploads reached the request" [ "$(materials_of "$CHG")" = 2 ]
get "/portal/api/tokens/$RSA/cert-requests"
check "the first browser does not see the other's request either" \
    all 'status_is 200' "field_is '[.requests[] | select(.number == \"$STRANGER\")] | length' 0"
JAR="$work/stranger.jar" get "/portal/api/tokens/$RSA/cert-requests"
check "the other browser sees its own" \
    field_is "[.requests[] | select(.number == \"$STRANGER\")] | length" 1
reject "$STRANGER" "测试用 / a test's"
pay "$CHG_PAY"
check "centre: paid -> submitted" [ "$(centre_state "$SM2" "$CHG")" = submitted ]
file_request "$SM2" renewal 9a "$SM2_9A"
check "a second request for a slot with one open -> 409 STATE_CONFLICT submitted" \
    all 'is_problem 409 STATE_CONFLICT' 'field_is .state submitted'
decide review "$CHG"
check "review -> under-review" all 'status_is 200' 'field_is .state under-review'
check "under review: not listed for ukeyd" not_listed "$SM2" "$CHG"
get /demo/admin/cert-reviews
check "the staff's queue page shows it in Chinese, with its material and buttons" \
    all 'status_is 200' 'body_has "$CHG"' 'body_has 证书变更' 'body_has 审核中' \
    'body_has licence.png' 'body_has 通过' 'body_has 驳回' 'body_lacks act-'
decide approve "$CHG"
check "approve -> the person sees approved" all 'status_is 200' 'field_is .state approved'
query "$SM2"
check "listed for ukeyd: keep, SM2, AES-128 management key, the new subject, the old serial" \
    all 'status_is 200' 'field_is ".actions | length" 1' 'field_is .actions[0].number "$CHG"' \
    'field_is .actions[0].kind change' 'field_is .actions[0].state approved' \
    'field_is .actions[0].keyPolicy keep' 'field_is .actions[0].keyAlgorithm SM2' \
    "field_is .actions[0].managementKeyAlgorithm $SM2_ALG" \
    'field_is .actions[0].subject "CN=演示专用, OU=研发部, O=新演示科技有限公司, C=CN"' \
    'same_serial "$(field .actions[0].oldSerial)" "$SM2_9A"' \
    'grep -Eq "^[0-9A-F]+\$" <<<"$(field .actions[0].oldSerial)"' \
    '[ "$(field .actions[0].expiresAt)" != null ]' \
    'header_has "Cache-Control: no-store"'
check "…as a pair: 9a (signing) and the token's encryption certificate 9d with it" \
    all 'field_is "[.actions[0].certificates[] | .slot + \":\" + .role] | join(\" \")" "9a:signing 9d:encryption"' \
    'same_serial "$(field .actions[0].certificates[0].oldSerial)" "$SM2_9A"' \
    'same_serial "$(field .actions[0].certificates[1].oldSerial)" "$SM2_9D"'
CHG_ACT=$(field .actions[0].actionId)
file_request "$SM2" renewal 9d "$SM2_9D"
check "a request for 9d while the pair re-issues it -> 409 STATE_CONFLICT approved" \
    all 'is_problem 409 STATE_CONFLICT' 'field_is .state approved'
check "the action id is a 128-bit bearer capability" grep -Eq '^act-[0-9a-f]{32}$' <<<"$CHG_ACT"
get "/cert/v1/actions/$CHG_ACT"
check "GET the action: the same" all 'status_is 200' 'field_is .number "$CHG"' 'field_is .state approved'
get "/portal/api/tokens/$SM2/cert-requests"
check "personal centre: approved, fee paid, no action id anywhere" \
    all 'status_is 200' "field_is '[.requests[] | select(.number == \"$CHG\")][0].state' approved" \
    "field_is '[.requests[] | select(.number == \"$CHG\")][0].fee.paid' true" 'body_lacks act-'
get /demo/api/cert-requests
check "the staff's JSON holds no action id either" all 'status_is 200' 'body_lacks act-'

# --- management-auth --------------------------------------------------------------------

ch=$(block_hex 16)
mgmt_auth "$CHG_ACT" "$SM2_ALG" "$(hex_b64 "$ch")"
check "management-auth: the answer openssl enc -$SM2_ALG-ecb gives under the token's key" \
    all 'status_is 200' "field_is .response $(openssl_answer "$ch" "$SM2_ALG" "$SM2_KEY")"
mgmt_auth "$CHG_ACT" 3DES "$(hex_b64 "$(block_hex 8)")"
check "another algorithm than the token's -> 400 field algorithm" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field algorithm'
mgmt_auth "$CHG_ACT" DES "$(hex_b64 "$ch")"
check "an unknown algorithm -> 400 field algorithm" all 'is_problem 400 BAD_REQUEST' 'field_is .field algorithm'
mgmt_auth "$CHG_ACT" "$SM2_ALG" "$(hex_b64 "$(block_hex 8)")"
check "a challenge that is not one block -> 400 field challenge" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field challenge'
mgmt_auth "$CHG_ACT" "$SM2_ALG" 'not*base64'
check "a challenge that is not base64 -> 400 field challenge" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field challenge'

# --- issue (keep) and confirm -----------------------------------------------------------------

issue "$CHG_ACT"
save_cert "$work/chg.pem"
CHG_SERIAL=$(cert_serial "$work/chg.pem")
check "issue (keep): a certificate and an empty chain (the root issues directly)" \
    all 'status_is 200' 'field_is ".chain | length" 0' '[ -s "$work/chg.pem" ]'
check "it verifies against the SM2 root (SM3withSM2, distid $SM2_ID)" \
    all 'verify_sm2 "$work/chg.pem"' 'signed_sm3_sm2 "$work/chg.pem"'
check "its key is the slot's key: the token's own 9a private key matches it" \
    [ "$(pub_of_cert "$work/chg.pem")" = "$(pub_of_key "$demo/sm2-9a-key.pem")" ]
check "its subject has the change applied" \
    [ "$(cert_subject "$work/chg.pem")" = "CN=演示专用,OU=研发部,O=新演示科技有限公司,C=CN" ]
check "a new positive 128-bit serial; key usages as the old certificate's; key identifiers" \
    all 'grep -Eq "^[4-7][0-9A-F]{31}\$" <<<"$CHG_SERIAL"' '[ "$CHG_SERIAL" != "$SM2_9A" ]' \
    'ext_text "$work/chg.pem" keyUsage | grep -q "Digital Signature"' \
    'ext_text "$work/chg.pem" extendedKeyUsage | grep -q "Client Authentication"' \
    'ext_text "$work/chg.pem" subjectKeyIdentifier | grep -q :' \
    'ext_text "$work/chg.pem" authorityKeyIdentifier | grep -q :'
issue "$CHG_ACT"
check "the answer carries the pair: 9a's certificate first (the same as at the top), then 9d's" \
    all 'status_is 200' 'field_is "[.certificates[] | .slot + \":\" + .role] | join(\" \")" "9a:signing 9d:encryption"' \
    '[ "$(field .certificates[0].certificate)" = "$(field .certificate)" ]' \
    'field_is ".certificates[1].chain | length" 0'
field .certificates[1].certificate | base64 -d | openssl x509 -inform DER -out "$work/chg-enc.pem" 2>/dev/null
CHG_ENC_SERIAL=$(cert_serial "$work/chg-enc.pem")
check "the encryption certificate: verifies against the SM2 root, SM3withSM2" \
    all 'verify_sm2 "$work/chg-enc.pem"' 'signed_sm3_sm2 "$work/chg-enc.pem"'
check "…for the key the token already has in 9d (kept, re-certified)" \
    [ "$(pub_of_cert "$work/chg-enc.pem")" = "$(pub_of_key "$demo/sm2-9d-key.pem")" ]
check "…with the same new subject as the signing one" \
    [ "$(cert_subject "$work/chg-enc.pem")" = "$(cert_subject "$work/chg.pem")" ]
check "…its own new serial, and the old 9d certificate's usages (key encipherment)" \
    all '[ "$CHG_ENC_SERIAL" != "$CHG_SERIAL" ]' '! same_serial "$CHG_ENC_SERIAL" "$SM2_9D"' \
    'ext_text "$work/chg-enc.pem" keyUsage | grep -q "Key Encipherment"'
query "$SM2"
check "issued: still listed, state issued" field_is .actions[0].state issued
issue "$CHG_ACT"
save_cert "$work/chg2.pem"
field .certificates[1].certificate | base64 -d | openssl x509 -inform DER -out "$work/chg-enc2.pem" 2>/dev/null
check "issue again: the same pair (idempotent)" \
    all 'cmp -s "$work/chg.pem" "$work/chg2.pem"' 'cmp -s "$work/chg-enc.pem" "$work/chg-enc2.pem"'
confirm_pair "$CHG_ACT" "$SM2_9A" "$CHG_ENC_SERIAL"
check "confirm with another serial -> 400 field serial" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field serial'
confirm "$CHG_ACT" "$CHG_SERIAL"
check "confirm naming only the signing certificate (a client of before pairs) -> 400 field certificates" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field certificates'
confirm_pair "$CHG_ACT" "$CHG_SERIAL" "$SM2_9D"
check "confirm naming the old encryption certificate -> 400 field certificates" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field certificates'
get "/cert/v1/actions/$CHG_ACT"
check "…and the action is still issued, not done" all 'status_is 200' 'field_is .state issued'
confirm_pair "$CHG_ACT" "00$CHG_SERIAL" "$CHG_ENC_SERIAL"
check "confirm with both issued serials (any hex form) -> done" \
    all 'status_is 200' 'field_is .state done'
confirm_pair "$CHG_ACT" "$CHG_SERIAL" "$CHG_ENC_SERIAL"
check "confirm again -> 200 (idempotent)" all 'status_is 200' 'field_is .state done'
check "done: no longer listed" not_listed "$SM2" "$CHG"
get "/cert/v1/actions/$CHG_ACT"
check "GET still answers, state done" all 'status_is 200' 'field_is .state done'
check "personal centre says done" [ "$(centre_state "$SM2" "$CHG")" = "done" ]
mgmt_auth "$CHG_ACT" "$SM2_ALG" "$(hex_b64 "$(block_hex 16)")"
check "management-auth once done -> 409 STATE_CONFLICT done" \
    all 'is_problem 409 STATE_CONFLICT' 'field_is .state done'
post /unlock/v1/requests "$(jq -cn --arg t "$SM2" --arg s "$CHG_SERIAL" \
    '{tokenId: $t, certSerial: $s, certIssuer: "CN=演示根CA, O=演示数字认证中心, C=CN"}')"
check "unlock/v1 knows the new certificate as the token's" status_is 201

# --- rejection ---------------------------------------------------------------------------------

file_request "$RSA" change 9a "$RSA_9A" '{"commonName":"Zhang Wei 张伟 (new)"}'
REJ=$(field .number)
check "RSA/EC change: free -> submitted at once, no fee, no payment URL" \
    all 'status_is 201' 'field_is .state submitted' 'field_is .fee null' 'field_is .paymentUrl null'
reject "$REJ" ""
check "reject without a reason -> 400 field reason" all 'is_problem 400 BAD_REQUEST' 'field_is .field reason'
reject "$REJ" "材料不全 / materials incomplete"
check "reject with a reason -> rejected" all 'status_is 200' 'field_is .state rejected'
check "rejected: not listed" not_listed "$RSA" "$REJ"
get "/portal/api/tokens/$RSA/cert-requests"
check "personal centre: rejected, with the reason" \
    all "field_is '[.requests[] | select(.number == \"$REJ\")][0].state' rejected" \
    "field_is '[.requests[] | select(.number == \"$REJ\")][0].reason' '材料不全 / materials incomplete'"
decide approve "$REJ"
check "approving a rejected request -> 409 STATE_CONFLICT rejected" \
    all 'is_problem 409 STATE_CONFLICT' 'field_is .state rejected'
file_request "$SM2" change 9a "$CHG_SERIAL" '{"organizationalUnit":"市场部"}'
UNPAID=$(field .number)
UNPAID_PAY=$(field .paymentUrl)
reject "$UNPAID" "重复申请 / duplicate"
pay "$UNPAID_PAY"
check "paying the order of a request rejected before payment -> 409 STATE_CONFLICT (no money taken)" \
    is_problem 409 STATE_CONFLICT

# --- renewal with an EC key, and the 16-answer limit ---------------------------------------------

file_request "$RSA" renewal 9c "$RSA_9C"
EC=$(field .number)
decide approve "$EC"
EC_ACT=$(action_of "$RSA" "$EC")
query "$RSA"
check "renewal of the EC 9c certificate: listed with keyPolicy new, EC-P256, $RSA_ALG" \
    all "field_is '[.actions[] | select(.number == \"$EC\")][0].keyPolicy' new" \
    "field_is '[.actions[] | select(.number == \"$EC\")][0].keyAlgorithm' EC-P256" \
    "field_is '[.actions[] | select(.number == \"$EC\")][0].managementKeyAlgorithm' $RSA_ALG"
bs=16
[ "$RSA_ALG" = 3DES ] && bs=8
agree=0
for i in $(seq "$MGMT_ANSWERS_MAX"); do
    ch=$(block_hex "$bs")
    mgmt_auth "$EC_ACT" "$RSA_ALG" "$(hex_b64 "$ch")"
    [ "$STATUS" = 200 ] && [ "$(field .response)" = "$(openssl_answer "$ch" "$RSA_ALG" "$RSA_KEY")" ] &&
        agree=$((agree + 1))
done
check "$MGMT_ANSWERS_MAX answers, each the one openssl enc gives" [ "$agree" = "$MGMT_ANSWERS_MAX" ]
mgmt_auth "$EC_ACT" "$RSA_ALG" "$(hex_b64 "$(block_hex "$bs")")"
check "the 17th -> 429 TOO_MANY_ATTEMPTS, no answer" \
    all 'is_problem 429 TOO_MANY_ATTEMPTS' 'field_is .response null'

issue "$EC_ACT"
check "issue (new) without a request -> 400 field csr" all 'is_problem 400 BAD_REQUEST' 'field_is .field csr'
issue "$EC_ACT" '{"csr":"bm90IGEgcmVxdWVzdA=="}'
check "a request that does not parse -> 400 field csr" all 'is_problem 400 BAD_REQUEST' 'field_is .field csr'
csr_rsa "$work/wrong-type.csr"
issue_csr "$EC_ACT" "$work/wrong-type.csr"
check "an RSA request for an EC-P256 action -> 400 field csr" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field csr'
csr_ec "$work/ec.csr"
break_signature "$work/ec.csr" "$work/ec-broken.csr"
issue_csr "$EC_ACT" "$work/ec-broken.csr"
check "a request whose signature does not verify -> 400 field csr" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field csr'
issue_csr "$EC_ACT" "$work/ec.csr"
save_cert "$work/ec.pem"
check "an EC P-256 request: a certificate the RSA root verifies (sha256WithRSA)" \
    all 'status_is 200' 'verify_rsa "$work/ec.pem"' 'signed_sha256_rsa "$work/ec.pem"'
check "... for the request's key, with the old subject and the old key usages" \
    all '[ "$(pub_of_cert "$work/ec.pem")" = "$(pub_of_csr "$work/ec.csr")" ]' \
    '[ "$(cert_subject "$work/ec.pem")" = "$(cert_subject "$demo/rsa-ec-9c.pem")" ]' \
    'ext_text "$work/ec.pem" keyUsage | grep -q "Non Repudiation"'
EC_SERIAL=$(cert_serial "$work/ec.pem")
issue_csr "$EC_ACT" "$work/ec.csr"
check "the same request again: the same certificate" field_is .certificate "$(openssl x509 -in "$work/ec.pem" -outform DER | base64 -w 0)"
csr_ec "$work/ec2.csr"
issue_csr "$EC_ACT" "$work/ec2.csr"
save_cert "$work/ec2.pem"
check "a request for another key: issued anew for that key" \
    all 'status_is 200' '[ "$(cert_serial "$work/ec2.pem")" != "$EC_SERIAL" ]' \
    '[ "$(pub_of_cert "$work/ec2.pem")" = "$(pub_of_csr "$work/ec2.csr")" ]'
confirm "$EC_ACT" "$EC_SERIAL"
check "confirm with the replaced certificate's serial -> 400 field serial" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field serial'
confirm "$EC_ACT" "$(cert_serial "$work/ec2.pem")"
check "confirm the last one -> done" all 'status_is 200' 'field_is .state done'

# --- RSA renewal, SM2 renewal of the encryption certificate, a first issue -------------------------

file_request "$RSA" renewal 9a "$RSA_9A"
RN=$(field .number)
decide approve "$RN"
RN_ACT=$(action_of "$RSA" "$RN")
query "$RSA"
check "RSA renewal: keyAlgorithm RSA-2048" \
    field_is "[.actions[] | select(.number == \"$RN\")][0].keyAlgorithm" RSA-2048
csr_rsa "$work/rsa.csr"
issue_csr "$RN_ACT" "$work/rsa.csr"
save_cert "$work/rsa.pem"
check "an RSA request: verifies against the RSA root, the request's key" \
    all 'status_is 200' 'verify_rsa "$work/rsa.pem"' \
    '[ "$(pub_of_cert "$work/rsa.pem")" = "$(pub_of_csr "$work/rsa.csr")" ]'

# 9d holds the pair's encryption certificate now: the record names it.
file_request "$SM2" renewal 9d "$SM2_9D"
check "a request naming the 9d certificate the pair replaced -> 404 TOKEN_UNKNOWN" \
    is_problem 404 TOKEN_UNKNOWN
file_request "$SM2" renewal 9d "$CHG_ENC_SERIAL" null EC-P256
check "an EC key for the SM2 token -> 400 field keyAlgorithm" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field keyAlgorithm'
file_request "$SM2" renewal 9d "$CHG_ENC_SERIAL"
SR=$(field .number)
check "SM2 renewal: 100.00 CNY" all 'status_is 201' 'field_is .fee.amount 100.00'
pay "$(field .paymentUrl)"
decide approve "$SR"
SR_ACT=$(action_of "$SM2" "$SR")
query "$SM2"
check "listed: new, SM2" \
    all "field_is '[.actions[] | select(.number == \"$SR\")][0].keyPolicy' new" \
    "field_is '[.actions[] | select(.number == \"$SR\")][0].keyAlgorithm' SM2"
issue_csr "$SR_ACT" "$work/ec.csr"
check "an EC request for an SM2 action -> 400 field csr" all 'is_problem 400 BAD_REQUEST' 'field_is .field csr'
csr_sm2 "$work/sm2.csr"
break_signature "$work/sm2.csr" "$work/sm2-broken.csr"
issue_csr "$SR_ACT" "$work/sm2-broken.csr"
check "an SM2 request with a broken signature -> 400 field csr" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field csr'
openssl req -new -key "$demo/sm2-9d-key.pem" -sm3 -sigopt "distid:$SM2_ID" -subj "/CN=ignored" \
    -outform DER -out "$work/sm2-old.csr" 2>/dev/null
issue_csr "$SR_ACT" "$work/sm2-old.csr"
check "a renewal request for the slot's old key (no new key pair) -> 400 field csr" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field csr'
issue_csr "$SR_ACT" "$work/sm2.csr"
save_cert "$work/sm2.pem"
check "an SM2 request (signed with distid $SM2_ID): verifies, SM3withSM2, the request's key" \
    all 'status_is 200' 'verify_sm2 "$work/sm2.pem"' 'signed_sm3_sm2 "$work/sm2.pem"' \
    '[ "$(pub_of_cert "$work/sm2.pem")" = "$(pub_of_csr "$work/sm2.csr")" ]'
check "... with the 9d certificate's subject and usages (key encipherment)" \
    all '[ "$(cert_subject "$work/sm2.pem")" = "$(cert_subject "$work/chg-enc.pem")" ]' \
    'ext_text "$work/sm2.pem" keyUsage | grep -q "Key Encipherment"'

file_request "$RSA" issue 9a null
check "issue on a slot that has a certificate -> 400 field kind" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field kind'
file_request "$RSA" issue 9d null '{"commonName":"Zhang Wei 张伟 (encryption)"}'
FI=$(field .number)
check "first issue on the empty 9d: submitted, free, the subject from the token's 9a with the CN asked for" \
    all 'status_is 201' 'field_is .state submitted' \
    'field_is .subject "CN=Zhang Wei 张伟 (encryption), O=示例有限公司, C=CN"'
decide approve "$FI"
FI_ACT=$(action_of "$RSA" "$FI")
query "$RSA"
check "listed: issue, new, RSA-2048 (the token's kind of key), no old serial" \
    all "field_is '[.actions[] | select(.number == \"$FI\")][0].kind' issue" \
    "field_is '[.actions[] | select(.number == \"$FI\")][0].keyAlgorithm' RSA-2048" \
    "field_is '[.actions[] | select(.number == \"$FI\")][0].oldSerial' null"
csr_rsa "$work/fi.csr"
issue_csr "$FI_ACT" "$work/fi.csr"
save_cert "$work/fi.pem"
check "issued by the RSA root, key encipherment as a 9d certificate has" \
    all 'status_is 200' 'verify_rsa "$work/fi.pem"' \
    'ext_text "$work/fi.pem" keyUsage | grep -q "Key Encipherment"'

# --- bad filings ---------------------------------------------------------------------------------------

file_request "$RSA" swap 9c "$RSA_9C"
check "an unknown kind -> 400 field kind" all 'is_problem 400 BAD_REQUEST' 'field_is .field kind'
file_request "$RSA" change 82 "$RSA_9C" '{"commonName":"x"}'
check "an unknown slot -> 400 field slot" all 'is_problem 400 BAD_REQUEST' 'field_is .field slot'
file_request piv-00000000000000000000000000000000 change 9a "$RSA_9A" '{"commonName":"x"}'
check "an unknown token -> 404 TOKEN_UNKNOWN" is_problem 404 TOKEN_UNKNOWN
file_request "$RSA" reinstall 9c 0BAD
check "a certificate that is not the slot's -> 404 TOKEN_UNKNOWN" is_problem 404 TOKEN_UNKNOWN
file_request "$RSA" change 9c "$RSA_9C"
check "a change without details -> 400 field details" all 'is_problem 400 BAD_REQUEST' 'field_is .field details'
file_request "$RSA" change 9c "$RSA_9C" "{\"commonName\":\"$(printf 'x%.0s' $(seq 65))\"}"
check "a CN over 64 characters -> 400 field details.commonName" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field details.commonName'
file_request "$RSA" change 9c "$RSA_9C" '{"email":"not an address"}'
check "a malformed email -> 400 field details.email" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field details.email'

# --- the protocol's transport rules ---------------------------------------------------------------------

req POST /cert/v1/actions/query -H 'Content-Type: application/json' -H 'Origin: https://evil.example' \
    --data-binary "{\"tokenId\":\"$RSA\"}"
check "a browser (Origin) on cert/v1 -> 403 ORIGIN_FORBIDDEN, no action id" \
    all 'is_problem 403 ORIGIN_FORBIDDEN' 'body_lacks act-'
req POST "/cert/v1/actions/$FI_ACT/management-auth" -H 'Content-Type: application/json' \
    -H 'Sec-Fetch-Site: same-origin' --data-binary "{\"algorithm\":\"$RSA_ALG\",\"challenge\":\"AAAAAAAAAAA=\"}"
check "a browser (fetch metadata) on management-auth -> 403 ORIGIN_FORBIDDEN" \
    all 'is_problem 403 ORIGIN_FORBIDDEN' 'field_is .response null'
req POST /cert/v1/actions/query -H 'Content-Type: text/plain' --data-binary "{\"tokenId\":\"$RSA\"}"
check "not JSON -> 415" is_problem 415 UNSUPPORTED_MEDIA_TYPE
post /cert/v1/actions/query '{"tokenId":"piv-00000000000000000000000000000000"}'
check "query for an unknown token -> 404 TOKEN_UNKNOWN" is_problem 404 TOKEN_UNKNOWN
post /cert/v1/actions/query "{\"tokenId\":\"$RSA\",\"certificates\":7}"
check "certificates that are not a list -> 400 field certificates" \
    all 'is_problem 400 BAD_REQUEST' 'field_is .field certificates'
get /cert/v1/actions/act-00000000000000000000000000000000
check "an unknown action -> 404 ACTION_UNKNOWN" is_problem 404 ACTION_UNKNOWN
get "/cert/v1/actions/$(action_of "$RSA" "$REJ")"
check "a rejected request is no action" is_problem 404 ACTION_UNKNOWN
file_request "$RSA" reinstall 9c "$(cert_serial "$work/ec2.pem")"
PENDING=$(field .number)
check "a request not yet approved is no action either (reinstall of the renewed 9c)" \
    all 'status_is 201' 'not_listed "$RSA" "$PENDING"'

# --- staff pages: a rejection from the form --------------------------------------------------------------

req POST "/demo/admin/cert-reviews/$PENDING/reject" --data-urlencode "reason=请补充营业执照"
check "the queue page's reject form -> 303 back to the queue" \
    all 'status_is 303' 'header_has "Location: /demo/admin/cert-reviews"'
check "... and the person sees rejected" [ "$(centre_state "$RSA" "$PENDING")" = rejected ]

# --- a restart keeps what was confirmed ---------------------------------------------------------------------

stop_server
check "ukey-ca stops cleanly on SIGTERM (exit 0, no leaks under ASan)" [ $? -eq 0 ]
check "it starts again on the same database and seed" start_issuing "$db"
file_request "$SM2" reinstall 9a "$CHG_SERIAL"
RI=$(field .number)
check "reinstall of the changed 9a (the seed's certificate is not back): free, submitted" \
    all 'status_is 201' 'field_is .state submitted' 'field_is .fee null'
decide approve "$RI"
RI_ACT=$(action_of "$SM2" "$RI")
issue "$RI_ACT"
save_cert "$work/ri.pem"
check "issued for the same key, with the changed subject, a new serial" \
    all 'status_is 200' 'verify_sm2 "$work/ri.pem"' \
    '[ "$(pub_of_cert "$work/ri.pem")" = "$(pub_of_key "$demo/sm2-9a-key.pem")" ]' \
    '[ "$(cert_subject "$work/ri.pem")" = "$(cert_subject "$work/chg.pem")" ]' \
    '[ "$(cert_serial "$work/ri.pem")" != "$CHG_SERIAL" ]'
stop_server

# --- an approval that is not carried out in time ---------------------------------------------------------------

check "a service with short-lived approvals starts" \
    start_issuing "$work/expiry.db" --cert-action-ttl-seconds "$SHORT_ACTION_TTL_S"
file_request "$RSA" reinstall 9c "$RSA_9C"
EX=$(field .number)
decide approve "$EX"
EX_ACT=$(action_of "$RSA" "$EX")
check "approved: listed" listed "$RSA" "$EX"
sleep $((SHORT_ACTION_TTL_S + 1))
check "past its time: no longer listed" not_listed "$RSA" "$EX"
get "/cert/v1/actions/$EX_ACT"
check "GET says expired" all 'status_is 200' 'field_is .state expired'
issue "$EX_ACT"
check "issue -> 409 STATE_CONFLICT expired" all 'is_problem 409 STATE_CONFLICT' 'field_is .state expired'
check "the personal centre says expired" [ "$(centre_state "$RSA" "$EX")" = expired ]
file_request "$RSA" reinstall 9c "$RSA_9C"
check "the slot is free for a new request" all 'status_is 201' 'field_is .state submitted'
stop_server

# --- the log --------------------------------------------------------------------------------------------------

leaked=""
for s in "$SM2_KEY" "$RSA_KEY" "$CHG_ACT" "$EC_ACT" "$SR_ACT" "$FI_ACT" "$CHG" "$EC" "$SR"; do
    [ -n "$s" ] && [ "$s" != null ] && grep -qiF -- "$s" "$log" && leaked="$leaked $s"
done
check "the log holds no management key, full action id or full request number" [ -z "$leaked" ]
[ -n "$leaked" ] && diag "in the log:$leaked"
check "the log says what happened (filed, approved, answered, issued, confirmed)" \
    all 'grep -q "management-auth answered" "$log"' 'grep -q "issued (change, slot 9a)" "$log"' \
    'grep -q "confirmed: done" "$log"' 'grep -q "approved" "$log"'

done_testing
