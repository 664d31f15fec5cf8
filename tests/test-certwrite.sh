#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-certwrite.sh — certificate writes end to end: ukeyd against the
# PC/SC rig (copies of the demo tokens, management keys and all) and the
# reference CA ukey-ca (seeded from those copies, issuing with the demo CAs),
# driven with curl the way the portal and the CA's staff would.
#
#   - change with the key kept (SM2 token, 9a, charged: paid through the demo
#     endpoints, reviewed, approved): the new serial on the token, the key
#     still matches (vtoken show), the CA says done, no actionId anywhere;
#     and the pair: the encryption certificate (9d) re-issued with the
#     signing one, both with the new company, read over the API and over
#     PC/SC (GET DATA);
#   - the pair interrupted between its two writes (the token pulled, ukeyd
#     SIGKILLed): the recovery writes the second, never a mixed pair;
#   - a CA answer with one good and one bad certificate of a pair (the CA's
#     record of 9d is not the token's key): neither written, no try and no
#     management-key answer spent;
#   - renewal with a new key (RSA/EC token, 9a): a missing PIN, a wrong PIN
#     (PIN_INCORRECT, tries left, slot untouched), then the right one: new
#     serial, key matches, yubico-piv-tool test-signature passes;
#   - renewal of 9d with a new key (SM2 token): the old certificate and key
#     retired to slot 82, counted in the key history, OpenSC still reads it;
#   - a first download (issue) on a blank third token: certificate, key and
#     signature, the CA says done;
#   - the events stream tells of every write (certificates-changed);
#   - reinstall after the certificate object was erased;
#   - a rejected review and a missing payment: CERT_ACTION_NOT_FOUND;
#   - the token pulled before and after PUT DATA, MOVE KEY and GENERATE
#     (rig fault), and ukeyd SIGKILLed after the CSR was signed and after the
#     install: each time the token ends with a certificate OpenSC reads and a
#     key that matches it, and the journal-driven recovery finishes (or the
#     action is carried out again);
#   - finally no PIN or management key in any log or journal, and no actionId
#     in ukeyd's log beyond its prefix.
#
# TAP on stdout; everything bounded in time; every process stopped by PID.
set -u

top=${UKEYD_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=tests/lib/ukeyd.sh
. "$top/tests/lib/ukeyd.sh"
# shellcheck source=tests/lib/ca.sh
. "$top/tests/lib/ca.sh"
ukeyd=$build/ukeyd
vtoken=$build/vtoken

readonly PIN=123456
readonly WRONG_PIN=654321
readonly CURL_MAX_S=30
readonly RECOVERY_WAIT_TENTHS=300
readonly KILLED_BY_SIGKILL=137
readonly INS_PUT_DATA=DB
readonly INS_MOVE_KEY=F6
readonly INS_GENERATE=47
readonly SM2=0
readonly RSA=1
readonly BLANK=2
readonly BLANK_SERIAL=10000003
readonly BLANK_PUK=12345678
readonly EVENT_WAIT_TENTHS=50
readonly PAIR=3
readonly PAIR_SERIAL=10000004
readonly GET_RESPONSES=8          # a certificate of up to 2 KiB in 256-byte pieces

for tool in curl jq ss openssl pkcs15-tool; do
    command -v "$tool" >/dev/null || skip_all "$tool is not installed"
done
for bin in "$ukeyd" "$build/ukey-ca" "$vtoken"; do
    [ -x "$bin" ] || skip_all "no $bin (build first)"
done
[ -x "$rig" ] || skip_all "no tests/rig/rig"
[ -r "$demo/tokens.env" ] || skip_all "no demo tokens in $demo"
grep -q MGMT_KEY "$demo/tokens.env" || skip_all "the demo tokens have no management keys yet"

make_work certwrite
state=$work/state
events_pid=
cleanup() {
    [ -n "$events_pid" ] && kill "$events_pid" 2>/dev/null && wait "$events_pid" 2>/dev/null
    lib_cleanup
    remove_work
}
trap cleanup EXIT

copy_demo_tokens || { diag_file "$work/seed.log"; skip_all "make-demo-seed failed"; }
# shellcheck disable=SC1091
. "$work/demo/tokens.env"
cat "$work/demo/sm2-ca.pem" "$work/demo/rsa-ca.pem" >"$work/demo/ca-roots.pem"

# A third token, blank (no certificate, no key) for the first download, and
# its record in the CA's seed: the management key the CA keeps, no
# certificates, free.
BLANK_MGMT_KEY=$(openssl rand -hex 32)
"$vtoken" provision --state "$work/demo/blank.state" --pin "$PIN" --puk "$BLANK_PUK" \
    --serial "$BLANK_SERIAL" --mgmt-key "AES-256:$BLANK_MGMT_KEY" >"$work/provision.log" 2>&1 ||
    { diag_file "$work/provision.log"; skip_all "vtoken provision failed"; }
blank_guid=$("$vtoken" show --state "$work/demo/blank.state" | sed -n 's/^guid *: *//p')
jq --arg id "piv-${blank_guid,,}" --arg puk "$BLANK_PUK" --arg key "$BLANK_MGMT_KEY" \
    '.tokens += [{tokenId: $id, owner: "李四", phone: "13600003000", puk: $puk, fee: null,
                  managementKey: {algorithm: "AES-256", key: $key},
                  certFees: {change: "0.00", renewal: "0.00", reinstall: "0.00", issue: "0.00"},
                  certificates: []}]' "$work/demo/ca-seed.json" >"$work/demo/ca-seed.json.new" ||
    skip_all "no seed record for the blank token"
