#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-skf.sh — an SKF USB key through the real daemon: ukeyd runs with
# the PC/SC rig (two virtual PIV tokens) and the virtual SKF library
# (tests/vskf, a copy of the demo key made by make-demo-skf) configured by
# `skf-library`, its helper ukeyd-skf-host inheriting VSKF_DIR from ukeyd's
# environment. Checked as a portal would see it: the key in GET /v1/tokens
# beside the PIV tokens (interface SKF, manufacturer, model, its signing and
# encryption SM2 certificates with the Chinese owner intact, PIN tries and
# maximum, the factory-default PIN, unlock capabilities), not in
# /v1/readers; certificates by id as JSON, PEM and DER; GET pin costing no
# try; verify and change; wrong PINs down to the last-try guard, then
# blocked; unplug and plug seen on /v1/events; the helper killed (a clean
# error or an answer, then answers again, the daemon up); `--check-config`
# lines for a library that loads, one that is missing and one that lacks a
# function, and a daemon whose only library is missing still serving the
# PIV tokens; a key pulled where no pcscd runs is gone, not blamed on PC/SC;
# no PIN in any log.
#
# TAP on stdout. Bounded waits only; every process is stopped by PID.
set -u

# shellcheck source=tests/lib/ukeyd.sh
. "$(dirname "$0")/lib/ukeyd.sh"
# shellcheck source=tests/lib/skf.sh
. "$(dirname "$0")/lib/skf.sh"

ukeyd=$build/ukeyd
helper=$build/ukeyd-skf-host
vskf_lib=$build/vskf/libvskf.so
noverify_lib=$build/skf-faulty/libskf-faulty-noverify.so

readonly WRONG_PIN=987650
readonly NEW_PIN=24681357
readonly CURL_MAX_S=15
readonly EVENT_WAIT_S=5          # generous: the library reports at once, the wait is for a loaded CI
readonly RETRY_TENTHS=100        # after the helper is killed: answers again within 10 s

need_tools curl jq ss openssl
for f in "$ukeyd" "$helper" "$vskf" "$vskf_lib"; do
    [ -x "$f" ] || [ -f "$f" ] || skip_all "no $f (build first)"
done
[ -r "$demo_skf/skf.env" ] || skip_all "no demo SKF key in $demo_skf (make builds it)"
[ -x "$rig" ] || skip_all "no tests/rig/rig"

make_work skf
cleanup() {
    lib_cleanup
    remove_work
}
trap cleanup EXIT

# --- the SKF key and the rig -----------------------------------------------------

use_demo_skf_key
PIN=$DEMO_SKF_USER_PIN
start_rig || skip_all "the PC/SC rig did not start"

write_config() {   # FILE LIBRARY-LINE...
    local file=$1 line
    shift
    {
        echo "# written by tests/test-skf.sh"
        echo "[ukeyd]"
        echo "origins = https://portal.example.cn"
        echo "log-level = debug"
        echo "pin-pacing-ms = 0"
        echo "peer-policy = any-local"
        echo "support-socket = none"
        echo "skf-helper = $helper"
        echo "skf-discover = no"
        for line in "$@"; do echo "skf-library = $line"; done
    } >"$file"
}

