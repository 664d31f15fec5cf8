#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-vtoken.sh — the virtual token judged by independent PIV clients
# (OpenSC's pkcs15-tool/opensc-tool and yubico-piv-tool) through a real,
# private pcscd: certificates, PIN verify/change/unblock, blocking, state
# that survives removal and restarts, two tokens at once, and the APDUs the
# token saw; then the writes: management key (3DES judged by
# yubico-piv-tool, AES by `openssl enc`), GENERATE, PUT DATA, signatures
# (verified by yubico-piv-tool and openssl), GET METADATA, MOVE KEY and
# injected yanks. Every verdict comes from a tool's exit status and output, never
# from our own code. TAP on stdout.
#
# Works on copies of the demo tokens in $UKEYD_BUILD/demo, so the demo
# tokens themselves never change.
#
# Checks hand their conditions to eval in single quotes, on purpose, and use
# variables there that shellcheck cannot see.
# shellcheck disable=SC2016,SC2034

set -u

# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"

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

OUT=""
RC=0

# A failed check shows the last captured output.
show_output() { printf '%s\n' "$OUT" | head -n 25 | sed 's/^/#   /'; }
TAP_ON_FAILURE=show_output

# capture COMMAND...: output (stdout+stderr) in OUT, status in RC.
capture() {
    OUT=$("$@" 2>&1)
    RC=$?
}

succeeded() { [ "$RC" -eq 0 ]; }
did_fail() { [ "$RC" -ne 0 ]; }
says() { [[ "$OUT" == *"$1"* ]]; }
succeeded_saying() { succeeded && says "$1"; }
failed_saying() { did_fail && says "$1"; }

# --- preconditions -------------------------------------------------------------

need_tools pcscd pkcs15-tool opensc-tool yubico-piv-tool openssl unshare ss od sha256sum xxd gzip
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

make_work vtoken
rigdir="$work/rig"
cleanup() {
    "$rig" stop "$rigdir" >/dev/null 2>&1
    remove_work
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cp "$demo/$DEMO_SM2_STATE" "$work/sm2.state"
cp "$demo/$DEMO_RSA_EC_STATE" "$work/rsa-ec.state"
# A third token, empty, with the PIV default management key (3DES), since
# yubico-piv-tool 2.2 knows no other algorithm.
readonly BLANK_SERIAL=10000003
"$vtoken" provision --state "$work/blank.state" --pin 123456 --puk 12345678 \
    --serial "$BLANK_SERIAL" || skip_all "vtoken provision failed"

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
    --token "$work/sm2.state" --token "$work/rsa-ec.state" --token "$work/blank.state"
check "rig starts pcscd and three tokens" succeeded
if ! succeeded; then
    echo "1..$n"
    exit 1
fi
# shellcheck disable=SC1091
. "$rigdir/env"
SM2=$RIG_READER_0
RSA=$RIG_READER_1
VT=$RIG_READER_2
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
check "pkcs15-tool --verify-pin with a wrong PIN fails" did_fail
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
check "the old PIN no longer verifies" did_fail

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
check "unblock-pin with a wrong PUK fails" did_fail
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
check "yubico-piv-tool finds no token while removed" did_fail
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

# --- management key, keys and writes ----------------------------------------------------

readonly DEFAULT_MGMT=010203040506070801020304050607080102030405060708
# Differs from the default outside the DES parity bits (which 3DES ignores:
# ...0708 and ...0709 are the same key).
readonly WRONG_MGMT=030203040506070801020304050607080102030405060708
readonly SELECT_PIV=00A4040005A000000308
# SubjectPublicKeyInfo of an SM2 key up to its point (id-ecPublicKey, SM2 curve).
readonly SM2_SPKI_PREFIX=3059301306072a8648ce3d020106082a811ccf5501822d034200

state_sum() { sha256sum "$1" | cut -d' ' -f1; }
hex_upper() { tr -d ' \n' | tr a-f A-F; }
file_hex() { xxd -p "$1" | tr -d '\n' | tr a-f A-F; }
mgmt_alg_id() { case $1 in 3DES) echo 03 ;; AES-128) echo 08 ;; AES-192) echo 0A ;; AES-256) echo 0C ;; esac; }
mgmt_block() { if [ "$1" = 3DES ]; then echo 8; else echo 16; fi; }
mgmt_cipher() { case $1 in 3DES) echo des-ede3-ecb ;; *) echo "aes-${1#AES-}-ecb" ;; esac; }
# ecb enc|dec ALG KEY HEX: one block through `openssl enc`, the independent judge.
ecb() {
    local dir=()
    [ "$1" = dec ] && dir=(-d)
    printf '%s' "$4" | xxd -r -p | openssl enc "-$(mgmt_cipher "$2")" -nopad -K "$3" "${dir[@]}" |
        xxd -p | hex_upper
}
hx() { printf '%02X' "$1"; }
# BER length of a byte count, in hex.
ber_len() {
    if [ "$1" -lt 128 ]; then hx "$1"
    elif [ "$1" -lt 256 ]; then printf '81%02X' "$1"
    else printf '82%04X' "$1"; fi
}

