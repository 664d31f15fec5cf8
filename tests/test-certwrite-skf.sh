#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-certwrite-skf.sh — certificate writes to an SKF key end to end:
# ukeyd with the virtual SKF library (a copy of the demo SKF key, through
# the real helper process) against the reference CA ukey-ca (seeded with
# the key's two certificates, issuing with the demo SM2 CA), driven with
# curl the way the portal and the CA's staff would.
#
#   - the key says it can be written to (capabilities.certificateWrites);
#   - a change with the key kept (证书变更) of the signing certificate:
#     the PIN is asked for (an SKF key has no management key: its PIN
#     authorises writes); without it nothing happens, a wrong PIN costs
#     exactly one try and writes nothing; the right one writes the new
#     subject, the CA says done, and `vskf check` (the library's own view of
#     the container) finds the serial ukeyd shows, for the container's key;
#   - a renewal with a new SM2 key (证书延期): a new key in the container,
#     the certificate for it, checked the same way; again with a library
#     that numbers SM2 0x00020200;
#   - a reinstall (证书重装), the key kept; a change of the encryption
#     certificate (the container's encryption key kept); a renewal of it is
#     not filed by the reference CA;
#   - ukeyd SIGKILLed after the key was made, after the request was signed
#     and after the import; the key pulled while ukeyd is down; the helper
#     killed before the user carries the action out again, and dying inside
#     key generation, signing and the import (tests/skf-faulty): each ends
#     with a container whose certificate is its key's, and the action done;
#   - the pair (证书变更 of either certificate): <container>.sign and
#     <container>.enc re-issued together, both with the new company, each
#     its container key's per `vskf check`, the keys kept; ukeyd SIGKILLed
#     between the two writes: the record waits for the PIN, the user's next
#     try writes the other half, never a mixed pair left; a CA whose
#     certificate for one half is for another key: neither written, no PIN
#     try spent;
#   - no PIN in ukeyd's log or journal.
#
# TAP on stdout; everything bounded in time; every process stopped by PID.
set -u

# shellcheck source=tests/lib/ukeyd.sh
. "$(dirname "$0")/lib/ukeyd.sh"
# shellcheck source=tests/lib/skf.sh
. "$(dirname "$0")/lib/skf.sh"
# shellcheck source=tests/lib/ca.sh
. "$(dirname "$0")/lib/ca.sh"

ukeyd=$build/ukeyd
helper=$build/ukeyd-skf-host
libvskf=$build/vskf/libvskf.so

readonly WRONG_PIN=987650
readonly CURL_MAX_S=30
readonly RECOVERY_WAIT_TENTHS=300
readonly KILLED_BY_SIGKILL=137
readonly NAMEOPT="RFC2253,-esc_msb,sep_comma_plus_space"

need_tools curl jq ss openssl sqlite3
for bin in "$ukeyd" "$helper" "$vskf" "$libvskf" "$build/ukey-ca"; do
    [ -e "$bin" ] || skip_all "no $bin (build first)"
done
[ -r "$demo_skf/skf.env" ] || skip_all "no demo SKF token in $demo_skf"
[ -r "$demo/sm2-ca-key.pem" ] || skip_all "no demo SM2 CA in $demo"

make_work certwrite-skf
state=$work/state
cleanup() {
    lib_cleanup
    remove_work
}
trap cleanup EXIT

# --- the key, the CA service --------------------------------------------------------

use_demo_skf_key
PIN=$DEMO_SKF_USER_PIN
SIGN=$DEMO_SKF_CONTAINER.sign
ENC=$DEMO_SKF_CONTAINER.enc
SECRETS=("$PIN" "$WRONG_PIN" "$DEMO_SKF_ADMIN_PIN")
mkdir -p "$state"

