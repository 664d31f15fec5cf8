#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-unlock-skf.sh — the remote unlock of an SKF token end to end:
# ukeyd with the virtual SKF library (a copy of the demo SKF token, through
# the real helper process) against the reference CA service ukey-ca, seeded
# with the token's admin PIN, driven with curl the way a portal would. Both
# mechanisms the CA may choose: the challenge-response ("remote-challenge":
# the CA answers the token's challenge for a temporary PIN that ukeyd
# changes at once to the user's, and the admin PIN stays at the CA) and the
# admin PIN ("admin-pin": handed out once, then rotated on the token and at
# the CA). Each through the SMS path and the review path (one charged), each
# interrupted by SIGKILL of ukeyd between its steps and recovered; each
# stopped (the hook's SIGSTOP) at its most delicate steps while the token is
# pulled, the helper killed or the CA made unreachable, then recovered with
# no admin try lost, and unlocked again (a pulled key answers TOKEN_REMOVED:
# no pcscd runs here, and none is needed); the CA down after the admin PIN's
# `authorized` and `puk-changed`, the helper killed after `authorized`; a key
# that loses its challenge when its application closes unlocks at no admin
# try, also when a second key is plugged into the same library while the CA
# answers; a wrong admin-PIN record costs one
# admin try and is reported. The new PIN must
# verify every time. Ends by searching every log and the journal for PINs,
# admin PINs and codes.
#
# TAP on stdout. Everything is bounded in time (curl --max-time, bounded
# waits); every process it starts is stopped by PID.
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
readonly NEW_PINS=(24681357 13572468 11223344 55667788 99887766 31415926 86420864 20252026)
readonly WRONG_ADMIN_PIN=11112222
readonly PHONE=13700001000
readonly CURL_MAX_S=15
readonly CA_CONNECT_TIMEOUT_S=1
readonly CA_TIMEOUT_S=5
readonly PACING_MS=50
readonly BLOCK_TRIES_MAX=20
readonly RECOVERY_WAIT_TENTHS=300
readonly STOP_WAIT_TENTHS=300
readonly OUTAGE_RECOVERY_WAIT_TENTHS=900   # the recovery's backoff after failed tries
readonly INTERRUPTED_CURL_MAX_S=60   # a CA made unreachable costs ukeyd its timeouts
readonly KILLED_BY_SIGKILL=137
readonly FEE_CENTS=3000
readonly NAMEOPT="RFC2253,-esc_msb,sep_comma_plus_space"

need_tools curl jq ss openssl sqlite3
for bin in "$ukeyd" "$helper" "$vskf" "$libvskf" "$build/ukey-ca"; do
    [ -e "$bin" ] || skip_all "no $bin (build first)"
done
[ -r "$demo_skf/skf.env" ] || skip_all "no demo SKF token in $demo_skf"

make_work unlock-skf
state=$work/state
cleanup() {
    lib_cleanup
    remove_work
}
trap cleanup EXIT

# --- the token, the CA service ----------------------------------------------------

use_demo_skf_key
ADMIN_PIN=$DEMO_SKF_ADMIN_PIN
SECRETS=("$DEMO_SKF_USER_PIN" "$ADMIN_PIN" "$WRONG_PIN" "$WRONG_ADMIN_PIN" "${NEW_PINS[@]}")
mkdir -p "$state"

cert_json() {   # PEM -> {"serial", "issuer"} as the CA keeps them
    local serial issuer
    serial=$(openssl x509 -in "$1" -noout -serial | sed 's/^serial=//')
    issuer=$(openssl x509 -in "$1" -noout -issuer -nameopt "$NAMEOPT" | sed 's/^issuer=//')
    jq -cn --arg s "$serial" --arg i "$issuer" '{serial: $s, issuer: $i}'
}
jq -n --arg t "$tok" --arg a "$ADMIN_PIN" --arg p "$PHONE" \
    --argjson s "$(cert_json "$work/skf/$DEMO_SKF_SIGN_CERT")" \
    --argjson e "$(cert_json "$work/skf/$DEMO_SKF_ENC_CERT")" \
    '{tokens: [{tokenId: $t, owner: "演示专用", phone: $p, adminPin: $a, certificates: [$s, $e]}]}' \
    >"$work/ca-seed.json"