# mgmt_auth READER ALG KEY: external authentication on a card whose PIV
# application is selected (a separate pcsc-apdu run keeps the card's
# session: no reset, no SELECT in between). OUT holds the card's last answer.
mgmt_auth() {
    local id blk challenge
    id=$(mgmt_alg_id "$2")
    blk=$(mgmt_block "$2")
    capture "$apdu" "$1" "00 87 $id 9B 04 7C 02 81 00"
    challenge=$(line 1)
    [[ "$challenge" == 7C$(hx $((blk + 2)))81$(hx "$blk")*9000 ]] || return 1
    challenge=${challenge:8:$((2 * blk))}
    capture "$apdu" "$1" "00 87 $id 9B $(hx $((blk + 4))) 7C $(hx $((blk + 2))) 82 $(hx "$blk") $(ecb enc "$2" "$3" "$challenge")"
}
# fresh_session READER: reset the card and select PIV.
fresh_session() { "$apdu" --reset "$1" "$SELECT_PIV" >/dev/null; }

# put_data_apdus TAG CONTENT-HEX: the chained PUT DATA command APDUs, one per line.
put_data_apdus() {
    local content=$2 body chunk cla
    body="5C03$1"53$(ber_len $((${#content} / 2)))$content
    while [ ${#body} -gt 0 ]; do
        chunk=${body:0:510}
        body=${body:510}
        cla=10
        [ ${#body} -eq 0 ] && cla=00
        echo "$cla DB 3F FF $(hx $((${#chunk} / 2))) $chunk"
    done
}
cert_object_hex() { printf '70%s%s%s' "$(ber_len $((${#1} / 2)))" "$1" "710100FE00"; }

# --- 3DES and the PIV default key, judged by yubico-piv-tool (blank token)

vt_state=$work/blank.state
capture ypt "$VT" -a generate -s 9c -A ECCP256 -o "$work/vt-9c.pub"
check "yubico-piv-tool authenticates with the default 3DES key and generates an ECCP256 key in 9c" \
    eval 'succeeded && openssl pkey -pubin -in "$work/vt-9c.pub" -noout -text 2>/dev/null | grep -q "NIST CURVE: P-256"'

sum_before=$(state_sum "$vt_state")
log_mark=$(wc -l <"$rigdir/token-2.log")
capture ypt "$VT" --key="$WRONG_MGMT" -a generate -s 9a -A ECCP256
wrong_log=$(tail -n +$((log_mark + 1)) "$rigdir/token-2.log")
check "a wrong management key is refused (69 82) and nothing is generated" \
    eval 'did_fail && grep -q "ins=87 p1=03 p2=9B .*sw=6982" <<<"$wrong_log" &&
          ! grep -q "ins=47" <<<"$wrong_log" && [ "$(state_sum "$vt_state")" = "$sum_before" ]'

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
    -subj /CN=placeholder -out "$work/any.csr" 2>/dev/null
# issue PUBKEY-FILE SUBJECT OUT: a certificate for a key only the token holds.
issue() {
    openssl x509 -req -in "$work/any.csr" -force_pubkey "$1" -CA "$demo/rsa-ca.pem" \
        -CAkey "$demo/rsa-ca-key.pem" -set_serial "0x$(openssl rand -hex 8)" -days 30 \
        -subj "$2" -out "$3" 2>/dev/null
}
issue "$work/vt-9c.pub" "/CN=vtoken 9c" "$work/vt-9c.pem"
capture ypt "$VT" -a import-certificate -s 9c -i "$work/vt-9c.pem"
check "yubico-piv-tool import-certificate (chained PUT DATA) into 9c" \
    succeeded_saying "Successfully imported"
capture p15 "$VT" --read-certificate 02
check "pkcs15-tool reads back the certificate yubico-piv-tool wrote" printed_cert_is "$work/vt-9c.pem"
capture "$vtoken" show --state "$vt_state"
check "vtoken show: 9c: key matches certificate" succeeded_saying "9c: key matches certificate"

capture ypt "$VT" -a verify-pin -P 123456 -a test-signature -s 9c -i "$work/vt-9c.pem"
check "yubico-piv-tool test-signature on 9c: the token's ECDSA signature verifies" \
    succeeded_saying "Successful ECDSA verification"
fresh_session "$VT"
capture ypt "$VT" -a test-signature -s 9c -i "$work/vt-9c.pem"
check "without the PIN the token refuses to sign" did_fail

capture ypt "$VT" -a generate -s 82 -A RSA2048 -o "$work/vt-82.pub"
issue "$work/vt-82.pub" "/CN=vtoken retired 82" "$work/vt-82.pem"
capture ypt "$VT" -a import-certificate -s 82 -i "$work/vt-82.pem"
capture ypt "$VT" -a verify-pin -P 123456 -a test-signature -s 82 -i "$work/vt-82.pem"
check "RSA-2048 generated in retired slot 82 signs raw PKCS#1 blocks (yubico-piv-tool verifies)" \
    succeeded_saying "Successful RSA verification"
capture p15 "$VT" --list-certificates
check "OpenSC lists the retired certificate (key history counts it)" \
    succeeded_saying "Retired Certificate for Key Management 1"

capture ypt "$VT" -a generate -s 9d -A ECCP384 -o "$work/vt-9d.pub"
issue "$work/vt-9d.pub" "/CN=vtoken 9d" "$work/vt-9d.pem"
capture ypt "$VT" -a import-certificate -s 9d -i "$work/vt-9d.pem"
capture ypt "$VT" -a verify-pin -P 123456 -a test-signature -s 9d -i "$work/vt-9d.pem"
check "EC P-384 in 9d signs a SHA-256 hash (yubico-piv-tool verifies)" \
    succeeded_saying "Successful ECDSA verification"

capture ypt "$VT" -a verify-pin -P 123456 -a request-certificate -s 9d -A ECCP384 \
    -S "/CN=request/" -i "$work/vt-9d.pub" -o "$work/vt-9d.csr"
if succeeded; then
    capture openssl req -in "$work/vt-9d.csr" -verify -noout
    check "yubico-piv-tool request-certificate: the CSR signature verifies" succeeded
else
    diag "this yubico-piv-tool cannot sign X.509 through the card (2.2 with OpenSSL 3 swaps an RSA/EC_KEY method the provider key ignores); test-signature judges signing instead"
fi

capture ypt "$VT" -a delete-certificate -s 9c
capture "$apdu" "$VT" "$SELECT_PIV" "00 CB 3F FF 05 5C 03 5F C1 0A 00"
check "yubico-piv-tool delete-certificate (53 00): the 9c object is gone (6A82), the key stays" \
    eval 'succeeded && [ "$(line 2)" = 6A82 ] &&
          "$vtoken" show --state "$vt_state" | grep -q "9c: key, no certificate"'

# --- AES management keys of the demo tokens, judged by openssl enc -----------------

fresh_session "$RSA"
mgmt_auth "$RSA" "$RSA_EC_MGMT_ALG" "$RSA_EC_MGMT_KEY"
check "external authentication with the RSA/EC token's $RSA_EC_MGMT_ALG key: 9000" \
    eval '[ "$(line 1)" = 9000 ]'
capture "$apdu" "$RSA" "00 F7 00 9B"
check "GET METADATA 9B: AES-192 (0A), no PIN, touch never, not the default key" \
    eval '[ "$(line 1)" = "0101$(mgmt_alg_id "$RSA_EC_MGMT_ALG")020200010501009000" ]'

rsa_sum=$(state_sum "$work/rsa-ec.state")
fresh_session "$RSA"
capture "$apdu" "$RSA" "00 87 03 9B 04 7C 02 81 00"
check "a 3DES request on an AES-192 card: 6A86" eval '[ "$(line 1)" = 6A86 ]'
capture "$apdu" "$RSA" "00 87 0A 9B 04 7C 02 81 00" "00 87 0A 9B 14 7C 12 82 10 00112233445566778899AABBCCDDEEFF"
wrong_answer=$(line 2)
mapfile -t put_apdus < <(put_data_apdus 5FC10D "$(cert_object_hex "$(der_hex "$demo/rsa-ec-9c.pem")")")
capture "$apdu" "$RSA" "${put_apdus[@]}"
check "a wrong response is refused (6982) and PUT DATA then too (6982), state unchanged" \
    eval '[ "$wrong_answer" = 6982 ] && [ "$(line ${#put_apdus[@]})" = 6982 ] &&
          [ "$(state_sum "$work/rsa-ec.state")" = "$rsa_sum" ]'

fresh_session "$RSA"
mgmt_auth "$RSA" "$RSA_EC_MGMT_ALG" "$RSA_EC_MGMT_KEY"
capture "$apdu" "$RSA" "${put_apdus[@]}"
check "chained PUT DATA of a certificate into retired slot 82 (5FC10D): 9000 for every link" \
    eval 'succeeded && [ "$(answers)" = "$(printf "9000 %.0s" "${put_apdus[@]}")" ]'
capture p15 "$RSA" --read-certificate 05
check "pkcs15-tool reads the certificate written by PUT DATA (retired 82, ID 05)" \
    printed_cert_is "$demo/rsa-ec-9c.pem"

fresh_session "$RSA"
mgmt_auth "$RSA" "$RSA_EC_MGMT_ALG" "$RSA_EC_MGMT_KEY"
capture "$apdu" "$RSA" "00 DB 3F FF 0F 5C 03 5F C1 0C 53 08 C1 01 01 C2 01 00 FE 00" \
    "00 CB 3F FF 05 5C 03 5F C1 0C 00"
check "PUT DATA key history { C1 01 01 C2 01 00 FE 00 }: GET DATA serves it as written" \
    eval '[ "$(answers)" = "9000 5308C10101C20100FE009000 " ]'

big=$(head -c 3100 /dev/zero | xxd -p | tr -d '\n')
mapfile -t big_apdus < <(put_data_apdus 5FC10E "$big")
capture "$apdu" "$RSA" "${big_apdus[@]}"
check "an object beyond the card's room: 6A84" eval '[ "$(line ${#big_apdus[@]})" = 6A84 ]'

gz=$(openssl x509 -in "$demo/rsa-ec-9a.pem" -outform DER | gzip -9n | xxd -p | hex_upper)
mapfile -t gz_apdus < <(put_data_apdus 5FC10E "70$(ber_len $((${#gz} / 2)))${gz}710101FE00")
capture "$apdu" "$RSA" "${gz_apdus[@]}" "00 CB 3F FF 00 00 05 5C 03 5F C1 0E 00 00"
check "a gzip certificate (CertInfo 01) is stored and served as given" \
    eval '[[ "$(line $((${#gz_apdus[@]} + 1)))" == 53*"70$(ber_len $((${#gz} / 2)))${gz}710101FE009000" ]]'
capture "$vtoken" show --state "$work/rsa-ec.state"
check "vtoken show decodes the gzip certificate (slot 83)" \
    eval 'succeeded && grep -A1 "^slot 83" <<<"$OUT" | grep -q "subject: CN=Zhang Wei"'

capture "$apdu" "$RSA" "00 DB 3F FF 07 5C 03 5F C1 0E 53 00" "00 CB 3F FF 05 5C 03 5F C1 0E 00"
check "PUT DATA 53 00 deletes the object (then 6A82)" eval '[ "$(answers)" = "9000 6A82 " ]'

capture "$apdu" "$RSA" "$SELECT_PIV" "00 DB 3F FF 07 5C 03 5F C1 0E 53 00"
check "SELECT ends the management key session (PUT DATA then 6982)" eval '[ "$(line 2)" = 6982 ]'
mgmt_auth "$RSA" "$RSA_EC_MGMT_ALG" "$RSA_EC_MGMT_KEY"
capture "$apdu" "$RSA" 0020FF80 "00 DB 3F FF 07 5C 03 5F C1 0E 53 00"
check "VERIFY P1=FF ends it too" eval '[ "$(answers)" = "9000 6982 " ]'

# Mutual authentication (the witness flow) with AES-128 on the SM2 token.
fresh_session "$SM2"
capture "$apdu" "$SM2" "00 87 08 9B 04 7C 02 80 00"
witness=$(line 1)
witness=$(ecb dec "$SM2_MGMT_ALG" "$SM2_MGMT_KEY" "${witness:8:32}")
my_challenge=$(openssl rand -hex 16 | hex_upper)
capture "$apdu" "$SM2" "00 87 08 9B 26 7C 24 80 10 $witness 81 10 $my_challenge"
check "mutual authentication with AES-128: the card proves the key too (openssl enc agrees)" \
    eval '[ "$(line 1)" = "7C128210$(ecb enc "$SM2_MGMT_ALG" "$SM2_MGMT_KEY" "$my_challenge")9000" ]'

# --- SM2 keys, GET METADATA and MOVE KEY (YubiKey 5.3 / 5.7 extensions) ---------------

capture "$apdu" "$SM2" "00 47 00 95 05 AC 03 80 01 F0"
gen=$(line 1)
point=${gen:10:130}
check "GENERATE SM2 (vendor F0) in 95: 7F49 43 { 86 41 04 X Y }" \
    eval '[[ "$gen" == 7F4943864104*9000 ]] && [ ${#gen} -eq $((2 * 0x46 + 4)) ]'
capture "$apdu" "$SM2" "00 F7 00 95"
check "GET METADATA 95: SM2, PIN once, touch never, generated, the same point" \
    eval '[ "$(line 1)" = "0101F00202020103010104438641${point}9000" ]'
capture "$apdu" "$SM2" "00 F6 9D 95" "00 F7 00 95" "00 F6 95 95" "00 F6 82 95"
check "MOVE KEY 95→9D: 9000; 95 is empty then (6A88); DEST=SRC 6A86; empty SRC 6A88" \
    eval '[ "$(answers)" = "9000 6A88 6A86 6A88 " ]'
capture "$vtoken" show --state "$work/sm2.state"
check "vtoken show: 9d: key does not match certificate (the new SM2 key moved in)" \
    eval 'succeeded_saying "9d: key does not match certificate" && says "9a: key matches certificate"'

e=$(openssl rand -hex 32 | hex_upper)
fresh_session "$SM2"
capture "$apdu" "$SM2" "00 20 00 80 08 $(printf 13572468 | xxd -p)" \
    "00 87 F0 9D 26 7C 24 82 00 81 20 $e" "00 87 11 9D 26 7C 24 82 00 81 20 $e" \
    "00 87 F0 9E 26 7C 24 82 00 81 20 $e"
sig=$(line 2)
sig=${sig%9000}
printf '%s' "${sig:8}" | xxd -r -p >"$work/sm2.sig"
printf '%s' "$e" | xxd -r -p >"$work/sm2.e"
printf '%s%s' "$SM2_SPKI_PREFIX" "$(tr A-F a-f <<<"$point")" | xxd -r -p |
    openssl pkey -pubin -inform DER -out "$work/sm2-moved.pub" 2>/dev/null
check "SM2 signature over e from the moved key verifies (openssl pkeyutl, SM2 public key from 86)" \
    eval 'openssl pkeyutl -verify -pubin -inkey "$work/sm2-moved.pub" -in "$work/sm2.e" \
              -sigfile "$work/sm2.sig" >/dev/null 2>&1'
check "signing with the wrong algorithm id: 6A80; an empty slot: 6A88" \
    eval '[ "$(line 3)" = 6A80 ] && [ "$(line 4)" = 6A88 ]'

capture "$apdu" "$SM2" "00 87 F0 9A 26 7C 24 82 00 81 20 $e"
sig=$(line 1)
sig=${sig%9000}
printf '%s' "${sig:8}" | xxd -r -p >"$work/sm2-9a.sig"
openssl x509 -in "$demo/sm2-9a.pem" -pubkey -noout >"$work/sm2-9a.pub"
check "the imported SM2 key in 9a signs too (verified with its certificate's key)" \
    eval 'openssl pkeyutl -verify -pubin -inkey "$work/sm2-9a.pub" -in "$work/sm2.e" \
              -sigfile "$work/sm2-9a.sig" >/dev/null 2>&1'

# A certificate for the moved SM2 key, written to 9d: show then says they match.
openssl x509 -req -in "$work/any.csr" -force_pubkey "$work/sm2-moved.pub" \
    -CA "$demo/sm2-ca.pem" -CAkey "$demo/sm2-ca-key.pem" -sm3 -sigopt "distid:1234567812345678" \
    -set_serial 0x0102 -days 30 -subj "/CN=SM2 renewed" -outform DER -out "$work/sm2-new.der" 2>/dev/null
fresh_session "$SM2"
mgmt_auth "$SM2" "$SM2_MGMT_ALG" "$SM2_MGMT_KEY"
mapfile -t sm2_put < <(put_data_apdus 5FC10B "$(cert_object_hex "$(file_hex "$work/sm2-new.der")")")
capture "$apdu" "$SM2" "${sm2_put[@]}"
capture "$vtoken" show --state "$work/sm2.state"
check "an SM2 certificate for the generated key written to 9d: vtoken show says they match" \
    eval 'succeeded_saying "9d: key matches certificate" && says "CN=SM2 renewed"'

capture "$apdu" "$SM2" "$SELECT_PIV" "00 F6 9D 9A" "00 F7 00 80"
check "MOVE KEY without the management key: 6982; GET METADATA of the PIN needs none" \
    eval '[ "$(line 2)" = 6982 ] && [ "$(line 3)" = 0101FF050100060203039000 ]'

# --- injected yanks ---------------------------------------------------------------------

del_9c_apdu="00 DB 3F FF 07 5C 03 5F C1 0A 53 00"
fresh_session "$RSA"
mgmt_auth "$RSA" "$RSA_EC_MGMT_ALG" "$RSA_EC_MGMT_KEY"
rsa_sum=$(state_sum "$work/rsa-ec.state")
capture "$vtoken" ctl "$RIG_CONTROL_1" fault 8 7 before
check "a malformed fault command is refused (exit 1, usage)" \
    eval '[ "$RC" -eq 1 ] && says "error usage: fault INS"'
capture "$rig" fault "$rigdir" 1 DB before
check "rig fault arms a yank" succeeded
capture "$apdu" "$RSA" "$del_9c_apdu"
# vpcd 3.3 hands the client an empty response when the card leaves
# mid-command; other readers report a PC/SC error. Either way: no answer.
no_answer() { did_fail || [ -z "$(line "${1:-1}")" ]; }
check "fault DB before: the client loses the card mid-command" no_answer
capture "$rig" insert "$rigdir" 1
check "fault before: the state file is untouched, the token comes back on insert" \
    eval 'succeeded && [ "$(state_sum "$work/rsa-ec.state")" = "$rsa_sum" ] &&
          "$vtoken" show --state "$work/rsa-ec.state" | grep -q "9c: key matches certificate"'

fresh_session "$RSA"
mgmt_auth "$RSA" "$RSA_EC_MGMT_ALG" "$RSA_EC_MGMT_KEY"
"$rig" fault "$rigdir" 1 DB after
capture "$apdu" "$RSA" "$del_9c_apdu"
check "fault DB after: the client gets no answer" no_answer
capture "$vtoken" show --state "$work/rsa-ec.state"
check "fault after: the deletion is in the state file before the card left" \
    eval 'succeeded && says "slot 9c: no certificate, private key"'
"$rig" insert "$rigdir" 1 >/dev/null
capture "$apdu" "$RSA" "$SELECT_PIV" "00 CB 3F FF 05 5C 03 5F C1 0A 00"
check "after insert the card reads the deletion back (6A82)" eval '[ "$(line 2)" = 6A82 ]'

fresh_session "$RSA"
"$rig" fault "$rigdir" 1 CB before 2
capture "$apdu" "$RSA" "00 CB 3F FF 05 5C 03 5F C1 05 00" "00 CB 3F FF 05 5C 03 5F C1 05 00"
check "fault CB before 2: the first GET DATA is answered, the second never" \
    eval '[[ "$(line 1)" == 53* ]] && no_answer 2'
"$rig" insert "$rigdir" 1 >/dev/null

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
    sort -u | grep -vE '^(00|10) (A4|CB|C0|20|24|2C|FD|F8|CA|12|87|47|DB|F6|F7)$' || true)
OUT=$unexpected
check "no INS outside PIV, vendor FD/F8/F6/F7, OpenSC's CA probe and our own 12 test" \
    [ -z "$unexpected" ]
leaked=$(grep -lE '123456|13572468|24681357|11223344|87654321|12345678|313233343536' \
    "$rigdir"/*.log "$rigdir"/*.err 2>/dev/null || true)
OUT=$leaked
check "no PIN or PUK appears in any rig log" [ -z "$leaked" ]
leaked=$(grep -liE "$SM2_MGMT_KEY|$RSA_EC_MGMT_KEY|010203040506070801020304" \
    "$rigdir"/*.log "$rigdir"/*.err 2>/dev/null || true)
OUT=$leaked
check "no management key appears in any rig log" [ -z "$leaked" ]

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

done_testing