cert_record() {   # PEM SLOT: the seed's {serial, issuer, slot, der}
    jq -cn --arg s "$(openssl x509 -in "$1" -noout -serial | sed 's/^serial=//')" \
        --arg i "$(openssl x509 -in "$1" -noout -issuer -nameopt "$NAMEOPT" | sed 's/^issuer=//')" \
        --arg slot "$2" --arg d "$(openssl x509 -in "$1" -outform DER | base64 -w 0)" \
        '{serial: ($s | ascii_upcase), issuer: $i, slot: $slot, der: $d}'
}
jq -n --arg t "$tok" --arg a "$DEMO_SKF_ADMIN_PIN" \
    --argjson s "$(cert_record "$work/skf/$DEMO_SKF_SIGN_CERT" "$SIGN")" \
    --argjson e "$(cert_record "$work/skf/$DEMO_SKF_ENC_CERT" "$ENC")" \
    '{tokens: [{tokenId: $t, owner: "演示专用", phone: "13700001000", adminPin: $a,
                certFees: {change: "0.00", renewal: "0.00", reinstall: "0.00", issue: "0.00"},
                certificates: [$s, $e]}]}' >"$work/ca-seed.json"
start_ukey_ca "$work/ca-seed.json" --issuer "$demo/sm2-ca.pem:$demo/sm2-ca-key.pem"
ca_started=$?
ok $ca_started "ukey-ca starts with the SKF key's certificates on record by their ids"
[ $ca_started -eq 0 ] || { diag_file "$work/ukey-ca.log"; done_testing; exit 1; }

# --- ukeyd -------------------------------------------------------------------------

cat >"$work/ukeyd.conf" <<EOF
# written by tests/test-certwrite-skf.sh
[ukeyd]
log-level = debug
pin-pacing-ms = 50
peer-policy = any-local
support-socket = none
state-directory = $state
ca-service-url = $CA
ca-connect-timeout = 1
ca-timeout = 10
ca-roots = $demo/sm2-ca.pem
skf-library = $libvskf
skf-discover = no
skf-helper = $helper
EOF

start_daemon() {   # [ENV=VALUE...]
    start_ukeyd "$work/ukeyd.log" env "$@" "$ukeyd" --config "$work/ukeyd.conf" &&
        wait_for_token "$tok"
}
start_daemon || { diag_file "$work/ukeyd.log"; bail "ukeyd did not start with the SKF key"; }

req GET "/v1/tokens/$tok"
expect_json "the SKF key can be written to" 200 '.capabilities.certificateWrites == true' \
    '.edge == "SKF"'

# --- helpers ---------------------------------------------------------------------------

# serial_of CERT-ID: the serial ukeyd shows now. When ukeyd shows none it
# says so, answers a value no other call gives (so no comparison of two
# failures passes) and leaves a mark the last test checks.
serial_of() {
    local i
    for ((i = 0; i < LIB_START_WAIT_TENTHS; i++)); do
        req GET "/v1/tokens/$tok/certificates/$1"
        [ "$code" = 200 ] && { field .serial | sed 's/^0*//'; return 0; }
        sleep 0.1
    done
    echo "# serial_of $1: ukeyd answered $code, no serial" >&2
    echo "$1 >>serial_of $1 failed" >>"$work/serial-failures"
    echo "no-serial-$1-$BASHPID-$RANDOM"
    return 1
}
subject_of() { req GET "/v1/tokens/$tok/certificates/$1"; field .subject.display; }
# The container's own judgement (the virtual library's state, not ukeyd's
# reading): the certificate is for the key beside it; its serial.
# Serials as numbers: ukeyd keeps DER's 00 sign octet, openssl's hex drops it.
vskf_serial() { "$vskf" check "$VSKF_DIR" "$DEMO_SKF_DEVICE" "$DEMO_SKF_CONTAINER" "$1" 2>/dev/null |
                    sed -n 's/^serial: 0*//p'; }
container_sound() {   # sign|enc: exit 0 when the container's certificate is its key's
    "$vskf" check "$VSKF_DIR" "$DEMO_SKF_DEVICE" "$DEMO_SKF_CONTAINER" "$1" >/dev/null 2>&1
}
user_tries() { "$vskf" show "$VSKF_DIR" "$DEMO_SKF_DEVICE" | sed -n 's/^ *user-pin-tries: \([0-9]*\)\/.*/\1/p'; }
public_key_of() {   # CERT-ID: the certificate's public key as ukeyd serves it
    curl -s --max-time "$CURL_MAX_S" "$base/v1/tokens/$tok/certificates/$1.pem" |
        openssl x509 -noout -pubkey 2>/dev/null
}
journal_holds() { compgen -G "$state/cert/*.json" >/dev/null; }
journal_empty() { ! journal_holds; }