mv "$work/demo/ca-seed.json.new" "$work/demo/ca-seed.json"
# A fourth token holding a signing (9a) and an encryption (9d) key, each
# with its certificate from the demo RSA CA; the CA's record of its 9d is a
# third certificate, for a key the token does not have: a change of its 9a
# gets an answer whose 9a certificate is good and whose 9d one is not.
ec_cert() {   # NAME SUBJECT: an EC P-256 key and its certificate from the demo RSA CA
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/demo/$1-key.pem" &&
        openssl req -new -utf8 -key "$work/demo/$1-key.pem" -subj "$2" -config /dev/null \
            -out "$work/demo/$1.csr" &&
        printf 'keyUsage=critical,digitalSignature,keyAgreement\n' >"$work/demo/ext.cnf" &&
        openssl x509 -req -in "$work/demo/$1.csr" -CA "$work/demo/rsa-ca.pem" \
            -CAkey "$work/demo/rsa-ca-key.pem" -sha256 -days 30 -extfile "$work/demo/ext.cnf" \
            -set_serial "0x4$(openssl rand -hex 8)" -out "$work/demo/$1.pem"
}
cert_record() {   # PEM SLOT: the seed's {serial, issuer, slot, der}
    jq -cn --arg s "$(openssl x509 -in "$1" -noout -serial | sed 's/^serial=//')" \
        --arg i "$(openssl x509 -in "$1" -noout -issuer -nameopt RFC2253,-esc_msb,sep_comma_plus_space | sed 's/^issuer=//')" \
        --arg slot "$2" --arg d "$(openssl x509 -in "$1" -outform DER | base64 -w 0)" \
        '{serial: ($s | ascii_upcase), issuer: $i, slot: $slot, der: $d}'
}
PAIR_MGMT_KEY=$(openssl rand -hex 32)
{ ec_cert pair-9a "/C=CN/O=成对科技有限公司/CN=王五" && ec_cert pair-9d "/C=CN/O=成对科技有限公司/CN=王五" &&
    ec_cert stray-9d "/C=CN/O=成对科技有限公司/CN=王五"; } >"$work/pair.log" 2>&1 ||
    { diag_file "$work/pair.log"; skip_all "openssl could not make the pair token's certificates"; }
"$vtoken" provision --state "$work/demo/pair.state" --pin "$PIN" --puk "$BLANK_PUK" \
    --serial "$PAIR_SERIAL" --mgmt-key "AES-256:$PAIR_MGMT_KEY" \
    --cert "9a:$work/demo/pair-9a.pem" --key "9a:$work/demo/pair-9a-key.pem" \
    --cert "9d:$work/demo/pair-9d.pem" --key "9d:$work/demo/pair-9d-key.pem" >>"$work/provision.log" 2>&1 ||
    { diag_file "$work/provision.log"; skip_all "vtoken provision of the pair token failed"; }
pair_guid=$("$vtoken" show --state "$work/demo/pair.state" | sed -n 's/^guid *: *//p')
jq --arg id "piv-${pair_guid,,}" --arg puk "$BLANK_PUK" --arg key "$PAIR_MGMT_KEY" \
    --argjson a "$(cert_record "$work/demo/pair-9a.pem" 9a)" \
    --argjson d "$(cert_record "$work/demo/stray-9d.pem" 9d)" \
    '.tokens += [{tokenId: $id, owner: "王五", phone: "13600004000", puk: $puk, fee: null,
                  managementKey: {algorithm: "AES-256", key: $key},
                  certFees: {change: "0.00", renewal: "0.00", reinstall: "0.00", issue: "0.00"},
                  certificates: [$a, $d]}]' "$work/demo/ca-seed.json" >"$work/demo/ca-seed.json.new" ||
    skip_all "no seed record for the pair token"
mv "$work/demo/ca-seed.json.new" "$work/demo/ca-seed.json"
SECRETS=("$PIN" "$WRONG_PIN" "$SM2_MGMT_KEY" "$RSA_EC_MGMT_KEY" "$BLANK_MGMT_KEY" "$PAIR_MGMT_KEY")

start_rig_with "$work/demo/sm2.state" "$work/demo/rsa-ec.state" "$work/demo/blank.state" \
    "$work/demo/pair.state" || skip_all "the rig did not start"
# The binary is there: a CA that does not start (a seed record refused) fails the test.
start_ukey_ca "$work/demo/ca-seed.json" \
    --issuer "$work/demo/sm2-ca.pem:$work/demo/sm2-ca-key.pem" \
    --issuer "$work/demo/rsa-ca.pem:$work/demo/rsa-ca-key.pem"