start_ukey_ca "$work/ca-seed.json" --sms-resend-seconds 1 ||
    { diag_file "$work/ukey-ca.log"; bail "ukey-ca did not start"; }

ca_sql() { sqlite3 "$work/ca.db" "$@"; }
ca_admin_pin() { ca_sql "SELECT puk FROM tokens WHERE id = '$tok'"; }
note_ca_secrets() {
    local p
    while read -r p; do
        [ -n "$p" ] && SECRETS+=("$p")
    done < <(ca_sql "SELECT puk FROM tokens UNION SELECT pending_puk FROM tokens \
                     WHERE pending_puk IS NOT NULL")
}
use_mechanism() { ca_sql "UPDATE tokens SET unlock_mechanism = '$1' WHERE id = '$tok'"; }

# --- ukeyd -------------------------------------------------------------------------

cat >"$work/ukeyd.conf" <<EOF
# written by tests/test-unlock-skf.sh
[ukeyd]
log-level = debug
pin-pacing-ms = $PACING_MS
peer-policy = any-local
support-socket = none
state-directory = $state
ca-connect-timeout = $CA_CONNECT_TIMEOUT_S
ca-timeout = $CA_TIMEOUT_S
ca-service-url = $CA
skf-library = $libvskf
skf-discover = no
skf-helper = $helper
EOF

start_daemon() {   # [ENV=VALUE...]
    start_ukeyd "$work/ukeyd.log" env PCSCLITE_CSOCK_NAME="$work/no-pcscd.comm" "$@" \
        "$ukeyd" --config "$work/ukeyd.conf" &&
        wait_for_token "$tok"
}
restart_daemon() {   # [ENV=VALUE...]
    if [ -n "$daemon_pid" ]; then
        stop_ukeyd
        check "ukeyd stops cleanly (exit 0, no sanitizer report)" test "$stop_rc" = 0
    fi
    start_daemon "$@"
}

# --- the user's steps -----------------------------------------------------------------

jq_true() { jq -e "$@" >/dev/null 2>&1; }

block_pin() {
    local i
    for ((i = 0; i < BLOCK_TRIES_MAX; i++)); do
        post_json "/v1/tokens/$tok/pin/verify" "{\"pin\":\"$WRONG_PIN\",\"confirmLastTry\":true}"
        [ "$(field .code)" = PIN_BLOCKED ] && return 0
    done
    return 1
}
open_session() { post_json "/v1/tokens/$tok/unlock" '{}'; sid=$(field .sessionId); }
pay_if_due() {
    local url
    req GET "/v1/unlock/$sid"
    [ "$(field .state)" = awaiting-payment ] || return 0
    url=$(field .paymentUrl)
    ca_post "/demo/api/orders/${url##*/}/pay" '{"invoice":{"title":"示例有限公司"}}' >/dev/null
}
prove_by_review() {
    local review
    req GET "/v1/unlock/$sid"
    curl -s --max-time "$CURL_MAX_S" -o /dev/null -H 'Accept: application/json' \
        -F kind=id-copy -F "file=@$work/id-copy.png;type=image/png" "$(field .reviewUrl)/materials"
    review=$(ca_get /demo/api/reviews |
        jq -r --arg t "$tok" '[.reviews[] | select(.tokenId == $t and .state == "pending")][0].reviewId')
    unlock_code=$(ca_post "/demo/api/reviews/$review/approve" | jq -r .unlockCode)
    SECRETS+=("$unlock_code")
    post_json "/v1/unlock/$sid/verify" "{\"unlockCode\":\"$unlock_code\"}"
}
prove() {   # sms | review
    pay_if_due
    if [ "$1" = sms ]; then prove_by_sms "$PHONE"; else prove_by_review; fi
}
complete() { post_json "/v1/unlock/$sid/complete" "{\"newPin\":\"$1\",\"confirmNewPin\":\"$1\"}"; }
pin_verifies() {
    post_json "/v1/tokens/$tok/pin/verify" "{\"pin\":\"$1\"}"
    [ "$code" = 200 ]
}
journal_records() { find "$state/unlock" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l; }
wait_for_empty_journal() {
    local i
    for ((i = 0; i < RECOVERY_WAIT_TENTHS; i++)); do
        [ "$(journal_records)" -eq 0 ] && return 0
        sleep 0.1
    done
    return 1
}
admin_tries() {   # the admin PIN's tries left, as the token's own tool shows them
    "$vskf" show "$VSKF_DIR" "$DEMO_SKF_DEVICE" | sed -n 's|^ *admin-pin-tries: \([0-9]*\)/.*|\1|p'
}
pin_tries_full() {   # the user PIN's tries, as the token's own tool shows them: N/N
    "$vskf" show "$VSKF_DIR" "$DEMO_SKF_DEVICE" |
        grep -qE '^ *user-pin-tries: ([0-9]+)/\1( |$)'
}
last_rotation() { ca_sql "SELECT mechanism || ' ' || state FROM rotations ORDER BY created_at DESC, rowid DESC LIMIT 1"; }