# Waits until FILE holds TEXT, at most SECONDS; true when it does.
wait_for_text() {
    local file=$1 text=$2 seconds=$3 i
    for ((i = 0; i < seconds * 20; i++)); do
        grep -qF -- "$text" "$file" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# The helper processes of the running ukeyd (its children), by PID.
helper_pids_of_daemon() { pgrep -P "$daemon_pid" -x ukeyd-skf-host; }

# --- --check-config ------------------------------------------------------------------

test_check_config() {
    local out rc
    write_config "$work/check.conf" "$vskf_lib" "$work/no-such-lib.so longmai-gm3000" \
        "$noverify_lib"
    out=$("$ukeyd" --config "$work/check.conf" --check-config 2>/dev/null); rc=$?
    diag_file - 10 <<<"$out"
    check "--check-config exits 0: a library that does not load is a warning" test "$rc" -eq 0
    check "…the virtual library: loaded, with its optional functions" \
        grep -qF "SKF library $vskf_lib (configured, profile standard): loaded; SKF_WaitForDevEvent and SKF_CancelWaitForDevEvent; remote unblock" <<<"$out"
    check "…the missing one: a warning saying missing" \
        grep -qF "warning: SKF library $work/no-such-lib.so (configured, profile longmai-gm3000): missing" <<<"$out"
    if [ -f "$noverify_lib" ]; then
        check "…one without SKF_VerifyPIN: lacks the required function, named" \
            grep -qF "lacks the required function SKF_VerifyPIN" <<<"$out"
    fi
    check "…and the count of those not loaded" \
        grep -qF "warning: 2 configured SKF libraries are not loaded" <<<"$out"
    printf '[ukeyd]\nskf-library = %s no-such-profile\n' "$vskf_lib" >"$work/bad.conf"
    out=$("$ukeyd" --config "$work/bad.conf" --check-config 2>&1); rc=$?
    check "an unknown profile is a bad configuration, line and key named" \
        bash -c '[ "$1" -eq 78 ] && grep -qF "bad.conf:2: skf-library: \"no-such-profile\" is not a known profile" <<<"$2"' _ "$rc" "$out"
}

# --- the key as a portal sees it -----------------------------------------------------

test_listing() {
    local skf_json
    req GET /v1/tokens
    skf_id=$(jq -r '.tokens[] | select(.edge == "SKF") | .id' "$work/body" 2>/dev/null | head -n 1)
    check "GET /v1/tokens lists the SKF key ($skf_id)" test -n "$skf_id"
    check "…beside both PIV tokens" \
        test "$(jq '[.tokens[] | select(.edge == "PIV")] | length' "$work/body")" -eq 2
    skf_json=$(jq -c --arg id "$skf_id" '.tokens[] | select(.id == $id)' "$work/body")
    jq . <<<"$skf_json" >"$work/skf-token.json"
    cp "$work/skf-token.json" "$work/body"
    expect_json "…its identity: model (the label), manufacturer, serial" 200 \
        ".model == \"演示专用's key\"" '.manufacturer | test("virtual")' \
        ".serial == \"$DEMO_SKF_SERIAL\"" '.reader == "demo-sm2"'
    expect_json "…its PIN: tries left and maximum, still the factory default" 200 \
        '.pin.triesLeft == 6' '.pin.triesMax == 6' '.pin.isDefault == true' '.pin.blocked == false'
    expect_json "…what it can do: admin-PIN and remote unblock, certificate writes" 200 \
        '.capabilities.unlock == ["admin-pin", "remote-unblock"]' \
        '.capabilities.certificateWrites == true'
    expect_json "…two SM2 certificates, signing and encryption, ids by container" 200 \
        "[.certificates[].id] == [\"$DEMO_SKF_CONTAINER.sign\", \"$DEMO_SKF_CONTAINER.enc\"]" \
        '[.certificates[].keyType] == ["SM2", "SM2"]'
    expect_json "…the owner's Chinese name intact" 200 \
        '[.certificates[].subject.commonName] == ["演示专用", "演示专用"]'
    expect_json "…its electronic seals: the files that are seals, not the certificate beside them" \
        200 ".seals == $DEMO_SKF_SEALS"
    req GET /v1/tokens
    expect_json "a PIV token cannot hold seals: null" 200 \
        '[.tokens[] | select(.edge == "PIV") | .seals] == [null, null]'
    expect_json "the PIV tokens say PUK unlock and certificate writes" 200 \
        '[.tokens[] | select(.edge == "PIV") | .capabilities.unlock] == [["puk"], ["puk"]]' \
        '[.tokens[] | select(.edge == "PIV") | .capabilities.certificateWrites] == [true, true]' \
        '[.tokens[] | select(.edge == "PIV") | .pin.isDefault] == [null, null]'
    req GET /v1/readers
    expect_json "GET /v1/readers: the PC/SC readers only, not the SKF key" 200 \
        '.readers | length == 2' "[.readers[].tokenId] | index(\"$skf_id\") == null"
    req GET "/v1/tokens/$skf_id"
    expect_json "GET /v1/tokens/{id} for the SKF key" 200 ".id == \"$skf_id\"" '.edge == "SKF"'
}

test_certificates() {
    local c=$DEMO_SKF_CONTAINER
    req GET "/v1/tokens/$skf_id/certificates"
    expect_json "its certificate list" 200 '.certificates | length == 2'
    req GET "/v1/tokens/$skf_id/certificates/$c.sign"
    expect_json "the signing certificate by id" 200 ".id == \"$c.sign\"" '.keyType == "SM2"' \
        '.subject.commonName == "演示专用"' '.decoded == true'
    req GET "/v1/tokens/$skf_id/certificates/$c.enc"
    expect_json "the encryption certificate by id" 200 ".id == \"$c.enc\""
    openssl x509 -in "$work/skf/$DEMO_SKF_SIGN_CERT" -outform DER -out "$work/sign.der"
    openssl x509 -in "$work/skf/$DEMO_SKF_ENC_CERT" -outform DER -out "$work/enc.der"
    req GET "/v1/tokens/$skf_id/certificates/$c.sign.der"
    check "….der: the signing certificate, byte for byte" cmp -s "$work/body" "$work/sign.der"
    req GET "/v1/tokens/$skf_id/certificates/$c.enc.der"
    check "….der: the encryption certificate, byte for byte" cmp -s "$work/body" "$work/enc.der"
    req GET "/v1/tokens/$skf_id/certificates/$c.sign.pem"
    check "….pem: the same certificate" \
        bash -c 'openssl x509 -in "$1" -outform DER | cmp -s - "$2"' _ "$work/body" "$work/sign.der"
    req GET "/v1/tokens/$skf_id/certificates/$c.SIGN"
    expect_json "an SKF certificate id is exact: another case is 404" 404 "$(problem CERTIFICATE_NOT_FOUND)"
}

# --- the PIN ----------------------------------------------------------------------------

test_pin() {
    local i
    req GET "/v1/tokens/$skf_id/pin"
    expect_json "GET pin: 6 tries of 6" 200 '.triesLeft == 6' '.triesMax == 6' '.isDefault == true'
    req GET "/v1/tokens/$skf_id/pin"
    expect_json "GET pin again costs no try" 200 '.triesLeft == 6'
    post_json "/v1/tokens/$skf_id/pin/verify" "{\"pin\":\"$PIN\"}"
    expect_json "verify the PIN" 200 '.verified == true' '.triesLeft == 6'
    post_json "/v1/tokens/$skf_id/pin/verify" '{"pin":"12"}'
    expect_json "a PIN outside the profile's policy: 422 before the key" 422 "$(problem PIN_POLICY)"
    post_json "/v1/tokens/$skf_id/pin/change" "{\"oldPin\":\"$PIN\",\"newPin\":\"$NEW_PIN\"}"
    expect_json "change the PIN" 200 '.changed == true'
    req GET "/v1/tokens/$skf_id/pin"
    expect_json "…no longer the factory default" 200 '.isDefault == false' '.triesLeft == 6'
    post_json "/v1/tokens/$skf_id/pin/verify" "{\"pin\":\"$PIN\"}"
    expect_json "the old PIN is wrong now: 5 left" 403 "$(problem PIN_INCORRECT)" '.triesLeft == 5'
    post_json "/v1/tokens/$skf_id/pin/verify" "{\"pin\":\"$NEW_PIN\"}"
    expect_json "the new PIN verifies (and resets the count)" 200 '.verified == true' '.triesLeft == 6'
    # With a wrong old PIN: a change that reached the key would cost a try.
    post_json "/v1/tokens/$skf_id/pin/change" "{\"oldPin\":\"$WRONG_PIN\",\"newPin\":\"000000\"}"
    expect_json "a too simple new PIN: 422 PIN_TOO_SIMPLE before the key" 422 \
        "$(problem PIN_TOO_SIMPLE)" '.rule == "repeated"'
    post_json "/v1/tokens/$skf_id/pin/change" "{\"oldPin\":\"$NEW_PIN\",\"newPin\":\"$NEW_PIN\"}"
    expect_json "the old PIN as the new: 422 PIN_SAME_AS_OLD" 422 "$(problem PIN_SAME_AS_OLD)"
    req GET "/v1/tokens/$skf_id/pin"
    expect_json "…the key's tries untouched" 200 '.triesLeft == 6'
}

test_pin_blocked() {
    local i
    for i in 5 4 3 2 1; do
        post_json "/v1/tokens/$skf_id/pin/verify" "{\"pin\":\"$WRONG_PIN\"}"
    done
    expect_json "five wrong PINs: 1 left" 403 "$(problem PIN_INCORRECT)" '.triesLeft == 1'
    post_json "/v1/tokens/$skf_id/pin/verify" "{\"pin\":\"$WRONG_PIN\"}"
    expect_json "the last try refused without confirmLastTry" 428 "$(problem PIN_LAST_TRY)" \
        '.triesLeft == 1'
    post_json "/v1/tokens/$skf_id/pin/change" "{\"oldPin\":\"$WRONG_PIN\",\"newPin\":\"$NEW_PIN\"}"
    expect_json "…a change too" 428 "$(problem PIN_LAST_TRY)"
    req GET "/v1/tokens/$skf_id/pin"
    expect_json "the guard spent nothing" 200 '.triesLeft == 1' '.blocked == false'
    post_json "/v1/tokens/$skf_id/pin/verify" "{\"pin\":\"$WRONG_PIN\",\"confirmLastTry\":true}"
    expect_json "with confirmLastTry: blocked" 423 "$(problem PIN_BLOCKED)" '.triesLeft == 0'
    post_json "/v1/tokens/$skf_id/pin/verify" "{\"pin\":\"$NEW_PIN\",\"confirmLastTry\":true}"
    expect_json "the right PIN cannot open a blocked key" 423 "$(problem PIN_BLOCKED)"
    req GET "/v1/tokens/$skf_id/pin"
    expect_json "GET pin says blocked" 200 '.blocked == true' '.triesLeft == 0'
}

# --- plug and unplug -----------------------------------------------------------------

test_hotplug() {
    local ev=$work/events.txt stream
    curl -sN --max-time 120 "$base/v1/events" >"$ev" 2>/dev/null &
    stream=$!
    helper_pids+=("$stream")
    check "event stream open" wait_for_text "$ev" ': ukeyd events' 5
    "$vskf" unplug "$VSKF_DIR" "$DEMO_SKF_DEVICE" >/dev/null
    check "vskf unplug: token-removed on /v1/events" \
        wait_for_text "$ev" "\"tokenId\":\"$skf_id\"" "$EVENT_WAIT_S"
    check "…as token-removed" grep -q '^event: token-removed' "$ev"
    req GET "/v1/tokens/$skf_id"
    expect_json "the key is gone: 404" 404 "$(problem TOKEN_NOT_FOUND)"
    : >"$ev.mark"
    # a CA's tool writes two seals (under names that do not say so) and takes one away
    "$vskf" put-file "$VSKF_DIR" "$DEMO_SKF_DEVICE" "$DEMO_SKF_APP" ES0003 \
        "$work/skf/$DEMO_SKF_SEAL_FILE" >/dev/null
    "$vskf" put-file "$VSKF_DIR" "$DEMO_SKF_DEVICE" "$DEMO_SKF_APP" gz_0004 \
        "$work/skf/$DEMO_SKF_SEAL_FILE" >/dev/null
    "$vskf" rm-file "$VSKF_DIR" "$DEMO_SKF_DEVICE" "$DEMO_SKF_APP" seal.2 >/dev/null
    "$vskf" plug "$VSKF_DIR" "$DEMO_SKF_DEVICE" >/dev/null
    check "vskf plug: token-inserted on /v1/events" \
        wait_for_text "$ev" 'event: token-inserted' "$EVENT_WAIT_S"
    check "…the same token id again" \
        test "$(grep -A1 '^event: token-inserted' "$ev" | grep -c "\"tokenId\":\"$skf_id\"")" -ge 1
    check "…and GET /v1/tokens/{id} answers again" wait_for_token "$skf_id"
    req GET "/v1/tokens/$skf_id"
    expect_json "…its seals read again: two added, one taken away" 200 \
        ".seals == $((DEMO_SKF_SEALS + 1))"
    kill "$stream" 2>/dev/null
    wait "$stream" 2>/dev/null
}