# file KIND CERT-ID [ORGANIZATION]: a request at the CA's portal, approved; $number.
file_approved() {
    local answer
    answer=$(ca_post /portal/api/cert-requests "$(jq -nc --arg t "$tok" --arg k "$1" \
        --arg s "$2" --arg c "$(serial_of "$2")" --arg o "${3:-演示科技有限公司}" \
        '{tokenId:$t, kind:$k, slot:$s, certSerial:$c, details:{organization:$o}}')")
    number=$(jq -r .number <<<"$answer")
    if [ -z "$number" ] || [ "$number" = null ]; then diag "filing failed: $answer"; fi
    ca_post "/demo/api/cert-requests/$number/review" >/dev/null
    ca_post "/demo/api/cert-requests/$number/approve" >/dev/null
}
ca_state() { ca_get /demo/api/cert-requests | jq -r --arg n "$number" '.requests[]? | select(.number == $n) | .state'; }
carry_out() { post_json "/v1/tokens/$tok/cert-actions/$number" "${1:-{\}}"; }
action_field() {   # JQ: of the listed action $number
    req GET "/v1/tokens/$tok/cert-actions"
    field ".actions[] | select(.number == \"$number\") | $1"
}
wait_listed_interrupted() {
    local i
    for ((i = 0; i < RECOVERY_WAIT_TENTHS; i++)); do
        [ "$(action_field .interrupted)" = true ] && return 0
        sleep 0.1
    done
    return 1
}

# --- a change, the key kept (证书变更) -------------------------------------------------------

old_sign=$(serial_of "$SIGN")
old_key=$(public_key_of "$SIGN")
file_approved change "$SIGN" 新演示科技有限公司
check "the change is filed for the signing certificate by its id" test -n "$number"
check "…listed by ukeyd with its id as the slot, asking for the PIN" \
    test "$(action_field '"\(.slot) \(.needsPin) \(.keyPolicy)"')" = "$SIGN true keep"

carry_out
expect_json "no PIN: refused before the key is asked" 400 "$(problem BAD_REQUEST)" '.field == "pin"'
tries=$(user_tries)
carry_out "{\"pin\":\"$WRONG_PIN\"}"
expect_json "a wrong PIN: PIN_INCORRECT" 403 "$(problem PIN_INCORRECT)"
check "…it cost exactly one try" test "$(user_tries)" = "$((tries - 1))"
check "…nothing was written" test "$(serial_of "$SIGN")" = "$old_sign"
check "…the container is as it was" test "$(vskf_serial sign)" = "$old_sign"
check "…no journal record is left" journal_empty

carry_out "{\"pin\":\"$PIN\"}"
expect_json "the right PIN: the new certificate, the CA told" 200 '.state == "done"' \
    ".slot == \"$SIGN\"" '.serial != null'
new_sign=$(field .serial | sed 's/^0*//')
check "…the tries are back to where they were" test "$(user_tries)" = "$tries"
check "…ukeyd shows the new serial" test "$(serial_of "$SIGN")" = "$new_sign"
check "…the container holds it, for its key (vskf check)" test "$(vskf_serial sign)" = "$new_sign"
check "…with the new organisation" bash -c "[[ '$(subject_of "$SIGN")' == *'O=新演示科技有限公司'* ]]"
check "…the key was kept" test "$(public_key_of "$SIGN")" = "$old_key"
check "…the CA says done" test "$(ca_state)" = "done"
check "…the journal is empty" journal_empty

# --- a renewal with a new key (证书延期) -------------------------------------------------------

file_approved renewal "$SIGN"
check "the renewal is listed with a new SM2 key" \
    test "$(action_field '"\(.keyPolicy) \(.keyAlgorithm)"')" = "new SM2"