# One whole unlock: blocked PIN, session, identity, complete with NEW-PIN.
unlock_once() {   # LABEL MECHANISM sms|review NEW-PIN
    local label=$1 mech=$2 how=$3 pin=$4 before_admin
    use_mechanism "$mech"
    check "[$label] the PIN is blocked first" block_pin
    open_session
    expect_json "[$label] a session opens" 201 '.sessionId != null'
    prove "$how"
    expect_json "[$label] identity proven ($how)" 200 '.state == "authorized"'
    before_admin=$(ca_admin_pin)
    complete "$pin"
    expect_json "[$label] complete succeeds" 200 '.completed == true and .triesLeft > 0'
    check "[$label] the new PIN verifies" pin_verifies "$pin"
    check "[$label] no journal record is left" test "$(journal_records)" -eq 0
    check "[$label] the CA settled a $mech rotation" test "$(last_rotation)" = "$mech $([ "$mech" = admin-pin ] && echo rotated || echo unchanged)"
    if [ "$mech" = admin-pin ]; then
        check "[$label] the admin PIN was rotated at the CA" test "$(ca_admin_pin)" != "$before_admin"
    else
        check "[$label] the admin PIN stayed at the CA, unchanged" test "$(ca_admin_pin)" = "$before_admin"
    fi
    note_ca_secrets
}

# SIGKILL after STEP, restart, recovery, then the token still unlocks.
crash_after() {   # MECHANISM STEP PIN-BEFORE-CRASH PIN-AFTER
    local mech=$1 step=$2 crash_pin=$3 later_pin=$4 label="$1 crash after $2" rc record
    restart_daemon UKEYD_TEST_CRASH_AFTER="$step" || { ok 1 "[$label] ukeyd starts"; return; }
    use_mechanism "$mech"
    block_pin
    open_session
    prove review
    expect_json "[$label] identity proven" 200 '.state == "authorized"'
    complete "$crash_pin"
    check "[$label] complete gets no answer: ukeyd died" test "$code" = 000
    wait "$daemon_pid" 2>/dev/null
    rc=$?
    daemon_pid=
    check "[$label] ukeyd was killed by SIGKILL (exit $rc)" test "$rc" -eq "$KILLED_BY_SIGKILL"
    record=$(find "$state/unlock" -maxdepth 1 -name '*.json' | head -n 1)
    check "[$label] one journal record names the step and the mechanism" \
        jq_true --arg s "$step" --arg m "$mech" '.step == $s and .mechanism == $m' "$record"
    note_ca_secrets
    local secret leaked=0
    for secret in "${SECRETS[@]}"; do holds_secret "$secret" "$record" && leaked=1; done
    check "[$label] the record holds no PIN, admin PIN or code" test "$leaked" -eq 0
    start_daemon || { ok 1 "[$label] ukeyd restarts"; return; }
    check "[$label] the restarted ukeyd finishes the record by itself" wait_for_empty_journal
    check "[$label] no rotation is left pending at the CA" \
        test "$(ca_sql "SELECT count(*) FROM rotations WHERE state = 'pending'")" = 0
    case "$mech/$step" in
    remote-challenge/confirmed | admin-pin/pin-reset | admin-pin/puk-changed)
        check "[$label] the PIN set before the crash verifies" pin_verifies "$crash_pin" ;;
    esac
    unlock_once "$label, later" "$mech" review "$later_pin"
}