# --- the helper killed --------------------------------------------------------------

test_helper_killed() {
    local pids pid i answered=0 first
    pids=$(helper_pids_of_daemon)
    check "ukeyd runs one helper for the library ($pids)" test "$(wc -w <<<"$pids")" -eq 1
    pid=${pids%% *}
    kill -KILL "$pid" 2>/dev/null
    req GET "/v1/tokens/$skf_id/pin"
    first=$code
    check "the first call after the kill: an answer or a clean problem ($first)" \
        bash -c '[ "$1" = 200 ] || jq -e ".code | type == \"string\"" "$2" >/dev/null' _ "$first" "$work/body"
    for ((i = 0; i < RETRY_TENTHS; i++)); do
        req GET "/v1/tokens/$skf_id/pin"
        [ "$code" = 200 ] && { answered=1; break; }
        sleep 0.1
    done
    check "a retry is answered by a new helper" test "$answered" -eq 1
    check "…a new process" bash -c '[ -n "$1" ] && [ "$1" != "$2" ]' _ "$(helper_pids_of_daemon)" "$pid"
    check "the daemon is still up" kill -0 "$daemon_pid"
    req GET /v1/tokens
    expect_json "…and serves every token" 200 '.tokens | length == 3'
}

# --- a library that is missing --------------------------------------------------------