carry_out "{\"pin\":\"$PIN\"}"
expect_json "the renewal: a new key and its certificate" 200 '.state == "done"'
renewed=$(field .serial | sed 's/^0*//')
check "…the container holds the certificate, for its key (vskf check)" \
    test "$(vskf_serial sign)" = "$renewed"
check "…the key is a new one" test "$(public_key_of "$SIGN")" != "$old_key"
check "…the encryption certificate is untouched" container_sound enc

# A library that numbers SM2 0x00020200 (GmSSL's sgd.h): the key pair is still made.
"$vskf" quirks "$VSKF_DIR" sm2-id-0x00020200
file_approved renewal "$SIGN"
carry_out "{\"pin\":\"$PIN\"}"
expect_json "a renewal where the library numbers SM2 0x00020200" 200 '.state == "done"'
check "…the container holds the certificate, for its key" \
    test "$(vskf_serial sign)" = "$(field .serial | sed 's/^0*//')"
"$vskf" quirks "$VSKF_DIR"

# --- the encryption certificate, its key kept ----------------------------------------------

old_enc=$(serial_of "$ENC")
file_approved change "$ENC" 加密科技有限公司
carry_out "{\"pin\":\"$PIN\"}"
expect_json "a change of the encryption certificate" 200 '.state == "done"' ".slot == \"$ENC\""
check "…the container's encryption certificate is new, for its key" \
    bash -c "s=\$1; [ \"\$s\" != '$old_enc' ] && [ \"\$s\" = '$(field .serial | sed 's/^0*//')' ]" _ "$(vskf_serial enc)"

# A reinstall (证书重装) of the signing certificate: written again, its key kept.
key_now=$(public_key_of "$SIGN")
file_approved reinstall "$SIGN"
carry_out "{\"pin\":\"$PIN\"}"
expect_json "a reinstall of the signing certificate" 200 '.state == "done"' ".slot == \"$SIGN\""
check "…the container holds it, for its key" test "$(vskf_serial sign)" = "$(field .serial | sed 's/^0*//')"
check "…the key kept" test "$(public_key_of "$SIGN")" = "$key_now"

answer=$(ca_post /portal/api/cert-requests "$(jq -nc --arg t "$tok" --arg s "$ENC" \
    --arg c "$(serial_of "$ENC")" '{tokenId:$t, kind:"renewal", slot:$s, certSerial:$c}')")
check "a new key for the encryption certificate is not filed (its key pair comes enveloped)" \
    test "$(jq -r '"\(.code) \(.field)"' <<<"$answer")" = "BAD_REQUEST kind"

# --- interruptions ------------------------------------------------------------------------

# killed NAME STEP: ukeyd kills itself right after STEP of a renewal; a
# restart, then the user carries it out again where the PIN is needed.
killed() {
    local name=$1 step=$2 before
    file_approved renewal "$SIGN"
    before=$(serial_of "$SIGN")
    stop_ukeyd
    start_daemon UKEYD_TEST_CRASH_AFTER="$step"
    carry_out "{\"pin\":\"$PIN\"}"
    wait "$daemon_pid" 2>/dev/null
    check "$name: ukeyd died by SIGKILL" test "$?" = "$KILLED_BY_SIGKILL"
    daemon_pid=
    check "$name: the journal holds the action" journal_holds
    start_daemon
    if [ "$step" = cert-installing ]; then
        # The certificate is in: the recovery confirms without the PIN.
        local i
        for ((i = 0; i < RECOVERY_WAIT_TENTHS; i++)); do
            [ "$(ca_state)" = "done" ] && break
            sleep 0.1
        done
        check "$name: the recovery at start finishes, no PIN asked" test "$(ca_state)" = "done"
    else
        check "$name: the action waits for the user, interrupted" wait_listed_interrupted
        check "$name: …asking for the PIN" test "$(action_field .needsPin)" = true
        carry_out "{\"pin\":\"$PIN\"}"
        expect_json "$name: carried out again, done" 200 '.state == "done"'
    fi
    check "$name: the container's certificate is its key's" container_sound sign
    check "$name: a new certificate" test "$(vskf_serial sign)" != "$before"
    check "$name: ukeyd shows the container's certificate" \
        test "$(serial_of "$SIGN")" = "$(vskf_serial sign)"
    check "$name: the journal is empty" journal_empty
}
killed "killed after the key was made" cert-generating
killed "killed after the request was signed" cert-signed
killed "killed after the import" cert-installing