# --- interruptions other than a crash ------------------------------------------------

daemon_stopped() { [ "$(awk '{print $3}' "/proc/$daemon_pid/stat" 2>/dev/null)" = T ]; }
wait_until() {   # TENTHS COMMAND...: until COMMAND succeeds, at most TENTHS tenths of a second
    local tenths=$1 i
    shift
    for ((i = 0; i < tenths; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
# The SKF helper of THIS test's ukeyd: its child, never one of another test's.
our_helper() { pgrep -P "$daemon_pid" -f ukeyd-skf-host | head -n 1; }
kill_our_helper() {
    local pid
    pid=$(our_helper)
    [ -n "$pid" ] && kill -KILL "$pid"
}
pending_rotations() { ca_sql "SELECT count(*) FROM rotations WHERE state = 'pending'"; }
journal_empty() { [ "$(journal_records)" -eq 0 ]; }

# What INTERRUPTION does while ukeyd is stopped at a step, and undoes later.
interrupt() {   # pull | helper | ca
    case "$1" in
    pull) "$vskf" unplug "$VSKF_DIR" "$DEMO_SKF_DEVICE" ;;
    helper) kill_our_helper ;;
    ca) kill -STOP "$ca_pid" ;;
    esac
}
undo_interruption() {   # pull | helper | ca
    case "$1" in
    pull) "$vskf" plug "$VSKF_DIR" "$DEMO_SKF_DEVICE" ;;
    helper) true ;;       # ukeyd starts a new helper by itself
    ca) kill -CONT "$ca_pid" ;;
    esac
}

# ukeyd stops (SIGSTOP, the test hook) right after STEP of `complete`; the
# token is pulled, its helper killed or the CA made unreachable; ukeyd goes
# on. `complete` must answer (an error or a success), no admin try may be
# lost, and once the cause is gone the journal empties by itself, nothing is
# left pending at the CA, and a later unlock works.
interrupted_at() {   # MECHANISM STEP pull|helper|ca PIN PIN-AFTER
    local mech=$1 step=$2 how=$3 pin=$4 later_pin=$5 label="$1 $3 after $2" tries_before curl_pid answer
    restart_daemon UKEYD_TEST_CRASH_AFTER="stop:$step" || { ok 1 "[$label] ukeyd starts"; return; }
    use_mechanism "$mech"
    block_pin
    open_session
    prove review
    expect_json "[$label] identity proven" 200 '.state == "authorized"'
    tries_before=$(admin_tries)
    rm -f "$work/complete.code"
    (
        post_json "/v1/unlock/$sid/complete" "{\"newPin\":\"$pin\",\"confirmNewPin\":\"$pin\"}" \
            --max-time "$INTERRUPTED_CURL_MAX_S"
        echo "$code" >"$work/complete.code"
    ) &
    curl_pid=$!
    helper_pids+=("$curl_pid")
    if ! check "[$label] ukeyd stops at the step" wait_until "$STOP_WAIT_TENTHS" daemon_stopped; then
        kill -CONT "$daemon_pid" 2>/dev/null
        wait "$curl_pid"
        return
    fi
    [ "$how" = helper ] && check "[$label] our helper is found" test -n "$(our_helper)"
    interrupt "$how"
    kill -CONT "$daemon_pid"
    wait "$curl_pid"
    code=$(cat "$work/complete.code" 2>/dev/null)
    answer=$code
    check "[$label] complete answers (HTTP $answer)" test "$answer" != 000
    [ "$answer" = 200 ] || expect_json "[$label] …with a problem, not a success" "$code" '.code != null'
    # No pcscd runs here: a pulled key is TOKEN_REMOVED all the same.
    if [ "$how" = pull ] && [ "$answer" != 200 ]; then
        expect_json "[$label] …TOKEN_REMOVED, not blamed on PC/SC" 409 "$(problem TOKEN_REMOVED)"
    fi
    undo_interruption "$how"
    check "[$label] the token is back" wait_for_token "$tok"
    check "[$label] the journal empties by itself" \
        wait_until "$OUTAGE_RECOVERY_WAIT_TENTHS" journal_empty
    check "[$label] no rotation is left pending at the CA" test "$(pending_rotations)" = 0
    # A recovery may waste one admin try on the likelier PIN and restore it with the other:
    # counted only once the journal is empty.
    check "[$label] no admin try was lost" test "$(admin_tries)" -ge "$tries_before"
    note_ca_secrets
    # A PIN the card took before the interruption stays; else it is still blocked.
    if [ "$answer" = 200 ] || [ "$mech/$step" = admin-pin/pin-reset ] ||
        [ "$mech/$step" = admin-pin/puk-changed ]; then
        check "[$label] the PIN set verifies" pin_verifies "$pin"
        check "[$label] …and the PIN's tries are full again" pin_tries_full
    fi
    restart_daemon || { ok 1 "[$label] ukeyd restarts"; return; }
    unlock_once "$label, later" "$mech" review "$later_pin"
}