ca_started=$?
ok $ca_started "ukey-ca starts with the seed, the blank token's record too"
[ $ca_started -eq 0 ] || { diag_file "$work/ukey-ca.log"; done_testing; exit 1; }
[ "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"tokenId":"piv-none","certificates":[]}' "$CA/cert/v1/actions/query")" = 404 ] ||
    skip_all "ukey-ca does not serve /cert/v1 yet"

mkdir -p "$state"
write_config() {   # FILE [MORE LINES...]
    local file=$1
    shift
    {
        echo "[ukeyd]"
        echo "log-level = debug"
        echo "pin-pacing-ms = 100"
        echo "peer-policy = any-local"
        echo "support-socket = none"
        echo "state-directory = $state"
        echo "ca-service-url = $CA"
        echo "ca-connect-timeout = 1"
        echo "ca-timeout = 10"
        printf '%s\n' "$@"
    } >"$file"
}
write_config "$work/ukeyd.conf" "ca-roots = $work/demo/ca-roots.pem"
write_config "$work/noroots.conf"
start_ukeyd "$work/ukeyd.log" "$ukeyd" --config "$work/ukeyd.conf" || skip_all "ukeyd did not start"

# --- requests ------------------------------------------------------------------

SM2_ID=$(token_id_in "$RIG_READER_0")
RSA_ID=$(token_id_in "$RIG_READER_1")
BLANK_ID=$(token_id_in "$RIG_READER_2")
PAIR_ID=$(token_id_in "$RIG_READER_3")
check "the four tokens are seen" test -n "$SM2_ID" -a -n "$RSA_ID" -a -n "$BLANK_ID" -a -n "$PAIR_ID"
check "…the blank one by the id the CA has on record" test "$BLANK_ID" = "piv-${blank_guid,,}"
index_of() { case $1 in "$SM2_ID") echo $SM2 ;; "$RSA_ID") echo $RSA ;; "$PAIR_ID") echo $PAIR ;; *) echo $BLANK ;; esac; }
reader_of() { local r; r="RIG_READER_$(index_of "$1")"; echo "${!r}"; }
state_of() {
    case $1 in
    "$SM2_ID") echo "$work/demo/sm2.state" ;;
    "$RSA_ID") echo "$work/demo/rsa-ec.state" ;;
    "$PAIR_ID") echo "$work/demo/pair.state" ;;
    *) echo "$work/demo/blank.state" ;;
    esac
}

serial_of() {   # TOKEN SLOT: the serial ukeyd shows now, or "" when the slot has none
    local i
    # Right after a recovery the token may still be busy or being re-read.
    for ((i = 0; i < 50; i++)); do
        req GET "/v1/tokens/$1/certificates/$2"
        case $code in
        200) field .serial; return ;;
        404) return ;;
        esac
        sleep 0.1
    done
    diag "serial of $1 $2: $code $(field .code)" >&2
}

subject_of() {   # TOKEN SLOT: the subject ukeyd shows for the slot's certificate
    req GET "/v1/tokens/$1/certificates/$2"
    [ "$code" = 200 ] && field .subject.display
}
# pcsc_subject TOKEN SLOT: the subject of the slot's certificate as the card
# gives it over PC/SC: GET DATA of the PIV object, GET RESPONSE while the
# card says more is waiting (61xx), the certificate (tag 70) out of the
# object (tag 53), read by openssl.
pcsc_subject() {
    local tag apdus=()
    case $2 in 9a) tag=5FC105 ;; 9c) tag=5FC10A ;; 9d) tag=5FC10B ;; *) tag=5FC101 ;; esac
    for ((i = 0; i < GET_RESPONSES; i++)); do apdus+=(00C0000000); done
    "$build/rig/pcsc-apdu" "$(reader_of "$1")" 00A4040005A000000308 "00CB3FFF055C03${tag}00" \
        "${apdus[@]}" 2>/dev/null | python3 -c '
import sys
data = b""
for line in sys.stdin.read().split()[1:]:
    raw = bytes.fromhex(line)
    data += raw[:-2]
    if raw[-2] != 0x61:
        break
def tlv(b, at):   # tag (one or two bytes as given), value
    tag = b[at]; at += 1
    n = b[at]; at += 1
    if n & 0x80:
        k = n & 0x7F; n = int.from_bytes(b[at:at + k], "big"); at += k
    return tag, b[at:at + n]
tag, obj = tlv(data, 0)
tag, cert = tlv(obj, 0)
assert tag == 0x70
sys.stdout.buffer.write(cert)' 2>/dev/null |
        openssl x509 -inform DER -noout -subject -nameopt RFC2253,-esc_msb,sep_comma_plus_space 2>/dev/null |
        sed 's/^subject=//'
}

pcsc_org() { pcsc_subject "$1" "$2" | grep -q "O=$3,"; }   # TOKEN SLOT ORGANIZATION
api_org() { subject_of "$1" "$2" | grep -q "O=$3,"; }      # TOKEN SLOT ORGANIZATION