# The key pulled while ukeyd is down after the signed request, and the
# helper killed before the user carries the action out again.
file_approved renewal "$SIGN"
stop_ukeyd
start_daemon UKEYD_TEST_CRASH_AFTER=cert-signed
carry_out "{\"pin\":\"$PIN\"}"
wait "$daemon_pid" 2>/dev/null
daemon_pid=
"$vskf" unplug "$VSKF_DIR" "$DEMO_SKF_DEVICE"
start_ukeyd "$work/ukeyd.log" "$ukeyd" --config "$work/ukeyd.conf"
req GET "/v1/tokens/$tok"
check "pulled: ukeyd serves no such key" test "$code" != 200
check "pulled: the journal keeps the action" journal_holds
"$vskf" plug "$VSKF_DIR" "$DEMO_SKF_DEVICE"
check "plugged back: ukeyd sees the key" wait_for_token "$tok"
helper_pid=$(ps -o pid= --ppid "$daemon_pid" | tr -d ' ' | head -n 1)
check "the SKF helper runs under ukeyd" test -n "$helper_pid"
[ -n "$helper_pid" ] && kill -KILL "$helper_pid"
carry_out "{\"pin\":\"$PIN\"}"
[ "$code" = 200 ] || carry_out "{\"pin\":\"$PIN\"}"   # the first call may meet the dead helper
expect_json "the helper killed: carried out again, done" 200 '.state == "done"'
check "…the container's certificate is its key's" container_sound sign
check "…the journal is empty" journal_empty

# The helper dies inside each library call of a renewal (tests/skf-faulty
# aborts there once): the call fails cleanly, ukeyd lives, and carrying the
# action out again leaves the container whole.
faulty=$build/skf-faulty/libskf-faulty.so
if [ -e "$faulty" ]; then
    sed "s|^skf-library = .*|skf-library = $faulty|" "$work/ukeyd.conf" >"$work/faulty.conf"
    stop_ukeyd
    if ! start_ukeyd "$work/ukeyd.log" env SKF_FAULTY_TARGET="$libvskf" \
            SKF_FAULTY_CONTROL="$work/faulty.control" "$ukeyd" --config "$work/faulty.conf" ||
            ! wait_for_token "$tok"; then
        bail "ukeyd did not start over the faulty library"
    fi
    for fn in SKF_GenECCKeyPair SKF_ECCSignData SKF_ImportCertificate; do
        file_approved renewal "$SIGN"
        echo "$fn abort" >"$work/faulty.control"
        carry_out "{\"pin\":\"$PIN\"}"
        expect_json "the helper died in $fn: the write fails cleanly" 502 "$(problem CARD_ERROR)"
        check "…ukeyd lives on" kill -0 "$daemon_pid"
        carry_out "{\"pin\":\"$PIN\"}"
        expect_json "…carried out again, done" 200 '.state == "done"'
        check "…the container's certificate is its key's" container_sound sign
        check "…ukeyd shows it" test "$(serial_of "$SIGN")" = "$(vskf_serial sign)"
        check "…the journal is empty" journal_empty
    done
fi

# --- the new key made, its certificate not written: the record stays ------------------------

# wait_logged REGEX: until ukeyd's log has a line matching it.
wait_logged() {
    local i
    for ((i = 0; i < RECOVERY_WAIT_TENTHS; i++)); do
        grep -qE -- "$1" "$work/ukeyd.log" && return 0
        sleep 0.1
    done
    return 1
}
wait_journal_empty() {
    local i
    for ((i = 0; i < RECOVERY_WAIT_TENTHS; i++)); do
        journal_empty && return 0
        sleep 0.1
    done
    return 1
}