# The CA's admin-PIN record is wrong: one admin try (a refused PIN unblock,
# or a refused answer to the challenge), a report, UNLOCK_RECORD_MISMATCH.
wrong_record() {   # MECHANISM
    local mech=$1 label="wrong admin PIN on record, $1" right tries_before
    use_mechanism "$mech"
    right=$(ca_admin_pin)
    ca_sql "UPDATE tokens SET puk = '$WRONG_ADMIN_PIN' WHERE id = '$tok'"
    block_pin
    open_session
    prove review
    tries_before=$(admin_tries)
    complete "${NEW_PINS[7]}"
    expect_json "[$label] complete answers UNLOCK_RECORD_MISMATCH" 409 \
        "$(problem UNLOCK_RECORD_MISMATCH)"
    check "[$label] it cost one admin try" test "$(admin_tries)" -eq $((tries_before - 1))
    check "[$label] the CA recorded the report" \
        test "$(ca_sql "SELECT count(*) FROM puk_reports WHERE resolved_at IS NULL")" = 1
    check "[$label] no journal record is left" test "$(journal_records)" -eq 0
    open_session
    prove review
    complete "${NEW_PINS[7]}"
    expect_json "[$label] no second try while the record is disputed" 409 \
        "$(problem UNLOCK_RECORD_MISMATCH)"
    check "[$label] …and no admin try spent" test "$(admin_tries)" -eq $((tries_before - 1))
    ca_sql "UPDATE tokens SET puk = '$right' WHERE id = '$tok'"
    unlock_once "$label, record corrected" "$mech" review "${NEW_PINS[7]}"
    check "[$label] the right answer restored the admin tries" \
        test "$(admin_tries)" -eq "$tries_before"
}

# A key that draws a fresh random when its application closes
# (challenge-lost-on-close, docs/virtual-skf.md): the challenge and the CA's
# answer meet in one hold of the token, so the right answer is taken and no
# admin try is spent.
lost_challenge_unlock() {   # PIN
    local label="remote-challenge, a key that loses its challenge on close" tries_before
    echo challenge-lost-on-close >"$VSKF_DIR/quirks"
    tries_before=$(admin_tries)
    unlock_once "$label" remote-challenge sms "$1"
    check "[$label] no admin try was spent" test "$(admin_tries)" -eq "$tries_before"
    check "[$label] the PIN's tries are full" pin_tries_full
    rm -f "$VSKF_DIR/quirks"
}