# file TOKEN KIND SLOT [ORGANIZATION]: a request at the CA's portal; $number, $payment_url.
file() {
    local token=$1 kind=$2 slot=$3 org=${4:-演示科技有限公司} serial answer
    # A slot whose object was erased has no serial to give: the CA's record names it.
    serial=$(serial_of "$token" "$slot")
    answer=$(ca_post /portal/api/cert-requests "$(jq -nc --arg t "$token" --arg k "$kind" \
        --arg s "$slot" --arg c "$serial" --arg o "$org" \
        '{tokenId:$t, kind:$k, slot:$s, certSerial:(if $c == "" then null else $c end),
          details:{organization:$o}}')")
    number=$(jq -r .number <<<"$answer")
    payment_url=$(jq -r '.paymentUrl // empty' <<<"$answer")
    if [ -z "$number" ] || [ "$number" = null ]; then diag "filing failed: $answer"; fi
}
pay() { [ -z "$payment_url" ] || ca_post "/demo/api/orders/${payment_url##*/}/pay" '{"invoice":{"title":"示例有限公司"}}' >/dev/null; }
approve() { ca_post "/demo/api/cert-requests/$number/review" >/dev/null; ca_post "/demo/api/cert-requests/$number/approve" >/dev/null; }
reject() { ca_post "/demo/api/cert-requests/$number/review" >/dev/null; ca_post "/demo/api/cert-requests/$number/reject" '{"reason":"材料不清晰"}' >/dev/null; }
ca_state() { ca_get /demo/api/cert-requests | jq -r --arg n "$number" '.requests[]? | select(.number == $n) | .state'; }
approved() { file "$@"; pay; approve; }
carry_out() { post_json "/v1/tokens/$1/cert-actions/$number" "${2:-{\}}"; }