# ca-roots that do not hold the demo SM2 CA: the certificate issued for
# the container's new key does not verify. The key is already replaced, so
# the record must stay (naming the request), the action listed as
# interrupted; with the right roots back, the user's next try writes it.
stop_ukeyd
sed "s|^ca-roots = .*|ca-roots = $demo/rsa-ca.pem|" "$work/ukeyd.conf" >"$work/wrong-roots.conf"
start_ukeyd "$work/ukeyd.log" "$ukeyd" --config "$work/wrong-roots.conf" && wait_for_token "$tok" ||
    { diag_file "$work/ukeyd.log"; bail "ukeyd did not start with other ca-roots"; }
file_approved renewal "$SIGN"
before=$(serial_of "$SIGN")
carry_out "{\"pin\":\"$PIN\"}"
expect_json "roots not matching: the renewal's certificate is refused" 502 "$(problem CERT_INVALID)"
check "…the container has its new key beside the old certificate" \
    bash -c "! '$vskf' check '$VSKF_DIR' '$DEMO_SKF_DEVICE' '$DEMO_SKF_CONTAINER' sign >/dev/null 2>&1"
check "…the journal keeps the action" journal_holds
check "…listed as interrupted, asking for the PIN" \
    test "$(action_field '"\(.interrupted) \(.needsPin)"')" = "true true"
carry_out "{\"pin\":\"$PIN\"}"
expect_json "…carried out again with the same roots: refused again" 502 "$(problem CERT_INVALID)"
check "…the record still there" journal_holds
stop_ukeyd
start_daemon || { diag_file "$work/ukeyd.log"; bail "ukeyd did not start with the SM2 roots"; }
check "the right roots back: the action waits for the user, interrupted" wait_listed_interrupted
check "…asking for the PIN" test "$(action_field .needsPin)" = true
carry_out "{\"pin\":\"$PIN\"}"
expect_json "…carried out with the PIN, done" 200 '.state == "done"'
renewed=$(field .serial | sed 's/^0*//')
check "…the container's certificate is its key's (vskf check)" container_sound sign
check "…the one issued for the renewal" test "$(vskf_serial sign)" = "$renewed"
check "…a new one" test "$renewed" != "$before"
check "…ukeyd shows it" test "$(serial_of "$SIGN")" = "$renewed"
check "…the CA says done" test "$(ca_state)" = "done"
check "…the journal is empty" journal_empty

# The CA refuses to issue once the new key is made: ukeyd killed after the
# request was signed, and the action expiring at the CA meanwhile (its
# expiresAt put in the past) makes the recovery's `issue` impossible. The
# record stays as long as the container's certificate is not its key's;
# a new request carried out makes the container whole and ends it.
file_approved renewal "$SIGN"
expired_number=$number
stop_ukeyd
start_daemon UKEYD_TEST_CRASH_AFTER=cert-signed
carry_out "{\"pin\":\"$PIN\"}"
wait "$daemon_pid" 2>/dev/null
check "refused after the key: ukeyd died by SIGKILL after the request was signed" \
    test "$?" = "$KILLED_BY_SIGKILL"
daemon_pid=
sqlite3 "$work/ca.db" "UPDATE cert_requests SET expires_at = 1 WHERE number = '$expired_number'"
check "…the CA says the action expired" test "$(ca_state)" = "expired"
start_daemon || { diag_file "$work/ukeyd.log"; bail "ukeyd did not restart"; }
check "…the recovery asked the CA" \
    wait_logged "action $expired_number (is settled at the CA|can no longer be issued)"
check "…the record stays: the container's key has no certificate" journal_holds
check "…which is so (vskf check)" \
    bash -c "! '$vskf' check '$VSKF_DIR' '$DEMO_SKF_DEVICE' '$DEMO_SKF_CONTAINER' sign >/dev/null 2>&1"
file_approved renewal "$SIGN"
carry_out "{\"pin\":\"$PIN\"}"
expect_json "…a new renewal carried out, done" 200 '.state == "done"'
check "…the container's certificate is its key's" container_sound sign
check "…ukeyd shows it" test "$(serial_of "$SIGN")" = "$(vskf_serial sign)"
stop_ukeyd
start_daemon || { diag_file "$work/ukeyd.log"; bail "ukeyd did not restart"; }
check "…the next recovery finds the container whole and ends the old record" wait_journal_empty

# --- the pair: <container>.sign and <container>.enc re-issued together ----------------------