# The CA made to wait (SIGSTOP) while its answer to the held challenge is
# due, and a second key plugged into the same library meanwhile (with the
# challenge-lost-on-close quirk on): ukeyd reads the new key, and that must
# leave the held challenge alone, so `complete` succeeds with no admin try
# spent and no report to the CA. (A call on the key itself closes the
# challenge's application: the answer is then not presented at all, as
# tests/test-skf_host.c checks.) The CA's deadline is raised for this case:
# a bound, not a wait.
readonly HELD_CA_TIMEOUT_S=40
readonly SECOND_SERIAL=GM3000V000002
readonly SECOND_DEVICE=second-sm2
readonly SECOND_ADMIN_PIN=87654321
ca_has_unread_request() {   # ukeyd's request sits in a socket of the stopped CA
    ss -Htn state established "( sport = :${CA##*:} )" | awk '$1 > 0 { f = 1 } END { exit !f }'
}
token_listed() { req GET "/v1/tokens/$1"; [ "$code" = 200 ]; }
plug_second_key() {
    "$vskf" provision "$VSKF_DIR" "$SECOND_DEVICE" --serial "$SECOND_SERIAL" \
        --label second --admin-pin "$SECOND_ADMIN_PIN" >/dev/null &&
        "$vskf" plug "$VSKF_DIR" "$SECOND_DEVICE" &&
        wait_until "$RECOVERY_WAIT_TENTHS" token_listed "skf-$SECOND_SERIAL"
}
SECRETS+=("$SECOND_ADMIN_PIN")
reports() { ca_sql "SELECT count(*) FROM puk_reports"; }
second_key_while_ca_answers() {   # PIN
    local pin=$1 label="remote-challenge, a second key plugged while the CA answers"
    local tries_before reports_before curl_pid
    sed -i "s/^ca-timeout = .*/ca-timeout = $HELD_CA_TIMEOUT_S/" "$work/ukeyd.conf"
    restart_daemon UKEYD_TEST_CRASH_AFTER=stop:authorized || { ok 1 "[$label] ukeyd starts"; return; }
    echo challenge-lost-on-close >"$VSKF_DIR/quirks"
    use_mechanism remote-challenge
    block_pin
    open_session
    prove review
    expect_json "[$label] identity proven" 200 '.state == "authorized"'
    tries_before=$(admin_tries)
    reports_before=$(reports)
    rm -rf "$work/bg"
    mkdir "$work/bg"
    (   # its own body and headers: the test's requests meanwhile write $work's
        work=$work/bg
        post_json "/v1/unlock/$sid/complete" "{\"newPin\":\"$pin\",\"confirmNewPin\":\"$pin\"}" \
            --max-time "$INTERRUPTED_CURL_MAX_S"
        echo "$code" >"$work/complete.code"
    ) &
    curl_pid=$!
    helper_pids+=("$curl_pid")
    if check "[$label] ukeyd stops before the challenge" wait_until "$STOP_WAIT_TENTHS" daemon_stopped; then
        kill -STOP "$ca_pid"
        kill -CONT "$daemon_pid"
        check "[$label] the challenge went to the stopped CA" \
            wait_until "$STOP_WAIT_TENTHS" ca_has_unread_request
        check "[$label] the second key is seen" plug_second_key
        kill -CONT "$ca_pid"
    else
        kill -CONT "$daemon_pid" 2>/dev/null
    fi
    wait "$curl_pid"
    code=$(cat "$work/bg/complete.code" 2>/dev/null)
    cp "$work/bg/body" "$work/body" 2>/dev/null
    expect_json "[$label] complete succeeds: the other key left the challenge alone" 200 \
        '.completed == true'
    check "[$label] no admin try was spent" test "$(admin_tries)" -eq "$tries_before"
    check "[$label] the CA was not told its record is wrong" test "$(reports)" -eq "$reports_before"
    check "[$label] no journal record is left" test "$(journal_records)" -eq 0
    check "[$label] the new PIN verifies" pin_verifies "$pin"
    rm -f "$VSKF_DIR/quirks"
    "$vskf" unplug "$VSKF_DIR" "$SECOND_DEVICE"
    rm -f "$VSKF_DIR/$SECOND_DEVICE".*
    sed -i "s/^ca-timeout = .*/ca-timeout = $CA_TIMEOUT_S/" "$work/ukeyd.conf"
    restart_daemon || ok 1 "[$label] ukeyd restarts"
}

