#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-vtoken.sh — the virtual token judged by independent PIV clients
# (OpenSC's pkcs15-tool/opensc-tool and yubico-piv-tool) through a real,
# private pcscd: certificates, PIN verify/change/unblock, blocking, state
# that survives removal and restarts, two tokens at once, and the APDUs the
# token saw. Every verdict comes from a tool's exit status and output, never
# from our own code. TAP on stdout.
#
# Works on copies of the demo tokens in $UKEYD_BUILD/demo, so the demo
# tokens themselves never change.
#
# Checks hand their conditions to eval in single quotes, on purpose, and use
# variables there that shellcheck cannot see.
# shellcheck disable=SC2016,SC2034

set -u

top=${UKEYD_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
build=${UKEYD_BUILD:-$top/build}
rig="$top/tests/rig/rig"
demo="$build/demo"
vtoken="$build/vtoken"
apdu="$build/rig/pcsc-apdu"

readonly EXPECTED_ATR=3b:f8:13:00:00:81:31:fe:15:76:50:49:56:75:6b:65:79:8b
# An APDU through pcscd + vpcd takes well under a millisecond with
# TCP_QUICKACK; without it each costs ~40 ms and a status (~35 APDUs) >1 s.
readonly STATUS_MAX_MS=1000
readonly OID_CERT_9A=2.16.840.1.101.3.7.2.1.1
readonly OID_CERT_9D=2.16.840.1.101.3.7.2.1.2

# --- TAP ---------------------------------------------------------------------

n=0
failures=0
OUT=""
RC=0

# check NAME COMMAND...: one TAP line from COMMAND's status; on failure the
# last captured output is shown as diagnostics.
check() {
    local name=$1
    shift
    n=$((n + 1))
    if "$@"; then
        echo "ok $n - $name"
    else
        failures=$((failures + 1))
        echo "not ok $n - $name"
        printf '%s\n' "$OUT" | head -n 25 | sed 's/^/#   /'
    fi
}

diag() { printf '# %s\n' "$*"; }

# capture COMMAND...: output (stdout+stderr) in OUT, status in RC.
capture() {
    OUT=$("$@" 2>&1)
    RC=$?
}

succeeded() { [ "$RC" -eq 0 ]; }
failed() { [ "$RC" -ne 0 ]; }
says() { [[ "$OUT" == *"$1"* ]]; }
succeeded_saying() { succeeded && says "$1"; }
failed_saying() { failed && says "$1"; }

skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

# --- preconditions -------------------------------------------------------------

for tool in pcscd pkcs15-tool opensc-tool yubico-piv-tool openssl unshare ss od sha256sum; do
    command -v "$tool" >/dev/null || skip_all "$tool not installed (build-aux/install-deps test)"
done
[ -r /usr/lib/pcsc/drivers/serial/libifdvpcd.so ] || skip_all "vsmartcard-vpcd not installed"
if [ ! -x "$vtoken" ] || [ ! -x "$build/rig/pcsc-wait" ] || [ ! -x "$apdu" ]; then
    skip_all "vtoken or rig tools not built in $build"
fi
[ -r "$demo/tokens.env" ] || skip_all "no demo tokens in $demo (make builds them)"
if [ "$(id -u)" -ne 0 ] && ! unshare -r -m true 2>/dev/null; then
    skip_all "needs root or user namespaces for a private pcscd"
fi

# shellcheck disable=SC1091
. "$demo/tokens.env"

work=$(mktemp -d "${TMPDIR:-/tmp}/test-vtoken.XXXXXX")
rigdir="$work/rig"
cleanup() {
    "$rig" stop "$rigdir" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cp "$demo/$DEMO_SM2_STATE" "$work/sm2.state"
cp "$demo/$DEMO_RSA_EC_STATE" "$work/rsa-ec.state"

# --- helpers over the tools -------------------------------------------------------

der_hex() { openssl x509 -in "$1" -outform DER | od -An -tx1 -v | tr -d ' \n'; }
der_sha256() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
pem_sha256() { openssl x509 -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1; }
fingerprint() {
    openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
}
subject_utf8() {
    openssl x509 -in "$1" -noout -subject -nameopt utf8,sep_comma_plus_space | sed 's/^subject=//'
}
serial_hex() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }

ypt() { yubico-piv-tool -r "$1" "${@:2}"; }
p15() { pkcs15-tool --reader "$1" "${@:2}"; }

# The value yubico-piv-tool prints after "LABEL:<tab>" in the block of SLOT.
ypt_field() {
    local slot=$1 label=$2
    printf '%s\n' "$OUT" | awk -v slot="Slot $slot:" -v label="$label:" '
        index($0, slot) == 1 { inside = 1; next }
        /^Slot / { inside = 0 }
        inside && index($0, "\t" label) == 1 { sub(/^\t[^\t]*\t/, ""); print; exit }'
}

# yubico-piv-tool escapes UTF-8 bytes as \xHH; undo that for comparison.
ypt_subject() { printf '%b' "$(ypt_field "$1" "Subject DN")"; }

# A PIV card keeps a verified PIN until it is reset or powered off, and then
# answers the tries query with 9000 (yubico-piv-tool prints -1), so reset
# the card before asking, as a fresh insertion would.
# Predicates over the last captured output.
lists_card_in() { printf '%s\n' "$OUT" | grep -q "Yes.*$1\$"; }
printed_cert_is() { succeeded && [ "$(printf '%s\n' "$OUT" | pem_sha256)" = "$(der_sha256 "$1")" ]; }
line() { sed -n "$1p" <<<"$OUT"; }
answers() { tr '\n' ' ' <<<"$OUT"; }
# A PIV certificate object: 53 L { 70 L DER 71 01 00 FE 00 }.
object_file_holds() {
    [[ "$(od -An -tx1 -v "$1" | tr -d ' \n')" == 53*"$(der_hex "$2")710100fe00" ]]
}

pin_tries() {
    "$apdu" --reset "$1" 00A4040005A000000308 >/dev/null 2>&1
    ypt "$1" -a status 2>/dev/null | sed -n 's/^PIN tries left:\t//p'
}

# --- start ----------------------------------------------------------------------

capture "$rig" start "$rigdir" --build "$build" \
    --token "$work/sm2.state" --token "$work/rsa-ec.state"
check "rig starts pcscd and two tokens" succeeded
if ! succeeded; then
    echo "1..$n"
    exit 1
fi
# shellcheck disable=SC1091
. "$rigdir/env"
SM2=$RIG_READER_0
RSA=$RIG_READER_1
diag "readers: \"$SM2\" (SM2 token), \"$RSA\" (RSA/EC token)"

capture opensc-tool --list-readers
check "opensc-tool sees a card in both readers" \
    eval 'succeeded && lists_card_in "$SM2" && lists_card_in "$RSA"'

capture opensc-tool --reader "$SM2" --atr
check "ATR is the documented T=1 ATR with TCK" succeeded_saying "$EXPECTED_ATR"

capture opensc-tool --reader "$RSA" --name
check "OpenSC binds the token as a PIV card" succeeded_saying "Personal Identity Verification Card"

# --- OpenSC: the RSA/EC token -------------------------------------------------------

capture p15 "$RSA" --list-certificates
check "pkcs15-tool lists the PIV Authentication certificate (9a)" \
    succeeded_saying "Certificate for PIV Authentication"
check "pkcs15-tool lists the Digital Signature certificate (9c)" \
    succeeded_saying "Certificate for Digital Signature"
check "pkcs15-tool shows the 9a certificate's serial" \
    says "$(serial_hex "$demo/rsa-ec-9a.pem")"

capture p15 "$RSA" --read-certificate 01
check "pkcs15-tool --read-certificate 01 equals rsa-ec-9a.pem (DER)" \
    printed_cert_is "$demo/rsa-ec-9a.pem"

capture p15 "$RSA" --read-certificate 02
check "pkcs15-tool --read-certificate 02 equals rsa-ec-9c.pem (DER)" \
    printed_cert_is "$demo/rsa-ec-9c.pem"

capture p15 "$RSA" --list-keys
check "pkcs15-tool sees an RSA-2048 key and an EC key" \
    eval 'succeeded && says "Private RSA Key" && says "ModLength      : 2048" &&
          says "Private EC Key"'

# --- OpenSC: the SM2 token --------------------------------------------------------

# OpenSC 0.23 cannot decode an SM2 public key ("Unsupported named curve"),
# and its PIV emulation then drops the certificate from the PKCS#15 view.
# The certificate objects themselves are still read as PIV data objects.
capture p15 "$SM2" --list-certificates
check "pkcs15-tool binds the SM2 token (certificate listing exits 0)" succeeded
if says "X.509 Certificate"; then
    diag "this OpenSC lists SM2 certificates (0.23 did not)"
else
    diag "as expected for OpenSC 0.23: SM2 certificates not in the PKCS#15 view"
fi

for pair in "9a:$OID_CERT_9A" "9d:$OID_CERT_9D"; do
    slot=${pair%%:*}
    oid=${pair#*:}
    capture p15 "$SM2" --read-data-object "$oid" -o "$work/sm2-$slot.obj"
    check "pkcs15-tool reads the SM2 $slot certificate object: 53 { 70 DER 71 01 00 FE 00 }" \
        eval 'succeeded && object_file_holds "$work/sm2-$slot.obj" "$demo/sm2-$slot.pem"'
done

# --- yubico-piv-tool status ----------------------------------------------------------

capture ypt "$RSA" -a status
check "yubico-piv-tool status on the RSA/EC token" succeeded
check "status: version 5.7.0 and serial $DEMO_RSA_EC_SERIAL" \
    eval 'says "Version:	5.7.0" && says "Serial Number:	$DEMO_RSA_EC_SERIAL"'
check "status 9a: RSA2048, subject and fingerprint of rsa-ec-9a.pem" \
    eval '[ "$(ypt_field 9a Algorithm)" = RSA2048 ] &&
          [ "$(ypt_subject 9a)" = "$(subject_utf8 "$demo/rsa-ec-9a.pem")" ] &&
          [ "$(ypt_field 9a Fingerprint)" = "$(fingerprint "$demo/rsa-ec-9a.pem")" ]'
check "status 9c: ECCP256, subject and fingerprint of rsa-ec-9c.pem" \
    eval '[ "$(ypt_field 9c Algorithm)" = ECCP256 ] &&
          [ "$(ypt_subject 9c)" = "$(subject_utf8 "$demo/rsa-ec-9c.pem")" ] &&
          [ "$(ypt_field 9c Fingerprint)" = "$(fingerprint "$demo/rsa-ec-9c.pem")" ]'
check "status: 3 PIN tries left" says "PIN tries left:	3"

capture ypt "$SM2" -a status
check "yubico-piv-tool status on the SM2 token, serial $DEMO_SM2_SERIAL" \
    succeeded_saying "Serial Number:	$DEMO_SM2_SERIAL"
for slot in 9a 9d; do
    check "status $slot: subject (Chinese intact) and fingerprint of sm2-$slot.pem" \
        eval '[ "$(ypt_subject $slot)" = "$(subject_utf8 "$demo/sm2-$slot.pem")" ] &&
              [ "$(ypt_field $slot Fingerprint)" = "$(fingerprint "$demo/sm2-$slot.pem")" ]'
done
diag "yubico-piv-tool calls the SM2 key algorithm: $(ypt_field 9a Algorithm)"

# --- PIN with OpenSC (RSA/EC token) -----------------------------------------------------

PIN=$DEMO_RSA_EC_PIN
PUK=$DEMO_RSA_EC_PUK

capture p15 "$RSA" --verify-pin --pin "$PIN"
check "pkcs15-tool --verify-pin with the right PIN" succeeded

capture p15 "$RSA" --verify-pin --pin 999999
check "pkcs15-tool --verify-pin with a wrong PIN fails" failed
check "the wrong PIN cost one try (yubico-piv-tool status: 2 left)" \
    eval '[ "$(pin_tries "$RSA")" = 2 ]'

capture ypt "$RSA" -a verify-pin -P 999998
check "yubico-piv-tool verify-pin, wrong: 1 try left" failed_saying "1 tries left"

capture p15 "$RSA" --verify-pin --pin "$PIN"
check "the right PIN resets the counter to 3" eval 'succeeded && [ "$(pin_tries "$RSA")" = 3 ]'

capture p15 "$RSA" --change-pin --pin "$PIN" --new-pin 24681357
check "pkcs15-tool --change-pin" succeeded
capture ypt "$RSA" -a verify-pin -P 24681357
check "the changed PIN verifies (yubico-piv-tool)" succeeded_saying "Successfully verified PIN"
capture ypt "$RSA" -a verify-pin -P "$PIN"
check "the old PIN no longer verifies" failed

capture p15 "$RSA" --unblock-pin --puk "$PUK" --new-pin 11223344
check "pkcs15-tool --unblock-pin with the PUK" succeeded
capture p15 "$RSA" --verify-pin --pin 11223344
check "the PIN set by unblock verifies (pkcs15-tool)" succeeded

# --- PIN with yubico-piv-tool (SM2 token) ---------------------------------------------

PIN=$DEMO_SM2_PIN
PUK=$DEMO_SM2_PUK

capture ypt "$SM2" -a verify-pin -P "$PIN"
check "yubico-piv-tool verify-pin" succeeded_saying "Successfully verified PIN"

capture ypt "$SM2" -a change-pin -P "$PIN" -N 87654321
check "yubico-piv-tool change-pin" succeeded_saying "Successfully changed the pin code"

capture ypt "$SM2" -a verify-pin -P 000000
check "wrong PIN 1 of 3: 2 tries left" failed_saying "2 tries left"
capture ypt "$SM2" -a verify-pin -P 000000
check "wrong PIN 2 of 3: 1 try left" failed_saying "1 tries left"
capture ypt "$SM2" -a verify-pin -P 000000
check "wrong PIN 3 of 3: blocked" failed_saying "blocked"
capture ypt "$SM2" -a verify-pin -P 87654321
check "a blocked PIN refuses even the right PIN" failed_saying "blocked"
check "status shows 0 tries left" eval '[ "$(pin_tries "$SM2")" = 0 ]'

capture ypt "$SM2" -a unblock-pin -P 00000000 -N 13572468
check "unblock-pin with a wrong PUK fails" failed
capture "$vtoken" show --state "$work/sm2.state"
check "the wrong PUK cost a PUK try (vtoken show)" says "2 of 3 tries left"

capture ypt "$SM2" -a unblock-pin -P "$PUK" -N 13572468
check "unblock-pin with the PUK" succeeded_saying "Successfully unblocked the pin code"
capture ypt "$SM2" -a verify-pin -P 13572468
check "the new PIN verifies after unblock" succeeded_saying "Successfully verified PIN"
capture "$vtoken" show --state "$work/sm2.state"
check "unblock restored both counters (vtoken show)" \
    eval 'succeeded && [ "$(grep -c "3 of 3 tries left" <<<"$OUT")" = 2 ]'
check "vtoken show prints no PIN or PUK" eval '! says 13572468 && ! says "$PUK"'

# --- state survives -----------------------------------------------------------------

capture "$rig" remove "$rigdir" 0
check "rig remove: pcscd sees the card gone" succeeded
capture ypt "$SM2" -a status
check "yubico-piv-tool finds no token while removed" failed
capture "$rig" insert "$rigdir" 0
check "rig insert: pcscd sees the card again" succeeded
capture ypt "$SM2" -a verify-pin -P 13572468
check "the changed PIN verifies after remove/insert" succeeded

capture "$rig" restart-token "$rigdir" 0
check "rig restart-token: the token process is killed and started again" succeeded
capture ypt "$SM2" -a verify-pin -P 13572468
check "the changed PIN verifies after a token process restart" succeeded

capture "$rig" restart-pcscd "$rigdir"
check "rig restart-pcscd: both tokens come back" succeeded
capture ypt "$RSA" -a verify-pin -P 11223344
check "the RSA/EC token's PIN verifies after pcscd restart" succeeded

# --- two tokens at once ------------------------------------------------------------

capture ypt "$SM2" -a status
sm2_status=$OUT
capture ypt "$RSA" -a status
check "both tokens answer side by side, each with its own serial" \
    eval 'succeeded && says "Serial Number:	$DEMO_RSA_EC_SERIAL" &&
          [[ "$sm2_status" == *"Serial Number:	$DEMO_SM2_SERIAL"* ]] &&
          [[ "$sm2_status" != *"$(fingerprint "$demo/rsa-ec-9a.pem")"* ]]'

# --- raw APDUs (no client fix-ups) ---------------------------------------------------

capture "$apdu" "$RSA" 00A4040005A000000308 "00 CB 3F FF 00 00 05 5C 03 5F C1 05 00 00"
check "extended-length GET DATA returns the whole 9a object with 9000" \
    eval 'succeeded && [[ "$(line 2)" == 53*"$(der_hex "$demo/rsa-ec-9a.pem" | tr a-f A-F)"*9000 ]]'

capture "$apdu" "$RSA" 00A4040005A000000308 "00 CB 3F FF 05 5C 03 5F C1 05 08" 00C0000000
check "short GET DATA with Le=08: 8 bytes + 6100, then GET RESPONSE continues" \
    eval 'succeeded && [[ "$(line 2)" == 53820*6100 ]] && [ "$(line 3 | wc -c)" -eq $((2 * 258 + 1)) ]'

capture "$apdu" "$RSA" 00A4040005A000000308 "10 20 00 80 04 31 31 32 32" \
    "00 20 00 80 04 33 33 34 34" 00200080 0020FF80 00200080
check "chained VERIFY (CLA 10) then status 9000; VERIFY P1=FF resets it (63C3)" \
    eval 'succeeded && [ "$(answers)" = "$(line 1) 9000 9000 9000 9000 63C3 " ]'

capture "$apdu" --reset "$RSA" 00A4040005A000000309 00CB3FFF055C035FC10500 00A4040005A000000308 \
    0012000000 00FD000000 00F8000000 00CB3FFF055C035FC10D00
check "after reset: other AID 6A82, GET DATA unselected 6D00; APT, bad INS 6D00, version, serial, no 82 cert 6A82" \
    eval 'succeeded && [[ "$(line 3)" == 61??4F06000010000100*9000 ]] &&
          [ "$(answers)" = "6A82 6D00 $(line 3) 6D00 0507009000 009896829000 6A82 " ]'

# --- what the token saw ---------------------------------------------------------------

tries_before=$(pin_tries "$RSA")
capture "$rig" reset-apdus "$rigdir" 1
log_mark=$(wc -l <"$rigdir/token-1.log")
t0=$(date +%s%N)
capture ypt "$RSA" -a status
t1=$(date +%s%N)
status_ms=$(((t1 - t0) / 1000000))
check "yubico-piv-tool status takes under $STATUS_MAX_MS ms (${status_ms} ms)" \
    eval 'succeeded && [ "$status_ms" -lt "$STATUS_MAX_MS" ]'
status_log=$(tail -n +$((log_mark + 1)) "$rigdir/token-1.log" | grep ' apdu ')
capture "$rig" apdus "$rigdir" 1
check "rig apdus counts exactly the APDUs in the token log ($OUT for a status)" \
    eval 'succeeded && [ "$OUT" -gt 10 ] && [ "$OUT" -eq "$(grep -c . <<<"$status_log")" ]'
OUT=$status_log
check "status asks for PIN tries only by VERIFY without data, costing nothing" \
    eval 'grep -q " ins=20 " <<<"$status_log" && ! grep " ins=20 " <<<"$status_log" | grep -qv " lc=0 " &&
          [ "$(pin_tries "$RSA")" = "$tries_before" ]'

unexpected=$(cat "$rigdir"/token-*.log | sed -n 's/.* apdu cla=\(..\) ins=\(..\) .*/\1 \2/p' |
    sort -u | grep -vE '^(00|10) (A4|CB|C0|20|24|2C|FD|F8|CA|12)$' || true)
OUT=$unexpected
check "no INS outside PIV, vendor FD/F8, OpenSC's CA probe and our own 12 test" \
    [ -z "$unexpected" ]
leaked=$(grep -lE '123456|13572468|24681357|11223344|87654321|12345678|313233343536' \
    "$rigdir"/*.log "$rigdir"/*.err 2>/dev/null || true)
OUT=$leaked
check "no PIN or PUK appears in any rig log" [ -z "$leaked" ]

# --- state file handling ------------------------------------------------------------

cp "$work/rsa-ec.state" "$work/broken.state"
sed -i 's/^serial=.*/serial=1/' "$work/broken.state"
capture "$vtoken" show --state "$work/broken.state"
check "an edited state file is refused (checksum)" failed_saying "checksum mismatch"
head -n 5 "$work/rsa-ec.state" >"$work/truncated.state"
capture "$vtoken" show --state "$work/truncated.state"
check "a truncated state file is refused" failed_saying "corrupt state file"
capture "$vtoken" provision --state "$work/x.state" --pin 123 --puk 12345678
check "provision refuses a 3-digit PIN" failed_saying "--pin must be"
capture "$vtoken" provision --state "$work/x.state" --pin 123456 --puk 12345678 \
    --cert "9b:$demo/sm2-9a.pem"
check "provision refuses an unknown slot" failed_saying "SLOT one of"
capture "$vtoken" provision --state "$work/x.state" --pin 123456 --puk 12345678 \
    --cert "9a:$demo/sm2-9a.pem" --key "9a:$demo/sm2-9d-key.pem"
check "provision refuses a key that does not match the certificate" \
    failed_saying "does not match"

capture "$rig" stop "$rigdir"
check "rig stop" succeeded
capture "$rig" stop "$rigdir"
check "rig stop again is harmless" succeeded
OUT=$(cat "$rigdir"/token-*.err 2>&1)
check "the tokens wrote nothing to stderr (no warnings, no sanitizer reports)" [ -z "$OUT" ]

capture "$rig" run --build "$build" --token "$work/rsa-ec.state" -- \
    sh -c 'yubico-piv-tool -r "$RIG_READER_0" -a status >/dev/null && exit 7'
check "rig run starts a rig for one command and passes its exit status on" [ "$RC" -eq 7 ]

echo "1..$n"
[ "$failures" -eq 0 ]