# The same daemon again, over the virtual library itself.
stop_ukeyd
start_daemon || { diag_file "$work/ukeyd.log"; bail "ukeyd did not restart"; }
org_of() { subject_of "$1" | grep -o 'O=[^,]*' | head -n 1; }   # CERT-ID
both_sound() { container_sound sign && container_sound enc; }
new_with_org() {   # CERT-ID OLD-SERIAL ORGANIZATION: ukeyd shows another serial, that company
    local now
    now=$(serial_of "$1")
    [ -n "$now" ] && [ "$now" != "$2" ] && [ "$(org_of "$1")" = "O=$3" ]
}
both_orgs() { [ "$(org_of "$SIGN")" = "O=$1" ] && [ "$(org_of "$ENC")" = "O=$1" ]; }   # ORG
vskf_shows() {   # SIGN-SERIAL ENC-SERIAL: what the containers hold, by `vskf check`
    [ -n "$1" ] && [ "$(vskf_serial sign)" = "$1" ] && [ -n "$2" ] && [ "$(vskf_serial enc)" = "$2" ]
}

old_sign=$(serial_of "$SIGN")
old_enc=$(serial_of "$ENC")
sign_key=$(public_key_of "$SIGN")
enc_key=$(public_key_of "$ENC")
file_approved change "$SIGN" 成对演示科技有限公司
check "pair: the change of $SIGN is listed with $ENC as its other half" \
    test "$(action_field '[.certificates[] | .slot + ":" + .role] | join(" ")')" = \
    "$SIGN:signing $ENC:encryption"
tries=$(user_tries)
carry_out "{\"pin\":\"$PIN\"}"
expect_json "pair: carried out, both certificates written" 200 '.state == "done"' \
    "[.certificates[].slot] == [\"$SIGN\", \"$ENC\"]" \
    '[.certificates[].certificate.subject.display | test("成对演示科技有限公司")] == [true, true]'
check "pair: ukeyd shows a new signing certificate with the new company" \
    new_with_org "$SIGN" "$old_sign" 成对演示科技有限公司
check "pair: …and a new encryption certificate with it" \
    new_with_org "$ENC" "$old_enc" 成对演示科技有限公司
check "pair: each certificate is its container key's (vskf check)" both_sound
check "pair: …the serials the container holds are the ones ukeyd shows" \
    vskf_shows "$(serial_of "$SIGN")" "$(serial_of "$ENC")"
check "pair: both keys kept" \
    test "$(public_key_of "$SIGN") $(public_key_of "$ENC")" = "$sign_key $enc_key"
check "pair: the PIN's tries are where they were" test "$(user_tries)" = "$tries"
check "pair: the CA says done" test "$(ca_state)" = "done"
check "pair: the journal is empty" journal_empty

# Killed between the two writes: the change filed for $ENC writes it first,
# then $SIGN; ukeyd dies in between.
file_approved change "$ENC" 第三成对科技有限公司
check "pair from $ENC: listed with $SIGN as its other half" \
    test "$(action_field '[.certificates[].slot] | join(" ")')" = "$ENC $SIGN"
sign_before=$(vskf_serial sign)
enc_before=$(vskf_serial enc)
stop_ukeyd
start_daemon UKEYD_TEST_CRASH_AFTER=cert-writing
carry_out "{\"pin\":\"$PIN\"}"
wait "$daemon_pid" 2>/dev/null
check "pair killed: ukeyd died by SIGKILL after the first write" test "$?" = "$KILLED_BY_SIGKILL"
daemon_pid=
check "pair killed: the journal holds the record with the other half by its id" \
    bash -c "jq -e --arg s '$SIGN' '.format == 2 and .partners[0].slot == \$s' '$state/cert/'*.json"
enc_written=$(vskf_serial enc)
check "pair killed: right then $ENC is new and $SIGN is not" \
    vskf_shows "$sign_before" "$enc_written"