test_missing_library() {
    local out
    stop_ukeyd
    write_config "$work/missing.conf" "$work/no-such-lib.so"
    out=$("$ukeyd" --config "$work/missing.conf" --check-config 2>&1)
    check "--check-config: the missing library's line" \
        grep -qF "SKF library $work/no-such-lib.so (configured, profile standard): missing" <<<"$out"
    start_ukeyd "$work/ukeyd-missing.log" "$ukeyd" --config "$work/missing.conf"
    check "ukeyd starts with its only SKF library missing" test -n "$daemon_pid"
    req GET /v1/tokens
    expect_json "…and serves both PIV tokens" 200 \
        '[.tokens[] | select(.edge == "PIV")] | length == 2' '[.tokens[] | select(.edge == "SKF")] | length == 0'
    check "…its log says which library was not loaded and why" \
        grep -qF "SKF library $work/no-such-lib.so (configured, profile standard) not loaded" \
        "$work/ukeyd-missing.log"
    stop_ukeyd
}

# --- a key pulled on a machine with no pcscd -------------------------------------------

# No pcscd at all (its socket named where none listens): the SKF key still
# comes and goes, and a pulled key is gone as it is with pcscd up (404
# TOKEN_NOT_FOUND), never blamed on PC/SC (503 PCSC_UNAVAILABLE).
key_gone() { req GET "/v1/tokens/$skf_id"; [ "$code" != 200 ]; }
test_pulled_without_pcscd() {
    local i gone=0
    write_config "$work/nopcscd.conf" "$vskf_lib"
    if ! start_ukeyd "$work/ukeyd-nopcscd.log" env PCSCLITE_CSOCK_NAME="$work/no-pcscd.comm" \
        "$ukeyd" --config "$work/nopcscd.conf"; then
        ok 1 "ukeyd starts with no pcscd"
        return
    fi
    check "with no pcscd the SKF key is served" wait_for_token "$skf_id"
    req GET /v1/status
    expect_json "…and the status says pcscd is not reachable" 200 '.pcscAvailable == false'
    "$vskf" unplug "$VSKF_DIR" "$DEMO_SKF_DEVICE" >/dev/null
    for ((i = 0; i < RETRY_TENTHS; i++)); do
        key_gone && { gone=1; break; }
        sleep 0.1
    done
    check "the key pulled: the daemon sees it go" test "$gone" -eq 1
    req GET "/v1/tokens/$skf_id"
    expect_json "a pulled key with no pcscd: 404 TOKEN_NOT_FOUND, as with pcscd up" 404 \
        "$(problem TOKEN_NOT_FOUND)"
    post_json "/v1/tokens/$skf_id/pin/verify" "{\"pin\":\"$NEW_PIN\"}"
    expect_json "…a PIN verify on it too, not PCSC_UNAVAILABLE" 404 "$(problem TOKEN_NOT_FOUND)"
    "$vskf" plug "$VSKF_DIR" "$DEMO_SKF_DEVICE" >/dev/null
    check "plugged back, it is served again" wait_for_token "$skf_id"
    stop_ukeyd
    check "ukeyd stops cleanly (exit 0, no sanitizer report)" test "$stop_rc" = 0
}

