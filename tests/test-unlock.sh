#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-unlock.sh — the remote unlock end to end: ukeyd against the PC/SC
# rig (copies of the demo tokens) and the reference CA service ukey-ca
# (seeded from those copies, so the PUKs agree), driven with curl the way a
# portal would. The free phone path, the paid path, the forgotten-phone path
# (review and unlock code), every refusal, a service that is down, slow or
# talks garbage, a token pulled before `complete`, and ukeyd killed with
# SIGKILL after the PIN reset and after the PUK change: in every case a later
# unlock must work and the new PIN must verify (through ukeyd and through
# OpenSC). Ends by searching every log and the journal for PINs, PUKs, codes
# and phone numbers.
#
# The demo policy (web-demo/README.md): token 0 (SM2) is charged, token 1
# (RSA/EC) is free. ukey-ca allows 5 SMS per token and hour, so the SMS
# below are counted (at most 4 per token); the other unlocks go through the
# review path, which has no such limit.
#
# TAP on stdout. Everything is bounded in time (curl --max-time, bounded
# waits); every process it starts is stopped by PID.
set -u

# shellcheck source=tests/lib/ukeyd.sh
. "$(dirname "$0")/lib/ukeyd.sh"
# shellcheck source=tests/lib/ca.sh
. "$(dirname "$0")/lib/ca.sh"

ukeyd=$build/ukeyd
ukey_ca=$build/ukey-ca
vtoken=$build/vtoken

readonly PIN=123456
readonly WRONG_PIN=987650
readonly NEW_PINS=(24681357 13572468 11223344 55667788 99887766 31415926 86420864)
readonly SM2_PHONE=13700001000
readonly RSA_PHONE=13900002000
readonly WRONG_PHONE=13900009999
readonly CURL_MAX_S=10
readonly CA_CONNECT_TIMEOUT_S=1
readonly CA_TIMEOUT_S=2
readonly SERVICE_FAIL_MAX_MS=5000     # a refusal for a dead or slow service arrives this soon
readonly CA_TIMEOUT_DEFAULT_S=15      # ukeyd's own ca-timeout, past the bound of an unlock start
readonly UNLOCK_STARTS=6              # more than the worker threads (4)
readonly UNLOCK_START_BOUND_MS=8000   # docs/api.md says 5 s; room for a loaded machine
readonly CARD_READ_MAX_MS=2000        # GET …/pin while the starts wait (a card read: ~100 ms)
readonly WAITERS_WAIT_TENTHS=50
readonly RESEND_S=2
# Long enough that the wrong codes below never race a code's life on a loaded
# machine; expiry is shown by ageing the code in the CA's database instead.
readonly CODE_TTL_S=300
readonly SESSION_TIMEOUT_S=2
readonly PACING_MS=100
readonly RECOVERY_WAIT_TENTHS=300          # covers one back-off of the recovery
readonly EX_CONFIG=78
readonly KILLED_BY_SIGKILL=137

need_tools curl jq ss openssl socat pkcs15-tool
for bin in "$ukeyd" "$ukey_ca" "$vtoken"; do
    [ -x "$bin" ] || skip_all "no $bin (build first)"
done
[ -x "$rig" ] || skip_all "no tests/rig/rig"
[ -r "$demo/tokens.env" ] || skip_all "no demo tokens in $demo"

make_work unlock
state=$work/state
SECRETS=("$PIN" "$WRONG_PIN" "${NEW_PINS[@]}")

cleanup() {
    lib_cleanup
    remove_work
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# kill returns before the process has stopped; a request in between would
# still be answered. Wait until the kernel says it is stopped (state T).
stop_process() {
    local pid=$1 i
    kill -STOP "$pid"
    for i in $(seq 1 100); do
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = T ] && return 0
        sleep 0.01
    done
    return 1
}

# --- the tokens, the rig and the CA service ----------------------------------

mkdir -p "$state"
copy_demo_tokens || { diag_file "$work/seed.log"; skip_all "make-demo-seed failed"; }
# shellcheck disable=SC1091
. "$work/demo/tokens.env"
SECRETS+=("$DEMO_SM2_PUK" "$DEMO_RSA_EC_PUK")

start_rig_with "$work/demo/sm2.state" "$work/demo/rsa-ec.state" ||
    skip_all "the PC/SC rig did not start"

start_ukey_ca "$work/demo/ca-seed.json" --sms-resend-seconds "$RESEND_S" \
    --code-ttl-seconds "$CODE_TTL_S" || { diag_file "$work/ukey-ca.log"; skip_all "ukey-ca did not start"; }

# --- ukeyd -------------------------------------------------------------------

write_config() {   # FILE CA-URL [MORE KEY = VALUE LINES...]
    local file=$1 url=$2
    shift 2
    {
        echo "# written by tests/test-unlock.sh"
        echo "[ukeyd]"
        echo "log-level = debug"
        echo "pin-pacing-ms = $PACING_MS"
        echo "# CI has no logind and no console login: let every local account (root) in."
        echo "peer-policy = any-local"
        echo "support-socket = none"
        echo "state-directory = $state"
        echo "ca-connect-timeout = $CA_CONNECT_TIMEOUT_S"
        echo "ca-timeout = $CA_TIMEOUT_S"
        [ -n "$url" ] && echo "ca-service-url = $url"
        printf '%s\n' "$@"
    } >"$file"
}

# start_daemon CONFIG [ENV=VALUE...]: ukeyd in the background, $daemon_pid, $base.
start_daemon() {
    local config=$1
    shift
    start_ukeyd "$work/ukeyd.log" env "$@" "$ukeyd" --config "$config"
}