key_matches() {   # TOKEN SLOT: the vtoken's own judgement of the slot
    "$vtoken" show --state "$(state_of "$1")" 2>/dev/null | grep -q "^ *$2: key matches certificate"
}
pair_keys_match() { key_matches "$1" 9a && key_matches "$1" 9d; }   # TOKEN
opensc_reads() {   # TOKEN: OpenSC decodes the 9a certificate (PIV id 01)
    pkcs15-tool --reader "$(index_of "$1")" --read-certificate 01 2>/dev/null |
        openssl x509 -noout -serial >/dev/null 2>&1
}
signs() {   # TOKEN SLOT: yubico-piv-tool signs with the slot's key and checks it against
            # the slot's certificate as ukeyd reads it (RSA/EC)
    command -v yubico-piv-tool >/dev/null || return 0
    curl -s --max-time "$CURL_MAX_S" -o "$work/slot.pem" "$base/v1/tokens/$1/certificates/$2.pem" &&
        yubico-piv-tool -r "$(reader_of "$1")" -a verify-pin -P "$PIN" -a test-signature -s "$2" \
            <"$work/slot.pem" >"$work/ypt.log" 2>&1
}
sound() {   # NAME TOKEN: what every interruption must leave
    # OpenSC's PIV driver skips SM2 slots altogether (also on an untouched
    # demo token): for SM2 ukeyd's reading and the vtoken's key check judge.
    if [ "$2" != "$SM2_ID" ]; then
        check "$1: OpenSC reads the certificate" opensc_reads "$2"
    else
        check "$1: ukeyd reads the certificate" test -n "$(serial_of "$2" 9a)"
    fi
    check "$1: the key matches the certificate" key_matches "$2" 9a
    if [ "$2" != "$SM2_ID" ]; then check "$1: yubico-piv-tool test-signature" signs "$2" 9a; fi
}
wait_ca_done() {   # until the CA says the request is done (recovery confirmed)
    local i
    for ((i = 0; i < RECOVERY_WAIT_TENTHS; i++)); do
        [ "$(ca_state)" = "done" ] && return 0
        sleep 0.1
    done
    return 1
}
# wait_settled TOKEN: until the request is done, or listed and not interrupted
# (nothing for a recovery to finish: the user carries it out again).
wait_settled() {
    local i
    for ((i = 0; i < RECOVERY_WAIT_TENTHS; i++)); do
        [ "$(ca_state)" = "done" ] && return 0
        req GET "/v1/tokens/$1/cert-actions"
        [ "$(field "[.actions[] | select(.number == \"$number\" and .interrupted == false)] | length")" = 1 ] &&
            return 0
        sleep 0.1
    done
    return 1
}

# --- events ----------------------------------------------------------------------------

# open_events FILE: the SSE stream as EventSource reads it, in the background
# ($events_pid), until its opening comment arrived.
open_events() {
    local i
    curl -sN --max-time 300 "$base/v1/events" >"$1" 2>/dev/null &
    events_pid=$!
    for ((i = 0; i < EVENT_WAIT_TENTHS; i++)); do
        grep -q '^: ukeyd events' "$1" && return 0
        sleep 0.1
    done
    return 1
}
close_events() { [ -z "$events_pid" ] || { kill "$events_pid" 2>/dev/null; wait "$events_pid" 2>/dev/null; events_pid=; }; }
# certs_changed FILE TOKEN: the stream got `event: certificates-changed` with
# this token's id in its data line.
certs_changed() {
    local i
    for ((i = 0; i < EVENT_WAIT_TENTHS; i++)); do
        grep -A1 '^event: certificates-changed$' "$1" | grep -q "^data: .*\"tokenId\":\"$2\"" && return 0
        sleep 0.1
    done
    return 1
}

# --- change, key kept (SM2, charged) --------------------------------------------------

old=$(serial_of "$SM2_ID" 9a)
old_enc=$(serial_of "$SM2_ID" 9d)
check "before: the encryption certificate (9d) carries the old company over PC/SC" \
    pcsc_org "$SM2_ID" 9d 演示科技有限公司
approved "$SM2_ID" change 9a 新演示科技有限公司
req GET "/v1/tokens/$SM2_ID/cert-actions"
expect_json "the approved change is listed" 200 \
    "[.actions[] | select(.number == \"$number\")] | length == 1" \
    "(.actions[] | select(.number == \"$number\")) | .kind == \"change\" and .keyPolicy == \"keep\" and .needsPin == false and .interrupted == false"
expect_json "…as a pair: the signing certificate in 9a and the encryption one in 9d" 200 \
    "(.actions[] | select(.number == \"$number\")) | [.certificates[] | .slot + \":\" + .role] == [\"9a:signing\", \"9d:encryption\"]" \
    "(.actions[] | select(.number == \"$number\")) | .certificates[1].oldSerial == \"$old_enc\""
check "no actionId reaches the page" bash -c "! grep -q 'act-' '$work/body'"
check "the event stream opens" open_events "$work/events"
carry_out "$SM2_ID"
expect_json "change carried out" 200 '.state == "done"' ".number == \"$number\"" \
    '.certificate.subject.display | test("新演示科技有限公司")'
expect_json "…the answer names both certificates written" 200 \
    '[.certificates[].slot] == ["9a", "9d"]' \
    '[.certificates[].certificate.subject.display | test("新演示科技有限公司")] == [true, true]'
new=$(serial_of "$SM2_ID" 9a)
new_enc=$(serial_of "$SM2_ID" 9d)
check "the slot shows the new serial" test -n "$new" -a "$new" != "$old"
check "the encryption certificate (9d) is re-issued with it" test -n "$new_enc" -a "$new_enc" != "$old_enc"
check "SM2 9a: the key matches the certificate" key_matches "$SM2_ID" 9a
check "SM2 9d: the encryption key kept, re-certified" key_matches "$SM2_ID" 9d
check "ukeyd: 签名证书 (9a) carries the new company" api_org "$SM2_ID" 9a 新演示科技有限公司
check "ukeyd: 加密证书 (9d) carries the new company" api_org "$SM2_ID" 9d 新演示科技有限公司
check "PC/SC: 9a carries the new company" pcsc_org "$SM2_ID" 9a 新演示科技有限公司
check "PC/SC: 9d carries the new company" pcsc_org "$SM2_ID" 9d 新演示科技有限公司
check "the CA says done" test "$(ca_state)" = "done"
check "the stream got certificates-changed for the SM2 token" certs_changed "$work/events" "$SM2_ID"
req GET "/v1/tokens/$SM2_ID/cert-actions"
expect_json "a done action is no longer listed" 200 "[.actions[] | select(.number == \"$number\")] | length == 0"
carry_out "$SM2_ID"
expect_json "carrying it out again: CERT_ACTION_NOT_FOUND" 404 "$(problem CERT_ACTION_NOT_FOUND)"

# --- refusals ------------------------------------------------------------------------

file "$SM2_ID" change 9a
carry_out "$SM2_ID"
expect_json "unpaid: CERT_ACTION_NOT_FOUND" 404 "$(problem CERT_ACTION_NOT_FOUND)"
pay
reject
carry_out "$SM2_ID"
expect_json "rejected: CERT_ACTION_NOT_FOUND" 404 "$(problem CERT_ACTION_NOT_FOUND)"
req POST "/v1/tokens/$SM2_ID/cert-actions/not-a-number" -H 'Content-Type: application/json' -d '{}'
expect_json "a malformed number: CERT_ACTION_NOT_FOUND" 404 "$(problem CERT_ACTION_NOT_FOUND)"
post_json "/v1/tokens/$SM2_ID/cert-actions/C0000000001" '{"pin":"12"}'
expect_json "a PIN against the token's rules: PIN_POLICY, no try spent" 422 "$(problem PIN_POLICY)"
req POST "/v1/tokens/$SM2_ID/cert-actions/C0000000001" -H 'Content-Type: application/json' \
    -H 'Origin: https://evil.example' -d '{}'
expect_json "a foreign Origin: ORIGIN_FORBIDDEN" 403 "$(problem ORIGIN_FORBIDDEN)"

# --- renewal, new key (RSA/EC) ------------------------------------------------------------

old=$(serial_of "$RSA_ID" 9a)
approved "$RSA_ID" renewal 9a
req GET "/v1/tokens/$RSA_ID/cert-actions"
expect_json "the renewal needs a PIN" 200 "(.actions[] | select(.number == \"$number\")) | .keyPolicy == \"new\" and .needsPin == true"
carry_out "$RSA_ID"
expect_json "no PIN: BAD_REQUEST field pin" 400 "$(problem BAD_REQUEST)" '.field == "pin"'
carry_out "$RSA_ID" "{\"pin\":\"$WRONG_PIN\"}"
expect_json "a wrong PIN: PIN_INCORRECT with tries left" 403 "$(problem PIN_INCORRECT)" '.triesLeft == 2'
check "…the slot is untouched" test "$(serial_of "$RSA_ID" 9a)" = "$old"
check "…and its key still matches" key_matches "$RSA_ID" 9a
carry_out "$RSA_ID" "{\"pin\":\"$PIN\"}"
expect_json "renewal carried out" 200 '.state == "done"' '.kind == "renewal"'
new=$(serial_of "$RSA_ID" 9a)
check "the slot shows the new serial" test -n "$new" -a "$new" != "$old"
sound "renewal" "$RSA_ID"
check "the CA says done" test "$(ca_state)" = "done"

# --- renewal of 9d, new key (SM2): the old pair retired ----------------------------------------

vt_serial() {   # TOKEN SLOT: the slot's certificate serial as the vtoken shows it
    "$vtoken" show --state "$(state_of "$1")" 2>/dev/null |
        sed -n "/^slot $2:/,/^[^ ]/s/^ *serial *: *//p" | head -n 1
}
key_history() {   # TOKEN: the key history's count of retired keys (C1), read over PC/SC
    "$build/rig/pcsc-apdu" "$(reader_of "$1")" 00A4040005A000000308 00CB3FFF055C035FC10C00 2>/dev/null |
        sed -n '2s/^53[0-9A-F][0-9A-F]C101\([0-9A-F][0-9A-F]\).*9000$/\1/p'
}
opensc_data_objects() {   # TOKEN: pkcs15-tool lists the PIV data objects (in $work/p15.log)
    pkcs15-tool --reader "$(index_of "$1")" --list-data-objects >"$work/p15.log" 2>&1
}

old=$(serial_of "$SM2_ID" 9d)
old_vt=$(vt_serial "$SM2_ID" 9d)
history_before=$(key_history "$SM2_ID")
check "before: 82 is empty, the key history counts none" \
    test -z "$(vt_serial "$SM2_ID" 82)" -a "$history_before" = 00
approved "$SM2_ID" renewal 9d
req GET "/v1/tokens/$SM2_ID/cert-actions"
expect_json "the 9d renewal is listed, new key, PIN needed" 200 \
    "(.actions[] | select(.number == \"$number\")) | .slot == \"9d\" and .keyPolicy == \"new\" and .needsPin == true"
carry_out "$SM2_ID" "{\"pin\":\"$PIN\"}"
expect_json "9d renewal carried out" 200 '.state == "done"' '.kind == "renewal"' '.slot == "9d"'
new=$(serial_of "$SM2_ID" 9d)
check "9d shows the new serial" test -n "$new" -a "$new" != "$old"
check "SM2 9d: the key matches the new certificate" key_matches "$SM2_ID" 9d
check "the old 9d certificate is in retired slot 82" test -n "$old_vt" -a "$(vt_serial "$SM2_ID" 82)" = "$old_vt"
check "…with the old key: 82's key matches it" key_matches "$SM2_ID" 82
check "the key history counts it (C1 = 1)" test "$(key_history "$SM2_ID")" = 01
check "OpenSC still reads the token (data objects)" opensc_data_objects "$SM2_ID"
check "…the retired certificate object among them" \
    bash -c "grep -A4 'Retired X.509 Certificate for Key Management 1' '$work/p15.log' | grep -q 'Data ('"
check "SM2 9a is untouched by it" key_matches "$SM2_ID" 9a
check "the CA says done" test "$(ca_state)" = "done"

# --- first download (issue) on a blank token ---------------------------------------------------

check "the blank token has no certificate in 9a" test -z "$(serial_of "$BLANK_ID" 9a)"
answer=$(ca_post /portal/api/cert-requests "$(jq -nc --arg t "$BLANK_ID" \
    '{tokenId:$t, kind:"issue", slot:"9a", certSerial:null, keyAlgorithm:"EC-P256",
      details:{commonName:"李四", organization:"演示科技有限公司"}}')")
number=$(jq -r .number <<<"$answer")
check "the first download is filed, free" \
    test "$(jq -r '[.state, .kind, (.fee == null)] | join(" ")' <<<"$answer")" = "submitted issue true"
approve
req GET "/v1/tokens/$BLANK_ID/cert-actions"
expect_json "the first download is listed: issue, new key, no old serial" 200 \
    "(.actions[] | select(.number == \"$number\")) | .kind == \"issue\" and .keyPolicy == \"new\" and .keyAlgorithm == \"EC-P256\" and .oldSerial == null and .needsPin == true"
carry_out "$BLANK_ID" "{\"pin\":\"$PIN\"}"
expect_json "first download carried out" 200 '.state == "done"' '.kind == "issue"' \
    '.certificate.subject.display | test("李四")'
check "ukeyd shows the certificate in 9a" test -n "$(serial_of "$BLANK_ID" 9a)"
sound "first download" "$BLANK_ID"
check "the CA says done" test "$(ca_state)" = "done"
check "the stream got certificates-changed for the blank token" certs_changed "$work/events" "$BLANK_ID"
close_events

# --- reinstall after the certificate object was erased --------------------------------------

# yubico-piv-tool 2.2 authenticates with 3DES management keys only and this
# token's is AES-192: the object is emptied in the token's state while it is
# out of the reader (the vtoken keeps a certificate object as one cert.SLOT
# line, and the file ends with the crc32 of the rest).
erase_cert_line() {   # STATE SLOT
    python3 - "$1" "$2" <<'PY'
import sys, zlib
path, slot = sys.argv[1], sys.argv[2]
lines = open(path, "rb").read().split(b"\n")
body = b"".join(l + b"\n" for l in lines
                if l and not l.startswith(b"crc32=") and not l.startswith(b"cert." + slot.encode() + b"="))
open(path, "wb").write(body + b"crc32=%08x\n" % zlib.crc32(body))
PY
}
"$rig" stop-token "$work/rig" $RSA >/dev/null 2>&1
erase_cert_line "$work/demo/rsa-ec.state" 9a
"$rig" start-token "$work/rig" $RSA >/dev/null 2>&1
wait_for_token "$RSA_ID"
check "the certificate object is empty" test -z "$(serial_of "$RSA_ID" 9a)"
check "…the key is still there" bash -c "'$vtoken' show --state '$work/demo/rsa-ec.state' | grep -q '^slot 9a:.*private key'"
approved "$RSA_ID" reinstall 9a
carry_out "$RSA_ID"
expect_json "reinstall carried out" 200 '.state == "done"' '.kind == "reinstall"'
check "the certificate is back" test -n "$(serial_of "$RSA_ID" 9a)"
sound "reinstall" "$RSA_ID"

# --- the token pulled mid-write ----------------------------------------------------------

# yank NAME TOKEN KIND INS WHEN [PIN]: the fault, the POST that it cuts, the
# token back, then recovery (or one more POST) until the CA says done.
yank() {
    local name=$1 token=$2 kind=$3 ins=$4 when=$5 pin=${6:-} body='{}'
    [ -n "$pin" ] && body="{\"pin\":\"$pin\"}"
    approved "$token" "$kind" 9a
    "$rig" fault "$work/rig" "$(index_of "$token")" "$ins" "$when" >/dev/null 2>&1
    carry_out "$token" "$body"
    ok "$([ "$code" != 200 ] && echo 0 || echo 1)" "$name: the pulled token fails the request ($code $(field .code))"
    "$rig" insert "$work/rig" "$(index_of "$token")" >/dev/null 2>&1
    wait_for_token "$token"
    wait_settled "$token"
    if [ "$(ca_state)" != "done" ]; then
        carry_out "$token" "$body"
        [ "$code" = 200 ] || diag "$name: carried out again: $code $(field .code)"
    fi
    check "$name: the CA says done" test "$(ca_state)" = "done"
    sound "$name" "$token"
    req GET "/v1/tokens/$token/cert-actions"
    expect_json "$name: nothing left interrupted" 200 '[.actions[] | select(.interrupted)] | length == 0'
}

yank "keep, pulled before PUT DATA" "$RSA_ID" change $INS_PUT_DATA before
yank "keep, pulled after PUT DATA" "$RSA_ID" change $INS_PUT_DATA after
yank "new key, pulled at GENERATE" "$RSA_ID" renewal $INS_GENERATE before "$PIN"
yank "new key, pulled before MOVE KEY" "$RSA_ID" renewal $INS_MOVE_KEY before "$PIN"
yank "new key, pulled after MOVE KEY" "$RSA_ID" renewal $INS_MOVE_KEY after "$PIN"
yank "new key, pulled after PUT DATA" "$RSA_ID" renewal $INS_PUT_DATA after "$PIN"
yank "SM2 keep, pulled after PUT DATA" "$SM2_ID" change $INS_PUT_DATA after
# The first PUT DATA of that change was 9a's: the pull fell between the pair's writes.
check "pulled between the pair's writes: 9a carries the filed company" \
    pcsc_org "$SM2_ID" 9a 演示科技有限公司
check "…and so does 9d, written by the recovery" \
    pcsc_org "$SM2_ID" 9d 演示科技有限公司
check "SM2 9d: the key matches the certificate" key_matches "$SM2_ID" 9d

# --- ukeyd killed between the pair's two writes --------------------------------------------

approved "$SM2_ID" change 9a 第三演示科技有限公司
stop_ukeyd
start_ukeyd "$work/ukeyd.log" env UKEYD_TEST_CRASH_AFTER=cert-writing "$ukeyd" --config "$work/ukeyd.conf"
carry_out "$SM2_ID"
wait "$daemon_pid" 2>/dev/null
check "pair: ukeyd died by SIGKILL after the first write" test "$?" = "$KILLED_BY_SIGKILL"
daemon_pid=
check "pair: the journal holds one record with the other half" \
    bash -c "jq -e '.format == 2 and (.partners | length) == 1 and .partners[0].slot == \"9d\"' '$state/cert/'*.json"
check "pair: right then 9a is new and 9d is not" \
    eval 'pcsc_org "$SM2_ID" 9a 第三演示科技有限公司 && ! pcsc_org "$SM2_ID" 9d 第三演示科技有限公司'
start_ukeyd "$work/ukeyd.log" "$ukeyd" --config "$work/ukeyd.conf"
check "pair: the recovery at start finishes, the CA says done" wait_ca_done
check "pair: PC/SC 9a carries the new company" pcsc_org "$SM2_ID" 9a 第三演示科技有限公司
check "pair: PC/SC 9d carries it too" pcsc_org "$SM2_ID" 9d 第三演示科技有限公司
check "pair: both keys match their certificates" pair_keys_match "$SM2_ID"
check "pair: the journal is empty" bash -c "! ls '$state/cert/'*.json 2>/dev/null | grep -q ."

# --- one good and one bad certificate: neither written -----------------------------------

pair_old=$(serial_of "$PAIR_ID" 9a)
pair_old_enc=$(serial_of "$PAIR_ID" 9d)
req GET "/v1/tokens/$PAIR_ID/pin"
tries_before=$(field .triesLeft)
answers_before=$(grep -c 'management-auth answered' "$work/ukey-ca.log")
approved "$PAIR_ID" change 9a 成对新科技有限公司
carry_out "$PAIR_ID"
expect_json "a pair with a bad 9d certificate: CERT_INVALID" 502 "$(problem CERT_INVALID)"
check "…9a is untouched" test "$(serial_of "$PAIR_ID" 9a)" = "$pair_old"
check "…9d is untouched" test "$(serial_of "$PAIR_ID" 9d)" = "$pair_old_enc"
check "…both keys still match" pair_keys_match "$PAIR_ID"
check "…no journal record is left" bash -c "! ls '$state/cert/'*.json 2>/dev/null | grep -q ."
req GET "/v1/tokens/$PAIR_ID/pin"
check "…no PIN try spent" test "$(field .triesLeft)" = "$tries_before" -a "$tries_before" != null
check "…no management-key answer asked" \
    test "$(grep -c 'management-auth answered' "$work/ukey-ca.log")" = "$answers_before"
check "…the CA does not say done" test "$(ca_state)" != "done"

# --- ukeyd killed mid-write ---------------------------------------------------------------

# crash NAME STEP: ukeyd kills itself after STEP; a clean restart finishes.
crash() {
    local name=$1 step=$2
    approved "$RSA_ID" renewal 9a
    stop_ukeyd
    start_ukeyd "$work/ukeyd.log" env UKEYD_TEST_CRASH_AFTER="$step" "$ukeyd" --config "$work/ukeyd.conf"
    carry_out "$RSA_ID" "{\"pin\":\"$PIN\"}"
    wait "$daemon_pid" 2>/dev/null
    check "$name: ukeyd died by SIGKILL" test "$?" = "$KILLED_BY_SIGKILL"
    daemon_pid=
    ls "$state/cert/"*.json >/dev/null 2>&1
    check "$name: the journal holds the action" test $? = 0
    start_ukeyd "$work/ukeyd.log" "$ukeyd" --config "$work/ukeyd.conf"
    check "$name: the recovery at start finishes, no PIN asked" wait_ca_done
    sound "$name" "$RSA_ID"
    check "$name: the journal is empty" bash -c "! ls '$state/cert/'*.json 2>/dev/null | grep -q ."
}
crash "killed after the CSR was signed" cert-signed
crash "killed after the install" cert-installing

# --- without ca-roots ----------------------------------------------------------------------

approved "$RSA_ID" change 9a
stop_ukeyd
start_ukeyd "$work/ukeyd.log" "$ukeyd" --config "$work/noroots.conf"
carry_out "$RSA_ID"
expect_json "no ca-roots: CERT_ROOTS_NOT_CONFIGURED, nothing written" 503 "$(problem CERT_ROOTS_NOT_CONFIGURED)"
stop_ukeyd

# --- ca-roots without the issuer's root ----------------------------------------------------

# The same change, with only the SM2 CA trusted: the RSA CA's certificate
# must not reach the slot.
write_config "$work/sm2roots.conf" "ca-roots = $work/demo/sm2-ca.pem"
start_ukeyd "$work/ukeyd.log" "$ukeyd" --config "$work/sm2roots.conf"
old=$(serial_of "$RSA_ID" 9a)
carry_out "$RSA_ID"
expect_json "a certificate outside ca-roots: CERT_INVALID" 502 "$(problem CERT_INVALID)"
check "…the slot is untouched" test "$(serial_of "$RSA_ID" 9a)" = "$old"
check "…and no journal record is left" bash -c "! ls '$state/cert/'*.json 2>/dev/null | grep -q ."
stop_ukeyd
check "ukeyd stops cleanly" test "$stop_rc" = 0

# --- secrets ---------------------------------------------------------------------------------

leaks=0
for s in "${SECRETS[@]}"; do
    holds_secret "$s" "$work/ukeyd.log" "$state" && { diag "a secret leaked"; leaks=1; }
done
ok $leaks "no PIN or management key in ukeyd's log or journal"
check "no whole actionId in ukeyd's log" bash -c "! grep -qE 'act-[0-9a-f]{32}' '$work/ukeyd.log'"

done_testing