check "pair killed: …$ENC's a new one" test "$enc_written" != "$enc_before"
start_daemon || { diag_file "$work/ukeyd.log"; bail "ukeyd did not restart after the kill"; }
# An SKF key's write needs the PIN, which ukeyd never keeps: the recovery
# at start leaves the record for the user's next try.
check "pair killed: the action waits for the user, interrupted" wait_listed_interrupted
check "pair killed: …asking for the PIN" test "$(action_field .needsPin)" = true
carry_out "{\"pin\":\"$PIN\"}"
expect_json "pair killed: carried out again, done" 200 '.state == "done"' \
    "[.certificates[].slot] == [\"$ENC\", \"$SIGN\"]"
check "pair killed: both certificates carry the new company" \
    both_orgs 第三成对科技有限公司
check "pair killed: each certificate is its container key's" both_sound
check "pair killed: $SIGN was written by the second try, $ENC kept the first try's" \
    vskf_shows "$(serial_of "$SIGN")" "$enc_written"
check "pair killed: …$SIGN's a new one" test "$(vskf_serial sign)" != "$sign_before"
check "pair killed: the CA says done" test "$(ca_state)" = "done"
check "pair killed: the journal is empty" journal_empty

# One bad half: a CA whose record of $ENC is the demo's first signing
# certificate (a key the token no longer holds: renewed above) re-certifies
# that key; ukeyd refuses the pair before the PIN and writes neither.
curl -s --max-time "$CURL_MAX_S" -o "$work/sign-now.pem" "$base/v1/tokens/$tok/certificates/$SIGN.pem"
jq -n --arg t "$tok" --arg a "$DEMO_SKF_ADMIN_PIN" \
    --argjson s "$(cert_record "$work/sign-now.pem" "$SIGN")" \
    --argjson e "$(cert_record "$work/skf/$DEMO_SKF_SIGN_CERT" "$ENC")" \
    '{tokens: [{tokenId: $t, owner: "演示专用", phone: "13700001000", adminPin: $a,
                certFees: {change: "0.00", renewal: "0.00", reinstall: "0.00", issue: "0.00"},
                certificates: [$s, $e]}]}' >"$work/ca-stray-seed.json"
stop_ukeyd
stop_ukey_ca
rm -f "$work/ca.db"
start_ukey_ca "$work/ca-stray-seed.json" --issuer "$demo/sm2-ca.pem:$demo/sm2-ca-key.pem"
ok $? "bad half: a CA whose record of $ENC is for another key starts"
sed -i "s|^ca-service-url = .*|ca-service-url = $CA|" "$work/ukeyd.conf"
start_daemon || { diag_file "$work/ukeyd.log"; bail "ukeyd did not start with the second CA"; }
sign_before=$(vskf_serial sign)
enc_before=$(vskf_serial enc)
file_approved change "$SIGN" 坏成对科技有限公司
check "bad half: the change is listed as a pair" \
    test "$(action_field '[.certificates[].slot] | join(" ")')" = "$SIGN $ENC"
tries=$(user_tries)
carry_out "{\"pin\":\"$PIN\"}"
expect_json "bad half: CERT_INVALID" 502 "$(problem CERT_INVALID)"
check "bad half: no PIN try spent" test "$(user_tries)" = "$tries"
check "bad half: neither certificate written (the containers)" \
    vskf_shows "$sign_before" "$enc_before"
check "bad half: …nor as ukeyd shows them" \
    test "$(serial_of "$SIGN") $(serial_of "$ENC")" = "$sign_before $enc_before"
check "bad half: each certificate is still its container key's" both_sound
check "bad half: no journal record is left" journal_empty
check "bad half: the CA was not told done" test "$(ca_state)" != "done"
stop_ukeyd
check "ukeyd stops cleanly" test "$stop_rc" = 0

# --- secrets -------------------------------------------------------------------------------

leaks=0
for s in "${SECRETS[@]}"; do
    holds_secret "$s" "$work/ukeyd.log" "$state" && { diag "a secret leaked"; leaks=1; }
done
ok $leaks "no PIN in ukeyd's log or journal"
check "ukeyd showed every certificate a test asked it for" test ! -e "$work/serial-failures"
check "no whole actionId in ukeyd's log" bash -c "! grep -qE 'act-[0-9a-f]{32}' '$work/ukeyd.log'"

done_testing