restart_daemon() {   # CONFIG [ENV=VALUE...]: stops the running one cleanly first
    local config=$1
    shift
    if [ -n "$daemon_pid" ]; then
        stop_ukeyd
        check "ukeyd stops cleanly (exit 0, no sanitizer report)" test "$stop_rc" = 0
    fi
    start_daemon "$config" "$@"
}

# --- requests ------------------------------------------------------------------

jq_true() { jq -e "$@" >/dev/null 2>&1; }
# The CA service's database, behind its back (needs sqlite3).
ca_sql() { sqlite3 "$work/ca.db" "$@"; }
# The CA's SMS code CODE, past its life as if CODE_TTL_S had gone by.
age_sms_code() { ca_sql "UPDATE sms_codes SET expires_at = issued_at WHERE code = '$1'"; }
# The CA service's own demo API (never through ukeyd).
other_code() { printf '%06d' $(((10#$1 + 1) % 1000000)); }

# The CA's PUK records, when sqlite3 is there to read them: more secrets to look for.
note_ca_puks() {
    command -v sqlite3 >/dev/null || return 0
    local p
    while read -r p; do
        [ -n "$p" ] && SECRETS+=("$p")
    done < <(sqlite3 "$work/ca.db" \
        "SELECT puk FROM tokens UNION SELECT pending_puk FROM tokens WHERE pending_puk IS NOT NULL" \
        2>/dev/null)
}

token_of_reader() {   # READER -> its token id, from GET /v1/tokens
    req GET /v1/tokens
    jq -r --arg r "$1" '.tokens[] | select(.reader == $r) | .id' "$work/body"
}

block_pin() {   # TOKEN: three wrong PINs, the last one confirmed
    local i
    for i in 1 2 3; do
        post_json "/v1/tokens/$1/pin/verify" "{\"pin\":\"$WRONG_PIN\",\"confirmLastTry\":true}"
    done
}

open_session() {   # TOKEN: POST …/unlock; $sid
    post_json "/v1/tokens/$1/unlock" '{}'
    sid=$(field .sessionId)
}

# Pays the session's order through the demo API when the session says it is due.
pay_if_due() {
    local url
    req GET "/v1/unlock/$sid"
    [ "$(field .state)" = awaiting-payment ] || return 0
    url=$(field .paymentUrl)
    ca_post "/demo/api/orders/${url##*/}/pay" '{"invoice":{"title":"示例有限公司"}}' >/dev/null
}

send_sms() { post_json "/v1/unlock/$sid/sms" "{\"phone\":\"$1\"}"; }
verify_sms() { post_json "/v1/unlock/$sid/verify" "{\"smsCode\":\"$1\"}"; }
verify_unlock_code() { post_json "/v1/unlock/$sid/verify" "{\"unlockCode\":\"$1\"}"; }
complete() { post_json "/v1/unlock/$sid/complete" "{\"newPin\":\"$1\",\"confirmNewPin\":\"$1\"}"; }

# The forgotten-phone path: materials to the review URL, support approves,
# the user types the unlock code. $unlock_code.
upload_materials() {
    req GET "/v1/unlock/$sid"
    curl -s --max-time "$CURL_MAX_S" -o /dev/null -H 'Accept: application/json' \
        -F kind=id-copy -F "file=@$work/id-copy.png;type=image/png" "$(field .reviewUrl)/materials"
}
approve_review() {   # TOKEN
    local review
    review=$(ca_get /demo/api/reviews |
        jq -r --arg t "$1" '[.reviews[] | select(.tokenId == $t and .state == "pending")][0].reviewId')
    unlock_code=$(ca_post "/demo/api/reviews/$review/approve" | jq -r .unlockCode)
    SECRETS+=("$unlock_code")
}
prove_by_review() {   # TOKEN
    upload_materials
    approve_review "$1"
    verify_unlock_code "$unlock_code"
}

pin_verifies() {   # TOKEN PIN
    post_json "/v1/tokens/$1/pin/verify" "{\"pin\":\"$2\"}"
    [ "$code" = 200 ]
}

opensc_verifies() {   # READER PIN
    pkcs15-tool --reader "$1" --verify-pin --pin "$2" >"$work/p15.out" 2>&1
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

# --- the tests ------------------------------------------------------------------

test_config() {
    local out rc
    write_config "$work/bad.conf" "http://unlock.example.cn"
    out=$("$ukeyd" --config "$work/bad.conf" --check-config 2>&1); rc=$?
    check "plain http to another host: exit $EX_CONFIG" test "$rc" -eq "$EX_CONFIG"
    check "…the message names the key and says https" grep -q 'ca-service-url: .*must be an https://' <<<"$out"
    write_config "$work/bad.conf" "http://localhost:17991"
    "$ukeyd" --config "$work/bad.conf" --check-config >/dev/null 2>&1
    check "plain http to a name (not a loopback literal) refused" test $? -eq "$EX_CONFIG"
    write_config "$work/bad.conf" "http://127.0.0.1:80@unlock.example.cn/"
    out=$("$ukeyd" --config "$work/bad.conf" --check-config 2>&1); rc=$?
    check "a URL whose host hides behind user info refused" test "$rc" -eq "$EX_CONFIG"
    write_config "$work/bad.conf" "https://unlock.example.cn/v1" "ca-timeout = 0"
    "$ukeyd" --config "$work/bad.conf" --check-config >/dev/null 2>&1
    check "ca-timeout 0 refused" test $? -eq "$EX_CONFIG"
    write_config "$work/good.conf" "https://unlock.example.cn/v1" "unlock-session-timeout = 600"
    "$ukeyd" --config "$work/good.conf" --check-config >/dev/null 2>&1
    check "an https URL, timeouts and a state directory are accepted" test $? -eq 0
}

test_off() {
    local tok
    write_config "$work/off.conf" ""
    start_daemon "$work/off.conf" || { ok 1 "ukeyd without ca-service-url starts"; return; }
    tok=$(token_of_reader "$RIG_READER_1")
    post_json "/v1/tokens/$tok/unlock" '{}'
    expect_json "without ca-service-url: 503 UNLOCK_NOT_CONFIGURED" 503 "$(problem UNLOCK_NOT_CONFIGURED)"
    req GET /v1/unlock/uls-00000000000000000000000000000000
    expect_json "…on every unlock route" 503 "$(problem UNLOCK_NOT_CONFIGURED)"
    stop_ukeyd
    check "ukeyd without unlock stops cleanly" test "$stop_rc" = 0
}

test_free_phone_path() {
    block_pin "$tok1"
    expect_json "the free token's PIN is blocked first (3 wrong PINs)" 423 "$(problem PIN_BLOCKED)"
    open_session "$tok1"
    expect_json "open: 201, free, identity needed, masked phone, both methods" 201 \
        '.state == "awaiting-identity"' '.fee.required == false' '.paymentUrl == null' \
        '.maskedPhone == "139****2000"' '.methods == ["sms","review"]' \
        '.sessionId | startswith("uls-")' ".tokenId == \"$tok1\""
    check "the session never shows the CA's request id" body_lacks 'req-'
    check "…nor the full phone number" body_lacks "$RSA_PHONE"
    req GET "/v1/unlock/$sid"
    expect_json "GET the session" 200 '.state == "awaiting-identity"' ".sessionId == \"$sid\""
    send_sms "$RSA_PHONE"
    expect_json "sms to the registered phone: sent" 200 '.sent == true' ".resendAfter == $RESEND_S" \
        ".expiresIn == $CODE_TTL_S"
    sms_code=$(latest_code "$RSA_PHONE")
    SECRETS+=("$sms_code")
    check "the code is in the demo outbox ($sms_code)" test "${#sms_code}" -eq 6
    verify_sms "$sms_code"
    expect_json "verify the SMS code: authorized" 200 '.state == "authorized"'
    post_json "/v1/unlock/$sid/complete" "{\"newPin\":\"${NEW_PINS[0]}\",\"confirmNewPin\":\"${NEW_PINS[1]}\"}"
    expect_json "complete with a confirmation that differs: 400 confirmNewPin" 400 \
        "$(problem BAD_REQUEST)" '.field == "confirmNewPin"'
    post_json "/v1/unlock/$sid/complete" '{"newPin":"12"}'
    expect_json "a new PIN against the policy: 422 before anything" 422 "$(problem PIN_POLICY)" \
        '.field == "newPin"'
    complete 654321
    expect_json "a too simple new PIN: 422 PIN_TOO_SIMPLE before anything" 422 \
        "$(problem PIN_TOO_SIMPLE)" '.field == "newPin"' '.rule == "sequence"'
    check "…no PUK taken: the journal is empty" test "$(journal_records)" -eq 0
    complete "${NEW_PINS[0]}"
    expect_json "complete: PIN reset, PUK rotated, confirmed" 200 '.completed == true' '.triesLeft == 3'
    note_ca_puks
    check "the journal is empty afterwards" test "$(journal_records)" -eq 0
    check "the new PIN verifies through ukeyd" pin_verifies "$tok1" "${NEW_PINS[0]}"
    check "the new PIN verifies through OpenSC (pkcs15-tool)" \
        opensc_verifies "$RIG_READER_1" "${NEW_PINS[0]}"
    check "…and the old one does not" bash -c "! pkcs15-tool --reader '$RIG_READER_1' --verify-pin --pin '$PIN' >/dev/null 2>&1"
    req GET "/v1/unlock/$sid"
    expect_json "the session says completed" 200 '.state == "completed"'
    complete "${NEW_PINS[1]}"
    expect_json "complete again: 409 UNLOCK_STATE_CONFLICT naming the state" 409 \
        "$(problem UNLOCK_STATE_CONFLICT)" '.state == "completed"'
}

# Also the second unlock of the free token: the CA must hold the rotated PUK.
test_forgotten_phone_path() {
    open_session "$tok1"
    expect_json "a second unlock of the same token opens" 201 '.reviewUrl != null'
    upload_materials
    req GET "/v1/unlock/$sid"
    expect_json "materials uploaded: review-pending" 200 '.state == "review-pending"' \
        '.review.state == "pending"'
    approve_review "$tok1"
    check "support approves and gets a 6-digit unlock code" test "${#unlock_code}" -eq 6
    req GET "/v1/unlock/$sid"
    expect_json "the session says review-approved" 200 '.state == "review-approved"'
    verify_unlock_code "$(other_code "$unlock_code")"
    expect_json "a wrong unlock code: 403 CODE_INCORRECT, 4 attempts left" 403 \
        "$(problem CODE_INCORRECT)" '.attemptsLeft == 4'
    verify_unlock_code "$unlock_code"
    expect_json "the unlock code proves identity" 200 '.state == "authorized"'
    complete "${NEW_PINS[1]}"
    expect_json "complete with the rotated PUK" 200 '.completed == true'
    note_ca_puks
    check "the newer PIN verifies through ukeyd" pin_verifies "$tok1" "${NEW_PINS[1]}"
    check "…and through OpenSC" opensc_verifies "$RIG_READER_1" "${NEW_PINS[1]}"
}

test_paid_path() {
    local url
    open_session "$tok0"
    expect_json "open on the charged token: awaiting-payment, 30.00 CNY, payment link" 201 \
        '.state == "awaiting-payment"' '.fee.required == true' '.fee.amount == "30.00"' \
        '.fee.currency == "CNY"' '.fee.paid == false' '.paymentUrl | test("/pay/ord-")' \
        '.maskedPhone == "137****1000"'
    url=$(field .paymentUrl)
    send_sms "$SM2_PHONE"
    expect_json "sms before paying: 402 PAYMENT_REQUIRED" 402 "$(problem PAYMENT_REQUIRED)"
    verify_sms 123456
    expect_json "verify before paying: 402 PAYMENT_REQUIRED" 402 "$(problem PAYMENT_REQUIRED)"
    ca_post "/demo/api/orders/${url##*/}/pay" '{"invoice":{"title":"示例有限公司","taxNumber":"91110000000000000X"}}' >/dev/null
    req GET "/v1/unlock/$sid"
    expect_json "after the (simulated) payment: awaiting-identity, paid" 200 \
        '.state == "awaiting-identity"' '.fee.paid == true'
    prove_by_sms "$SM2_PHONE"
    expect_json "the SMS code proves identity" 200 '.state == "authorized"'
    complete "${NEW_PINS[2]}"
    expect_json "complete on the SM2 token" 200 '.completed == true'
    note_ca_puks
    check "the new PIN verifies through ukeyd" pin_verifies "$tok0" "${NEW_PINS[2]}"
    check "…and through OpenSC on the SM2 token" opensc_verifies "$RIG_READER_0" "${NEW_PINS[2]}"
}

test_refusals() {
    local i right
    open_session "$tok1"
    post_json "/v1/unlock/$sid/sms" '{"phone":"139-0000"}'
    expect_json "a phone that is not digits: 400 field phone, nothing sent" 400 \
        "$(problem BAD_REQUEST)" '.field == "phone"'
    check "…and not echoed" body_lacks '139-0000'
    send_sms "$WRONG_PHONE"
    expect_json "a wrong phone: 403 PHONE_MISMATCH" 403 "$(problem PHONE_MISMATCH)"
    check "…revealing nothing of the right number" body_lacks "$RSA_PHONE"
    check "…nor of the wrong one" body_lacks "$WRONG_PHONE"
    post_json "/v1/unlock/$sid/complete" "{\"newPin\":\"${NEW_PINS[3]}\"}"
    expect_json "complete before identity: 409 UNLOCK_STATE_CONFLICT" 409 \
        "$(problem UNLOCK_STATE_CONFLICT)" '.state == "awaiting-identity"'
    verify_sms 123456
    expect_json "verify before any SMS: 409 CODE_NOT_ISSUED" 409 "$(problem CODE_NOT_ISSUED)"
    # The free path sent this token an SMS moments ago; on a loaded machine
    # that may still be inside the CA's resend window, which is not what
    # this step tests.
    sleep "$RESEND_S"
    send_sms "$RSA_PHONE"
    expect_json "sms to the right phone" 200 '.sent == true'
    right=$(latest_code "$RSA_PHONE")
    SECRETS+=("$right")
    send_sms "$RSA_PHONE"
    expect_json "resend too soon: 429 RATE_LIMITED with retryAfter" 429 "$(problem RATE_LIMITED)" \
        '.retryAfter >= 1'
    check "…and a Retry-After header" hdr_has 'Retry-After: '
    verify_sms 12345
    expect_json "a 5-digit code: 400 field smsCode, no attempt spent" 400 '.field == "smsCode"'
    post_json "/v1/unlock/$sid/verify" '{"smsCode":"123456","unlockCode":"123456"}'
    expect_json "both codes at once: 400" 400 '.field == "unlockCode"'
    for i in 4 3 2 1; do
        verify_sms "$(other_code "$right")"
        expect_json "a wrong code: 403 CODE_INCORRECT, $i left" 403 "$(problem CODE_INCORRECT)" \
            ".attemptsLeft == $i"
    done
    verify_sms "$(other_code "$right")"
    expect_json "the fifth wrong code: 429 TOO_MANY_ATTEMPTS" 429 "$(problem TOO_MANY_ATTEMPTS)" \
        '.attemptsLeft == 0'
    verify_sms "$right"
    expect_json "then even the right code is refused (burnt)" 429 "$(problem TOO_MANY_ATTEMPTS)"
    sleep "$RESEND_S"
    send_sms "$RSA_PHONE"
    expect_json "a new SMS after the resend interval" 200 '.sent == true'
    right=$(latest_code "$RSA_PHONE")
    SECRETS+=("$right")
    age_sms_code "$right"
    verify_sms "$right"
    expect_json "a code past its life: 410 CODE_EXPIRED" 410 "$(problem CODE_EXPIRED)"
    req GET /v1/unlock/uls-fedcbafedcbafedcbafedcbafedcbafe
    expect_json "an unknown session: 404 UNLOCK_SESSION_NOT_FOUND" 404 "$(problem UNLOCK_SESSION_NOT_FOUND)"
    req GET /v1/unlock/req-not-a-session
    expect_json "a malformed session id: 404 as well" 404 "$(problem UNLOCK_SESSION_NOT_FOUND)"
    req GET "/v1/unlock/$sid" -H 'Accept-Language: en'
    expect_json "the session still answers" 200 '.state == "awaiting-identity"'
    open_session "$tok1"
    local second=$sid
    req GET "/v1/unlock/$second"
    expect_json "a new session for the token" 200
    post_json "/v1/tokens/$tok1/unlock" '{"phone":"x"}'
    expect_json "open takes no members: 400" 400 '.field == "phone"'
}

# --- a CA whose PUK record is wrong (a bug, a restored backup) -------------------

puk_tries_on_card() { sed -n 's/^puk-tries-left=//p' "$work/demo/rsa-ec.state"; }
# The CA's record of the free token's PUK, changed behind the service's back.
set_ca_puk() { ca_sql "UPDATE tokens SET puk = '$1' WHERE id = '$tok1'"; SECRETS+=("$1"); }
ca_reports() { ca_sql "SELECT count(*) FROM puk_reports WHERE token_id = '$tok1' AND problem = '$1'"; }
ca_rotation_state() { ca_sql "SELECT state FROM rotations WHERE token_id = '$tok1' ORDER BY rowid DESC LIMIT 1"; }
proven_session() {   # a new session on the free token, identity proven
    open_session "$tok1"
    prove_by_review "$tok1"
}

# A wrong PUK record costs the card one try per unlock at most, never the
# last one; the CA is told and hands out no pair until its record changes;
# a resumed pair tries only the PUK on record.
test_wrong_puk_record() {
    local right rid
    command -v sqlite3 >/dev/null || { ok 1 "sqlite3 is installed (build-aux/install-deps test)"; return; }
    right=$(ca_sql "SELECT puk FROM tokens WHERE id = '$tok1'")
    check "the card's PUK has 3 tries" test "$(puk_tries_on_card)" = 3
    set_ca_puk 87654320
    proven_session
    expect_json "identity proven on a token whose PUK record is wrong" 200 '.state == "authorized"'
    complete "${NEW_PINS[3]}"
    expect_json "complete: 409 UNLOCK_RECORD_MISMATCH" 409 "$(problem UNLOCK_RECORD_MISMATCH)"
    check "…after one PUK try (2 left)" test "$(puk_tries_on_card)" = 2
    check "the CA recorded the report" test "$(ca_reports puk-incorrect)" = 1
    check "…and the rotation was settled unchanged" test "$(ca_rotation_state)" = unchanged
    check "the journal is empty" test "$(journal_records)" -eq 0
    complete "${NEW_PINS[3]}"
    expect_json "the session is over: no second try in it" 410 "$(problem UNLOCK_SESSION_EXPIRED)"
    proven_session
    complete "${NEW_PINS[3]}"
    expect_json "a new session: the CA hands out no pair while its record is in doubt" 409 \
        "$(problem UNLOCK_RECORD_MISMATCH)"
    check "…and no PUK try was spent (2 left)" test "$(puk_tries_on_card)" = 2

    # Support "corrects" the record, wrongly again; meanwhile another machine
    # (or one that lost its journal) has taken a pair for the token.
    set_ca_puk 87654321
    proven_session
    rid=$(ca_sql "SELECT id FROM requests WHERE token_id = '$tok1' AND state = 'authorized' ORDER BY rowid DESC LIMIT 1")
    check "another client took a pair" \
        jq_true '.resumed == false' <(curl -s --max-time "$CURL_MAX_S" -X POST "$CA/unlock/v1/requests/$rid/authorize")
    complete "${NEW_PINS[3]}"
    expect_json "complete with the resumed pair: 409 UNLOCK_RECORD_MISMATCH" 409 \
        "$(problem UNLOCK_RECORD_MISMATCH)"
    check "…after one PUK try, not one for each PUK of the pair (1 left)" \
        test "$(puk_tries_on_card)" = 1
    check "the rotation stays pending at the CA (the card might hold nextPuk)" \
        test "$(ca_rotation_state)" = pending

    set_ca_puk 87654322
    proven_session
    complete "${NEW_PINS[3]}"
    expect_json "with one PUK try left: 423 PUK_LAST_TRY, the card not asked" 423 \
        "$(problem PUK_LAST_TRY)" '.triesLeft == 1'
    check "…and the card keeps its last PUK try" test "$(puk_tries_on_card)" = 1
    check "…and the rotation is still pending" test "$(ca_rotation_state)" = pending

    # The CA sets its record right, and the counter is restored with the right PUK in person.
    set_ca_puk "$right"
    check "the right PUK restores the card's counter (yubico-piv-tool)" \
        yubico-piv-tool -r "$RIG_READER_1" -a change-puk -P "$right" -N "$right"
    check "…to 3" test "$(puk_tries_on_card)" = 3
    proven_session
    complete "${NEW_PINS[3]}"
    expect_json "with the record right, the unlock completes" 200 '.completed == true'
    note_ca_puks
    check "the pending rotation was finished, rotated" test "$(ca_rotation_state)" = rotated
    check "the new PIN verifies" pin_verifies "$tok1" "${NEW_PINS[3]}"
}

test_token_removed() {
    local reader_index=1
    open_session "$tok1"
    prove_by_sms "$RSA_PHONE"
    expect_json "identity proven before the token is pulled" 200 '.state == "authorized"'
    "$rig" remove "$work/rig" "$reader_index" >/dev/null
    sleep 0.5
    complete "${NEW_PINS[3]}"
    expect_json "complete with the token pulled: 409 TOKEN_REMOVED" 409 "$(problem TOKEN_REMOVED)"
    check "…and nothing was journalled" test "$(journal_records)" -eq 0
    "$rig" insert "$work/rig" "$reader_index" >/dev/null
    check "the token is back" wait_for_token "$tok1"
    complete "${NEW_PINS[3]}"
    expect_json "a later complete in the same session works" 200 '.completed == true'
    note_ca_puks
    check "the new PIN verifies" pin_verifies "$tok1" "${NEW_PINS[3]}"
}

test_service_slow() {
    local t0 elapsed
    open_session "$tok1"
    expect_json "a session to poll" 201
    stop_process "$ca_pid"
    t0=$(now_ms)
    req GET "/v1/unlock/$sid"
    elapsed=$(($(now_ms) - t0))
    expect_json "a service that accepts and never answers: 503 UNLOCK_SERVICE_UNAVAILABLE" 503 \
        "$(problem UNLOCK_SERVICE_UNAVAILABLE)"
    check "…within the timeout (${elapsed} ms)" test "$elapsed" -lt "$SERVICE_FAIL_MAX_MS"
    t0=$(now_ms)
    open_session "$tok1"
    elapsed=$(($(now_ms) - t0))
    expect_json "opening against the stalled service: 503" 503 "$(problem UNLOCK_SERVICE_UNAVAILABLE)"
    check "…within the timeout (${elapsed} ms)" test "$elapsed" -lt "$SERVICE_FAIL_MAX_MS"
    kill -CONT "$ca_pid"
}

# Established connections from ukeyd to the CA service's port.
ca_waiters() {
    local ca_port=${CA##*:}
    ca_port=${ca_port%%/*}
    ss -Htn state established "( dport = :$ca_port )" | wc -l
}

# Unlock starts against a service that hangs (with ukeyd's default
# ca-timeout): each answers within its own bound, and card reads, on a pool
# the CA's waits never hold, answer meanwhile.
test_unlock_start_bounded() {
    local i t0 elapsed pids=() result slow=0 unavailable=0
    sed "s/^ca-timeout = .*/ca-timeout = $CA_TIMEOUT_DEFAULT_S/" "$work/ukeyd.conf" \
        >"$work/ukeyd-patient.conf"
    restart_daemon "$work/ukeyd-patient.conf" || { ok 1 "ukeyd starts with ca-timeout 15"; return; }
    stop_process "$ca_pid"
    for ((i = 0; i < UNLOCK_STARTS; i++)); do
        (
            t0=$(now_ms)
            c=$(curl -s --max-time "$((CA_TIMEOUT_DEFAULT_S + 5))" -o "$work/start-$i.json" \
                -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary '{}' \
                "$base/v1/tokens/$tok1/unlock")
            echo "$c $(($(now_ms) - t0))" >"$work/start-$i.result"
        ) &
        pids+=($!)
    done
    for ((i = 0; i < WAITERS_WAIT_TENTHS; i++)); do
        [ "$(ca_waiters)" -ge 4 ] && break
        sleep 0.1
    done
    check "$UNLOCK_STARTS unlock starts wait on the hanging service" test "$(ca_waiters)" -ge 4
    t0=$(now_ms)
    req GET "/v1/tokens/$tok1/pin"
    elapsed=$(($(now_ms) - t0))
    expect_json "…meanwhile GET …/pin answers" 200 '.triesLeft >= 0'
    check "…promptly (${elapsed} ms)" test "$elapsed" -lt "$CARD_READ_MAX_MS"
    wait "${pids[@]}"
    kill -CONT "$ca_pid"
    for ((i = 0; i < UNLOCK_STARTS; i++)); do
        result=$(cat "$work/start-$i.result" 2>/dev/null)
        [ "${result%% *}" = 503 ] && jq -e "$(problem UNLOCK_SERVICE_UNAVAILABLE)" \
            "$work/start-$i.json" >/dev/null 2>&1 && unavailable=$((unavailable + 1))
        [ -n "$result" ] && [ "${result##* }" -lt "$UNLOCK_START_BOUND_MS" ] || slow=1
        diag "unlock start $i: ${result:-no answer}"
    done
    check "every start: 503 UNLOCK_SERVICE_UNAVAILABLE" test "$unavailable" -eq "$UNLOCK_STARTS"
    check "…each within the start's bound, not ca-timeout" test "$slow" -eq 0
    restart_daemon "$work/ukeyd.conf" || ok 1 "ukeyd starts again"
}

# The script behind a fake service: answers every request with the status
# line and body of $GARBAGE_ANSWER, whatever was asked.
write_answering_script() {
    cat >"$work/garbage.sh" <<'EOF'
#!/usr/bin/env bash
export LC_ALL=C
len=0
while IFS= read -r line; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
    case "${line,,}" in content-length:*) len=${line#*:}; len=${len//[!0-9]/} ;; esac
done
[ "${len:-0}" -gt 0 ] && head -c "$len" >/dev/null
status=$(head -n 1 "$GARBAGE_ANSWER")
body=$(tail -n +2 "$GARBAGE_ANSWER")
printf 'HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$status" "${#body}" "$body"
EOF
    export GARBAGE_ANSWER=$work/garbage.answer
}

# A plain-HTTP fake service on $garbage_port.
start_garbage_service() {
    write_answering_script
    garbage_port=$(pick_port) || return 1
    socat "TCP-LISTEN:$garbage_port,bind=127.0.0.1,reuseaddr,fork" \
        "EXEC:bash $work/garbage.sh" 2>>"$work/socat.log" &
    helper_pids+=($!)
}

# An HTTPS fake service with a self-signed certificate for 127.0.0.1 on $tls_port.
start_tls_service() {
    write_answering_script
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$work/tls.key" -out "$work/tls.pem" >/dev/null 2>&1 || return 1
    tls_port=$(pick_port) || return 1
    socat "OPENSSL-LISTEN:$tls_port,bind=127.0.0.1,reuseaddr,fork,cert=$work/tls.pem,key=$work/tls.key,verify=0" \
        "EXEC:bash $work/garbage.sh" 2>>"$work/socat.log" &
    helper_pids+=($!)
}

readonly GOOD_OPEN_ANSWER='{"requestId":"req-0f0e0d0c0b0a09080706050403020100","state":"awaiting-payment","fee":{"required":true,"amount":"30.00","currency":"CNY","paid":false},"paymentUrl":"https://unlock.example.cn/pay/ord-1","maskedPhone":"137****1000","methods":["sms","review"],"reviewUrl":"https://unlock.example.cn/review/rvt-1","review":null,"expiresAt":"2030-01-01T00:00:00Z"}'

# TLS is verified: against the system's trust store a self-signed service is
# refused; with it in ca-bundle the same service is used.
test_tls() {
    start_tls_service || { ok 1 "an HTTPS fake service starts"; return; }
    printf '201 Created\n%s' "$GOOD_OPEN_ANSWER" >"$work/garbage.answer"
    write_config "$work/tls.conf" "https://127.0.0.1:$tls_port"
    restart_daemon "$work/tls.conf" || { ok 1 "ukeyd starts against an HTTPS service"; return; }
    post_json "/v1/tokens/$tok1/unlock" '{}'
    expect_json "a certificate the trust store does not know: 503 UNLOCK_SERVICE_UNAVAILABLE" 503 \
        "$(problem UNLOCK_SERVICE_UNAVAILABLE)"
    check "…and the log says it was the certificate" grep -qi 'unlock service: .*certificate' \
        "$work/ukeyd.log"
    write_config "$work/tls.conf" "https://127.0.0.1:$tls_port" "ca-bundle = $work/tls.pem"
    restart_daemon "$work/tls.conf" || { ok 1 "ukeyd starts with a ca-bundle"; return; }
    post_json "/v1/tokens/$tok1/unlock" '{}'
    expect_json "the same service with its certificate in ca-bundle: served over TLS" 201 \
        '.state == "awaiting-payment"' '.paymentUrl == "https://unlock.example.cn/pay/ord-1"'
    check "…and its request id stays inside ukeyd" body_lacks 'req-0f0e0d0c'
}

garbage_case() {   # NAME STATUS-LINE BODY
    printf '%s\n%s' "$2" "$3" >"$work/garbage.answer"
    post_json "/v1/tokens/$tok1/unlock" '{}'
    expect_json "a service answering $1: 503 UNLOCK_SERVICE_UNAVAILABLE" 503 \
        "$(problem UNLOCK_SERVICE_UNAVAILABLE)"
}

test_service_down_and_garbage() {
    local dead t0 elapsed
    dead=$(pick_port) || { ok 1 "a free port for a dead service"; return; }
    write_config "$work/dead.conf" "http://127.0.0.1:$dead"
    restart_daemon "$work/dead.conf" || { ok 1 "ukeyd starts against a dead service"; return; }
    t0=$(now_ms)
    post_json "/v1/tokens/$tok1/unlock" '{}'
    elapsed=$(($(now_ms) - t0))
    expect_json "a service that is down: 503 UNLOCK_SERVICE_UNAVAILABLE" 503 \
        "$(problem UNLOCK_SERVICE_UNAVAILABLE)"
    check "…at once (${elapsed} ms)" test "$elapsed" -lt "$SERVICE_FAIL_MAX_MS"

    start_garbage_service || { ok 1 "a port for the garbage service"; return; }
    write_config "$work/garbage.conf" "http://127.0.0.1:$garbage_port"
    restart_daemon "$work/garbage.conf" || { ok 1 "ukeyd starts against a garbage service"; return; }
    garbage_case "text that is not JSON" "201 Created" "this is not JSON"
    garbage_case "JSON of the wrong shape" "201 Created" '{"requestId":42,"state":"authorized"}'
    garbage_case "a request id that is no id" "201 Created" \
        '{"requestId":"../../x","state":"awaiting-identity","fee":{"required":false,"amount":"0.00","currency":"CNY","paid":false},"paymentUrl":null,"maskedPhone":"139****2000","methods":["sms"],"reviewUrl":null,"review":null,"expiresAt":"2030-01-01T00:00:00Z"}'
    garbage_case "a javascript: payment link" "201 Created" \
        '{"requestId":"req-1","state":"awaiting-payment","fee":{"required":true,"amount":"30.00","currency":"CNY","paid":false},"paymentUrl":"javascript:alert(1)","maskedPhone":"137****1000","methods":["sms"],"reviewUrl":null,"review":null,"expiresAt":"2030-01-01T00:00:00Z"}'
    garbage_case "500 with a problem" "500 Internal Server Error" '{"code":"INTERNAL"}'
    garbage_case "a problem code it does not know" "418 I'm a teapot" '{"code":"TEAPOT"}'
    garbage_case "a redirect" "302 Found" '{}'
    check "the service failures are logged as warnings" grep -q 'unlock service: POST /requests' "$work/ukeyd.log"
}

test_session_expiry() {
    write_config "$work/short.conf" "$CA" "unlock-session-timeout = $SESSION_TIMEOUT_S"
    restart_daemon "$work/short.conf" || { ok 1 "ukeyd starts with short sessions"; return; }
    open_session "$tok1"
    expect_json "a session with a short life" 201
    sleep $((SESSION_TIMEOUT_S + 1))
    req GET "/v1/unlock/$sid"
    expect_json "unused past unlock-session-timeout: 410 UNLOCK_SESSION_EXPIRED" 410 \
        "$(problem UNLOCK_SESSION_EXPIRED)"
    send_sms "$RSA_PHONE"
    expect_json "…for every route of it" 410 "$(problem UNLOCK_SESSION_EXPIRED)"
}

# Restarted while the CA service is stalled, ukeyd keeps the record, refuses
# new attempts on the token, and finishes when the service is back.
restart_with_service_stalled() {   # STEP
    local step=$1
    stop_process "$ca_pid"
    start_daemon "$work/ukeyd.conf" || { kill -CONT "$ca_pid"; return 1; }
    sleep $((CA_TIMEOUT_S + 1))
    check "[$step] with the service stalled the record stays" test "$(journal_records)" -eq 1
    post_json "/v1/tokens/$tok0/unlock" '{}'
    expect_json "[$step] …and a new unlock of the token: 503 UNLOCK_SERVICE_UNAVAILABLE" 503 \
        "$(problem UNLOCK_SERVICE_UNAVAILABLE)"
    kill -CONT "$ca_pid"
    check "[$step] retry with back-off logged" grep -q 'a rotation is pending; retrying in' \
        "$work/ukeyd.log"
}

# Restarted while the token is out, ukeyd keeps the record until the token is
# plugged in again, and then finishes at once.
restart_with_token_out() {   # STEP
    local step=$1
    "$rig" remove "$work/rig" 0 >/dev/null
    start_daemon "$work/ukeyd.conf" || { "$rig" insert "$work/rig" 0 >/dev/null; return 1; }
    sleep 1
    check "[$step] with the token out the record stays" test "$(journal_records)" -eq 1
    "$rig" insert "$work/rig" 0 >/dev/null
}

# ukeyd killed with SIGKILL right after STEP; restarted (with the CA service
# stalled, or the token out, or neither), it must finish the rotation by
# itself, and a later unlock must work.
test_crash_after() {   # STEP PIN-BEFORE-CRASH PIN-AFTER [stalled|token-out]
    local step=$1 crash_pin=$2 later_pin=$3 how=${4:-} rc record
    restart_daemon "$work/ukeyd.conf" UKEYD_TEST_CRASH_AFTER="$step" ||
        { ok 1 "ukeyd starts with the crash hook"; return; }
    [ "$step" = pin-reset ] && block_pin "$tok0"
    open_session "$tok0"
    pay_if_due
    prove_by_review "$tok0"
    expect_json "[$step] identity proven" 200 '.state == "authorized"'
    complete "$crash_pin"
    check "[$step] complete gets no answer: ukeyd died" test "$code" = 000
    wait "$daemon_pid" 2>/dev/null
    rc=$?
    daemon_pid=
    check "[$step] ukeyd was killed by SIGKILL (exit $rc)" test "$rc" -eq "$KILLED_BY_SIGKILL"
    record=$(find "$state/unlock" -maxdepth 1 -name '*.json' | head -n 1)
    check "[$step] one journal record is left" test "$(journal_records)" -eq 1
    check "[$step] it names the step, the token and the rotation" \
        jq_true --arg s "$step" --arg t "$tok0" \
        '.step == $s and .tokenId == $t and (.rotationId | startswith("rot-"))' "$record"
    note_ca_puks
    local secret leaked=0
    for secret in "${SECRETS[@]}"; do holds_secret "$secret" "$record" && leaked=1; done
    check "[$step] the record holds no PIN, PUK or code" test "$leaked" -eq 0
    check "[$step] the record is readable by its owner only" \
        test "$(stat -c %a "$record")" = 600
    case "$how" in
    stalled) restart_with_service_stalled "$step" ;;
    token-out) restart_with_token_out "$step" ;;
    *) start_daemon "$work/ukeyd.conf" ;;
    esac || { ok 1 "[$step] ukeyd restarts"; return; }
    check "[$step] the restarted ukeyd finishes the rotation by itself" wait_for_empty_journal
    check "[$step] recovery logged" grep -q "recovering rotation rot-.* from step $step" "$work/ukeyd.log"
    check "[$step] the PIN set before the crash verifies" pin_verifies "$tok0" "$crash_pin"
    open_session "$tok0"
    pay_if_due
    prove_by_review "$tok0"
    expect_json "[$step] a later unlock: identity proven" 200 '.state == "authorized"'
    complete "$later_pin"
    expect_json "[$step] a later unlock completes (the CA's PUK record is true)" 200 '.completed == true'
    note_ca_puks
    check "[$step] the later PIN verifies through ukeyd" pin_verifies "$tok0" "$later_pin"
    check "[$step] …and through OpenSC" opensc_verifies "$RIG_READER_0" "$later_pin"
}

test_no_secrets_logged() {
    local s found=0
    for s in "${SECRETS[@]}" "$SM2_PHONE" "$RSA_PHONE" "$WRONG_PHONE"; do
        [ -n "$s" ] && [ "$s" != null ] || continue
        if holds_secret "$s" "$work/ukeyd.log"; then
            found=1
            diag "secret $s found in the ukeyd log"
        fi
    done
    check "the ukeyd log holds no PIN, PUK, code or phone number (${#SECRETS[@]} secrets)" \
        test "$found" -eq 0
    check "the log is at debug level" grep -q '^ukeyd debug: ' "$work/ukeyd.log"
    check "rotation ids appear only shortened in the log" \
        bash -c "! grep -qE 'rot-[0-9a-f]{9,}' '$work/ukeyd.log'"
}

# --- run -------------------------------------------------------------------------

# A PNG's signature, then noise: ukey-ca takes images and PDFs by their first bytes.
{ printf '\x89PNG\r\n\x1a\n'; head -c 3000 /dev/urandom; } >"$work/id-copy.png"
test_config
test_off
write_config "$work/ukeyd.conf" "$CA"
if ! start_daemon "$work/ukeyd.conf"; then
    diag "ukeyd did not start:"
    sed 's/^/#   /' "$work/ukeyd.log"
    ok 1 "ukeyd starts against the rig and ukey-ca"
    echo "1..$n"
    exit 1
fi
ok 0 "ukeyd starts against the rig and ukey-ca ($CA)"
tok0=$(token_of_reader "$RIG_READER_0")
tok1=$(token_of_reader "$RIG_READER_1")
check "both tokens found ($tok0, $tok1)" test -n "$tok0" -a -n "$tok1"

test_free_phone_path
test_forgotten_phone_path
test_paid_path
test_wrong_puk_record
test_refusals
test_token_removed
test_service_slow
test_unlock_start_bounded
test_session_expiry
test_service_down_and_garbage
test_tls
test_crash_after pin-reset "${NEW_PINS[4]}" "${NEW_PINS[5]}" token-out
test_crash_after puk-changed "${NEW_PINS[6]}" "${NEW_PINS[0]}" stalled
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