test_no_secrets_logged() {
    local p found=0
    for p in "$PIN" "$WRONG_PIN" "$NEW_PIN" "$DEMO_SKF_ADMIN_PIN"; do
        if grep -rqF -- "$p" "$work"/*.log; then
            found=1
            diag "a PIN found in $(grep -rlF -- "$p" "$work"/*.log | tr '\n' ' ')"
        fi
    done
    check "no PIN in any log (debug level)" test "$found" -eq 0
    check "the logs are at debug level" grep -q 'debug' "$work/ukeyd.log"
}

test_check_config
write_config "$work/ukeyd.conf" "$vskf_lib"
if ! start_ukeyd "$work/ukeyd.log" "$ukeyd" --config "$work/ukeyd.conf"; then
    diag_file "$work/ukeyd.log"
    bail "ukeyd did not start"
fi
check "the start log says the library loaded, with its helper" \
    grep -qF "SKF library $vskf_lib (configured, profile standard) loaded, helper pid" "$work/ukeyd.log"
test_listing
if [ -n "$skf_id" ]; then
    test_certificates
    test_pin
    test_hotplug
    test_helper_killed
    test_pin_blocked
fi
test_missing_library
[ -n "$skf_id" ] && test_pulled_without_pcscd
test_no_secrets_logged
done_testing