test_no_secrets_logged() {
    local secret f leaked=0
    for f in "$work/ukeyd.log" "$work/ukey-ca.log"; do
        for secret in "${SECRETS[@]}"; do
            if holds_secret "$secret" "$f"; then
                leaked=1
                diag "a secret is in $(basename "$f")"
            fi
        done
    done
    check "no PIN, admin PIN or code in any log" test "$leaked" -eq 0
}

# --- run ------------------------------------------------------------------------------

{ printf '\x89PNG\r\n\x1a\n'; head -c 3000 /dev/urandom; } >"$work/id-copy.png"
start_daemon || { diag_file "$work/ukeyd.log"; bail "ukeyd did not start with the SKF library"; }
req GET "/v1/tokens/$tok"
expect_json "the SKF token offers both unlock mechanisms" 200 '.edge == "SKF"'
note_ca_secrets

unlock_once "remote-challenge, SMS" remote-challenge sms "${NEW_PINS[0]}"
unlock_once "admin-pin, SMS" admin-pin sms "${NEW_PINS[1]}"
ca_sql "UPDATE tokens SET fee_cents = $FEE_CENTS WHERE id = '$tok'"
unlock_once "remote-challenge, review, paid" remote-challenge review "${NEW_PINS[2]}"
unlock_once "admin-pin, review, paid" admin-pin review "${NEW_PINS[3]}"
ca_sql "UPDATE tokens SET fee_cents = 0 WHERE id = '$tok'"

crash_after remote-challenge authorized "${NEW_PINS[4]}" "${NEW_PINS[5]}"
crash_after remote-challenge pin-temporary "${NEW_PINS[6]}" "${NEW_PINS[0]}"
crash_after remote-challenge confirmed "${NEW_PINS[1]}" "${NEW_PINS[2]}"
crash_after admin-pin authorized "${NEW_PINS[3]}" "${NEW_PINS[4]}"
crash_after admin-pin pin-reset "${NEW_PINS[5]}" "${NEW_PINS[6]}"
crash_after admin-pin puk-changed "${NEW_PINS[0]}" "${NEW_PINS[1]}"
crash_after admin-pin confirmed "${NEW_PINS[2]}" "${NEW_PINS[3]}"
interrupted_at remote-challenge authorized pull "${NEW_PINS[4]}" "${NEW_PINS[5]}"
interrupted_at remote-challenge pin-temporary pull "${NEW_PINS[6]}" "${NEW_PINS[0]}"
interrupted_at admin-pin authorized pull "${NEW_PINS[1]}" "${NEW_PINS[2]}"
interrupted_at admin-pin pin-reset pull "${NEW_PINS[3]}" "${NEW_PINS[4]}"
interrupted_at remote-challenge pin-temporary helper "${NEW_PINS[5]}" "${NEW_PINS[6]}"
interrupted_at admin-pin pin-reset helper "${NEW_PINS[0]}" "${NEW_PINS[1]}"
interrupted_at remote-challenge authorized ca "${NEW_PINS[2]}" "${NEW_PINS[3]}"
interrupted_at admin-pin pin-reset ca "${NEW_PINS[4]}" "${NEW_PINS[5]}"
interrupted_at admin-pin authorized ca "${NEW_PINS[6]}" "${NEW_PINS[7]}"
interrupted_at admin-pin puk-changed ca "${NEW_PINS[0]}" "${NEW_PINS[1]}"
interrupted_at admin-pin authorized helper "${NEW_PINS[2]}" "${NEW_PINS[3]}"
interrupted_at remote-challenge authorized helper "${NEW_PINS[4]}" "${NEW_PINS[5]}"
lost_challenge_unlock "${NEW_PINS[6]}"
second_key_while_ca_answers "${NEW_PINS[7]}"
wrong_record remote-challenge
wrong_record admin-pin

if [ -n "$daemon_pid" ]; then
    stop_ukeyd
    check "ukeyd stops cleanly at the end (exit 0, no sanitizer report)" test "$stop_rc" = 0
fi
test_no_secrets_logged
if [ "$failed" -ne 0 ]; then
    diag "ukeyd log (tail):"
    tail -n 40 "$work/ukeyd.log" | sed 's/^/#   /'
fi
done_testing
