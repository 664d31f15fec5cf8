#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-daemon.sh — ukeyd end to end: the daemon runs against the PC/SC
# rig (a private pcscd with two virtual PIV tokens, copies of the demo tokens)
# and curl exercises every route, guard and error of the API, the event
# stream, SIGHUP, SIGTERM, socket activation and sd_notify. It runs with
# logging at debug and ends by searching every log for the PINs it used.
#
# TAP on stdout. Everything is bounded in time (curl --max-time, bounded
# waits); every process it starts is stopped by PID.
set -u

# shellcheck source=tests/lib/ukeyd.sh
. "$(dirname "$0")/lib/ukeyd.sh"

ukeyd=$build/ukeyd
# UKEYD_WRAPPER prefixes every ukeyd that serves (not the option checks):
# tests/test-faults.sh runs this file with valgrind there. Split into words.
read -r -a wrapper <<<"${UKEYD_WRAPPER:-}"

readonly ORIGIN=https://portal.example.cn
readonly OTHER_ORIGIN=https://other.example.cn
readonly FOREIGN_ORIGIN=https://evil.example
# PINs: the demo tokens' PIN, a wrong one, and a new one for change. The
# leak check at the end searches the logs for each of them.
readonly PIN=123456
readonly WRONG_PIN=987650
readonly NEW_PIN=24681357
readonly CURL_MAX_S=10
readonly EVENT_WAIT_S=1          # an event must arrive this soon after the rig is done
readonly HEARTBEAT_S=2
readonly MAX_STREAMS=3
readonly PACING_MS=300
readonly EX_USAGE=64
readonly EX_CONFIG=78

need_tools curl ss openssl
[ -x "$ukeyd" ] || skip_all "no $ukeyd (build first)"
[ -x "$rig" ] || skip_all "no tests/rig/rig"
[ -f "$demo/sm2.state" ] && [ -f "$demo/rsa-ec.state" ] || skip_all "no demo tokens in $demo"

make_work daemon
cleanup() {
    lib_cleanup
    remove_work
}
trap cleanup EXIT

# --- the rig and the daemon ------------------------------------------------

start_rig || skip_all "the PC/SC rig did not start"

write_config() {   # ORIGIN...
    cat >"$work/ukeyd.conf" <<EOF
# written by tests/test-daemon.sh
[ukeyd]
origins = $*
log-level = debug
pin-pacing-ms = $PACING_MS
sse-heartbeat = $HEARTBEAT_S
max-sse-clients = $MAX_STREAMS
connection-timeout = 10
# CI has no logind and no console login: let every local account (root) in.
peer-policy = any-local
EOF
}

# Under a slow UKEYD_WRAPPER (valgrind) the first scan of the readers takes
# seconds after the first answer; the tests expect both tokens at once.
wait_for_wrapped() {   # BASE_URL
    local i
    [ ${#wrapper[@]} -eq 0 ] && return 0
    for ((i = 0; i < 3 * LIB_START_WAIT_TENTHS; i++)); do
        curl -s --max-time 5 "$1/v1/status" | tr -d ' \n' |
            grep -q '"pcscAvailable":true,"readerCount":2,"tokenCount":2' && return 0
        sleep 0.1
    done
    return 1
}

start_daemon() {
    start_ukeyd --also-v6 "$work/ukeyd.log" "${wrapper[@]}" "$ukeyd" --config "$work/ukeyd.conf" &&
        wait_for_wrapped "$base"
}

# --- requests ---------------------------------------------------------------

# Matches indented ("a": 1) and compact ("a":1) JSON alike.
body_has() { grep -qF -- "$1" "$work/body" || grep -qF -- "${1//\": /\":}" "$work/body"; }
# expect NAME STATUS [BODY-SUBSTRING...]
expect() {
    local name=$1 want=$2 s
    shift 2
    local good=0
    [ "$code" = "$want" ] || good=1
    for s in "$@"; do body_has "$s" || good=1; done
    ok $good "$name"
    [ $good -eq 0 ] || diag "got $code: $(head -c 400 "$work/body" | tr '\n' ' ')"
}
# Compact JSON (as a browser gets it) is one line: easy to pick members from.
compact() { req GET "$1" -H 'Sec-Fetch-Site: none'; }

# --- the tests --------------------------------------------------------------

test_options() {
    local out rc
    out=$("$ukeyd" --version 2>&1)
    check "--version prints the version" grep -q '^ukeyd [0-9]' <<<"$out"
    out=$("$ukeyd" --help 2>&1)
    check "--help lists --listen and --config" grep -q -- '--listen ADDR:PORT' <<<"$out"
    out=$("$ukeyd" --listen 0.0.0.0:17990 2>&1); rc=$?
    check "--listen 0.0.0.0 refused" test "$rc" -eq "$EX_USAGE"
    check "--listen 0.0.0.0 message says loopback" grep -q 'not a loopback address' <<<"$out"
    out=$("$ukeyd" --listen 192.168.7.7:17990 2>&1); rc=$?
    check "--listen LAN address refused" test "$rc" -eq "$EX_USAGE"
    printf '[ukeyd]\norigins = https://ok.example.cn\nmax-connections = lots\n' >"$work/bad.conf"
    out=$("$ukeyd" --config "$work/bad.conf" 2>&1); rc=$?
    check "bad config: exit code $EX_CONFIG" test "$rc" -eq "$EX_CONFIG"
    check "bad config: message names line and key" \
        grep -qF "bad.conf:3: max-connections: \"lots\"" <<<"$out"
    printf 'listen = 0.0.0.0:17990\n' >"$work/bad.conf"
    out=$("$ukeyd" --config "$work/bad.conf" 2>&1); rc=$?
    check "config listen on 0.0.0.0 refused, line named" \
        grep -qF 'bad.conf:1: listen: "0.0.0.0:17990" is not a loopback address' <<<"$out"
    out=$("$ukeyd" --config "$work/ukeyd.conf" --check-config 2>&1); rc=$?
    check "--check-config accepts the test config" test "$rc" -eq 0
    check "…with no warning: it allows an origin" bash -c "! grep -q '^warning:' <<<\"\$1\"" _ "$out"
    printf '[ukeyd]\nlog-level = debug\n' >"$work/no-origin.conf"
    out=$("$ukeyd" --config "$work/no-origin.conf" --check-config 2>&1); rc=$?
    check "--check-config with no origin: exit status 0, a warning is no error" test "$rc" -eq 0
    check "…and a warning line that no portal can use ukeyd" \
        grep -q '^warning: no origin is allowed: no portal can use ukeyd' <<<"$out"
    out=$("$ukeyd" --config "$top/docs/ukeyd.conf.example" --check-config 2>&1); rc=$?
    check "docs/ukeyd.conf.example is a valid configuration" test "$rc" -eq 0
}

find_tokens() {
    compact /v1/tokens
    tok0=$(grep -o "\"id\":\"[^\"]*\",\"reader\":\"$RIG_READER_0\"" "$work/body" | cut -d'"' -f4)
    tok1=$(grep -o "\"id\":\"[^\"]*\",\"reader\":\"$RIG_READER_1\"" "$work/body" | cut -d'"' -f4)
    check "token ids of both readers found ($tok0, $tok1)" test -n "$tok0" -a -n "$tok1"
}

test_reads() {
    req GET /v1/status
    expect "GET /v1/status" 200 '"pcscAvailable": true' '"readerCount": 2' '"tokenCount": 2'
    check "curl gets indented JSON" grep -q '^  "version": ' "$work/body"
    check "X-Request-Id header" hdr_has 'X-Request-Id: '
    check "Cache-Control: no-store" hdr_has 'Cache-Control: no-store'
    req GET /v1/readers
    expect "GET /v1/readers" 200 "\"name\": \"$RIG_READER_0\"" "\"name\": \"$RIG_READER_1\"" \
        '"cardPresent": true' '"atr": "3B'
    find_tokens
    req GET /v1/tokens
    expect "GET /v1/tokens" 200 '"edge": "PIV"' '"triesLeft": 3' '"keyType": "SM2"' \
        '"keyType": "RSA"' '"keyType": "EC"' '"commonName": "演示专用"'
    req GET "/v1/tokens/$tok0"
    expect "GET /v1/tokens/{id}" 200 "\"id\": \"$tok0\"" '"serial": "10000001"' \
        '"signatureAlgorithm": "SM3withSM2"' '"sm3": "' '"daysLeft": '
    req GET "/v1/tokens/$tok1/certificates"
    expect "GET …/certificates" 200 '"slot": "9a"' '"slot": "9c"' '"keyAlgorithm": "RSA-2048"'
    req GET "/v1/tokens/$tok0/certificates/9d"
    expect "GET …/certificates/{slot}" 200 '"slot": "9d"' '"label": "Key Management"'
    req GET "/v1/tokens/$tok0/certificates/9A"
    expect "slot names are case-insensitive" 200 '"slot": "9a"'
    req GET "/v1/tokens/$tok0/certificates/9a.pem"
    expect "GET ….pem" 200 '-----BEGIN CERTIFICATE-----'
    check ".pem is application/x-pem-file" hdr_has 'Content-Type: application/x-pem-file'
    check ".pem parses with openssl" openssl x509 -in "$work/body" -noout
    req GET "/v1/tokens/$tok1/certificates/9c.der"
    check "GET ….der 200" test "$code" = 200
    check ".der is application/pkix-cert" hdr_has 'Content-Type: application/pkix-cert'
    check ".der parses with openssl" openssl x509 -inform der -in "$work/body" -noout
    req GET "/v1/tokens/$tok0/certificates/9e"
    expect "empty slot: 404 CERTIFICATE_NOT_FOUND" 404 '"code": "CERTIFICATE_NOT_FOUND"'
    req GET /v1/tokens/piv-00000000000000000000000000000000
    expect "unknown token: 404 TOKEN_NOT_FOUND" 404 '"code": "TOKEN_NOT_FOUND"'
    req GET "/v1/tokens/$tok0/pin"
    expect "GET …/pin" 200 '"triesLeft": 3' '"blocked": false' '"minLength": ' '"charset": '
}

# The value of header NAME in $work/hdr, without the CR.
hdr_value() { tr -d '\r' <"$work/hdr" | sed -n "s/^$1: //Ip" | head -n 1; }

# What follows the blank line after the headers of a raw HEAD request, read
# until the daemon closes the connection: a body sent where none belongs.
head_raw_after_headers() {   # PATH
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'HEAD %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' \
        "$1" "$port" >&$fd
    timeout "$CURL_MAX_S" cat <&$fd | tr -d '\r' | sed '1,/^$/d'
    exec {fd}<&-
}

# Health checks use HEAD (curl -I): the GET answer's status and headers,
# Content-Length the size of the GET body, and no body.
test_head() {
    local path get_code get_len get_type
    for path in /v1/status "/v1/tokens/$tok0/certificates/9a.pem" /v1/nothing; do
        req GET "$path"
        get_code=$code get_len=$(stat -c %s "$work/body") get_type=$(hdr_value Content-Type)
        code=$(curl -s -I --max-time "$CURL_MAX_S" -o /dev/null -D "$work/hdr" \
            -w '%{http_code}' "$base$path")
        check "curl -I $path: the GET status ($get_code)" test "$code" = "$get_code"
        check "…Content-Length of the GET body ($get_len)" \
            test "$(hdr_value Content-Length)" = "$get_len"
        check "…the GET Content-Type" test "$(hdr_value Content-Type)" = "$get_type"
        check "…and no body after the headers" test -z "$(head_raw_after_headers "$path")"
    done
    code=$(curl -s -I --max-time "$CURL_MAX_S" -o /dev/null -D "$work/hdr" -w '%{http_code}' \
        "$base/v1/events")
    check "curl -I /v1/events: 200 with the stream's type" \
        test "$code" = 200 -a "$(hdr_value Content-Type)" = 'text/event-stream; charset=utf-8'
    code=$(curl -s -I --max-time "$CURL_MAX_S" -o /dev/null -D "$work/hdr" -w '%{http_code}' \
        "$base/v1/tokens/$tok0/pin/verify")
    check "HEAD on a POST route: 405, Allow without HEAD" \
        test "$code" = 405 -a "$(hdr_value Allow)" = 'POST, OPTIONS'
}

test_errors_and_guards() {
    req GET /v1/nothing
    expect "unknown route: 404 NOT_FOUND" 404 '"code": "NOT_FOUND"'
    check "problem+json content type" hdr_has 'Content-Type: application/problem+json'
    req DELETE /v1/tokens
    expect "wrong method: 405" 405 '"code": "METHOD_NOT_ALLOWED"'
    check "405 carries Allow: GET, HEAD, OPTIONS" hdr_has 'Allow: GET, HEAD, OPTIONS'
    req POST /v1/status
    expect "POST on a GET route: 405" 405
    req GET "/v1/tokens/$tok0/pin/verify"
    check "GET on a POST route: Allow: POST" hdr_has 'Allow: POST, OPTIONS'

    req GET /v1/nothing -H 'Accept-Language: en-US,en;q=0.9'
    expect "English with Accept-Language: en" 404 '"title": "Not found"'
    check "Content-Language: en" hdr_has 'Content-Language: en'
    req GET /v1/nothing
    expect "Chinese by default" 404 '"title": "接口不存在"'

    req GET /v1/status -H "Host: evil.example:$port"
    expect "rebinding Host: 403 HOST_FORBIDDEN" 403 '"code": "HOST_FORBIDDEN"'
    req GET /v1/status -H "Host: 127.0.0.1.nip.io:$port"
    expect "rebinding Host with a loopback-looking name: 403" 403 '"code": "HOST_FORBIDDEN"'
    req GET /v1/status -H "Host: localhost:$port"
    expect "Host localhost:PORT accepted" 200
    req GET /v1/status -H "Host: [::1]:$port"
    expect "Host [::1]:PORT accepted" 200
    req GET /v1/status -H "Host: 127.0.0.1:1"
    expect "Host with another port: 421" 421 '"code": "MISDIRECTED_REQUEST"'
    code=$(curl -s --max-time "$CURL_MAX_S" -o "$work/body" -w '%{http_code}' "http://[::1]:$port/v1/status")
    if [ "$code" = 000 ]; then ok 0 "# SKIP no IPv6 loopback"; else expect "GET over [::1]" 200; fi

    req GET /v1/status -H "Origin: $FOREIGN_ORIGIN"
    expect "foreign Origin: 403 ORIGIN_FORBIDDEN" 403 '"code": "ORIGIN_FORBIDDEN"'
    check "foreign Origin gets no CORS header" bash -c "! grep -qi 'Access-Control-Allow-Origin' '$work/hdr'"
    req GET /v1/status -H 'Origin: null'
    expect "Origin: null refused" 403 '"code": "ORIGIN_FORBIDDEN"'
    req GET /v1/status -H "Origin: $ORIGIN"
    expect "allow-listed Origin served" 200
    check "exact origin echoed" hdr_has "Access-Control-Allow-Origin: $ORIGIN"
    check "Vary: Origin" hdr_has 'Vary: Origin'
    check "browser gets compact JSON" test "$(wc -l <"$work/body")" -eq 1
    req GET /v1/status -H 'Sec-Fetch-Site: cross-site'
    expect "Sec-Fetch-Site: cross-site without Origin: 403" 403 '"code": "ORIGIN_FORBIDDEN"'
    req GET /v1/status -H 'Sec-Fetch-Site: same-site'
    expect "Sec-Fetch-Site: same-site without Origin: 403" 403 '"code": "ORIGIN_FORBIDDEN"'
    req GET /v1/status -H 'Sec-Fetch-Site: none'
    expect "Sec-Fetch-Site: none (typed URL) served" 200
    req GET /v1/status -H 'Sec-Fetch-Site: cross-site' -H "Origin: $ORIGIN"
    expect "cross-site from an allow-listed Origin served" 200

    # A refused POST must do nothing: the wrong PIN below would cost a try.
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$WRONG_PIN\"}" -H "Origin: $FOREIGN_ORIGIN"
    expect "POST from a foreign Origin: 403" 403 '"code": "ORIGIN_FORBIDDEN"'
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$WRONG_PIN\"}" -H 'Sec-Fetch-Site: cross-site'
    expect "POST with cross-site fetch metadata: 403" 403 '"code": "ORIGIN_FORBIDDEN"'
    req POST "/v1/tokens/$tok0/pin/verify" -H 'Content-Type: text/plain' \
        --data-binary "{\"pin\":\"$WRONG_PIN\"}"
    expect "text/plain POST: 415" 415 '"code": "UNSUPPORTED_MEDIA_TYPE"'
    req POST "/v1/tokens/$tok0/pin/verify" --data-binary "pin=$WRONG_PIN"
    expect "form POST: 415" 415 '"code": "UNSUPPORTED_MEDIA_TYPE"'
    req GET "/v1/tokens/$tok0/pin"
    expect "refused requests spent no PIN try" 200 '"triesLeft": 3'

    head -c 20000 /dev/zero | tr '\0' ' ' >"$work/big"
    req POST "/v1/tokens/$tok0/pin/verify" -H 'Content-Type: application/json' --data-binary @"$work/big"
    expect "oversized body: 413" 413 '"code": "PAYLOAD_TOO_LARGE"'
    req POST "/v1/tokens/$tok0/pin/verify" -H 'Content-Type: application/json' \
        -H 'Transfer-Encoding: chunked' --data-binary @"$work/big"
    expect "oversized chunked body: 413" 413 '"code": "PAYLOAD_TOO_LARGE"'
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$WRONG_PIN\""
    expect "malformed JSON: 400 naming the body" 400 '"code": "BAD_REQUEST"' '"field": "body"'
    check "malformed JSON: the body is not echoed" bash -c "! grep -qF '$WRONG_PIN' '$work/body'"
    post_json "/v1/tokens/$tok0/pin/verify" '["x"]'
    expect "JSON that is not an object: 400" 400 '"field": "body"'
    post_json "/v1/tokens/$tok0/pin/verify" '{}'
    expect "missing pin: 400 naming it" 400 '"field": "pin"' '"detail": "字段“pin”缺失。"'
    post_json "/v1/tokens/$tok0/pin/verify" '{"pin":123456}'
    expect "pin not a string: 400" 400 '"field": "pin"'
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$PIN\",\"confirmLastTry\":\"yes\"}"
    expect "confirmLastTry not a boolean: 400" 400 '"field": "confirmLastTry"'
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$PIN\",\"PIN\":\"x\"}"
    expect "unknown field: 400 naming it" 400 '"field": "PIN"'
    post_json "/v1/tokens/$tok0/pin/change" "{\"oldPin\":\"$PIN\"}"
    expect "change without newPin: 400" 400 '"field": "newPin"'
}

test_cors() {
    req OPTIONS "/v1/tokens/$tok0/pin/verify" -H "Origin: $ORIGIN" \
        -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type'
    check "preflight from an allow-listed origin: 204" test "$code" = 204
    check "preflight echoes the exact origin" hdr_has "Access-Control-Allow-Origin: $ORIGIN"
    check "preflight allows POST" hdr_has 'Access-Control-Allow-Methods: POST'
    check "preflight allows Content-Type" hdr_has 'Access-Control-Allow-Headers: Content-Type'
    check "preflight has a max-age" hdr_has 'Access-Control-Max-Age: '
    check "preflight allows private network" hdr_has 'Access-Control-Allow-Private-Network: true'
    check "preflight varies on Origin" hdr_has 'Vary: Origin'
    check "never a wildcard origin" bash -c "! grep -qi 'Access-Control-Allow-Origin: \\*' '$work/hdr'"
    req OPTIONS "/v1/tokens/$tok0/pin/verify" -H "Origin: $FOREIGN_ORIGIN" \
        -H 'Access-Control-Request-Method: POST'
    expect "preflight from a foreign origin: 403" 403 '"code": "ORIGIN_FORBIDDEN"'
    check "foreign preflight gets no CORS headers" bash -c "! grep -qi 'Access-Control-Allow' '$work/hdr'"
    req OPTIONS /v1/nothing -H "Origin: $ORIGIN" -H 'Access-Control-Request-Method: GET'
    expect "preflight for an unknown path: 404" 404
}

test_pin() {
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$PIN\"}"
    expect "verify the right PIN" 200 '"verified": true' '"triesLeft": 3'
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"12\"}"
    expect "PIN against policy: 422 before the card" 422 '"code": "PIN_POLICY"' '"field": "pin"'
    req GET "/v1/tokens/$tok0/pin"
    expect "policy refusal spent no try" 200 '"triesLeft": 3'
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$WRONG_PIN\"}" -H 'Accept-Language: en'
    expect "wrong PIN: 403 PIN_INCORRECT, 2 left" 403 '"code": "PIN_INCORRECT"' '"triesLeft": 2' \
        '2 tries left'
    check "the wrong PIN is not in the error" bash -c "! grep -qF '$WRONG_PIN' '$work/body'"
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$WRONG_PIN\"}"
    expect "wrong PIN again: 1 left" 403 '"code": "PIN_INCORRECT"' '"triesLeft": 1'
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$WRONG_PIN\"}"
    expect "last try refused without confirmLastTry: 428" 428 '"code": "PIN_LAST_TRY"' '"triesLeft": 1'
    post_json "/v1/tokens/$tok0/pin/change" "{\"oldPin\":\"$WRONG_PIN\",\"newPin\":\"$NEW_PIN\"}"
    expect "change on the last try refused too: 428" 428 '"code": "PIN_LAST_TRY"'
    req GET "/v1/tokens/$tok0/pin"
    expect "the last-try guard spent nothing" 200 '"triesLeft": 1'
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$PIN\",\"confirmLastTry\":true}"
    expect "last try with confirmLastTry and the right PIN" 200 '"verified": true' '"triesLeft": 3'

    post_json "/v1/tokens/$tok0/pin/change" "{\"oldPin\":\"$PIN\",\"newPin\":\"1\"}"
    expect "new PIN against policy: 422 naming newPin" 422 '"field": "newPin"'
    post_json "/v1/tokens/$tok0/pin/change" "{\"oldPin\":\"$WRONG_PIN\",\"newPin\":\"$NEW_PIN\"}"
    expect "change with a wrong old PIN: 403" 403 '"code": "PIN_INCORRECT"' '"triesLeft": 2'
    post_json "/v1/tokens/$tok0/pin/change" "{\"oldPin\":\"$PIN\",\"newPin\":\"$NEW_PIN\"}"
    expect "change the PIN" 200 '"changed": true' '"triesLeft": 3'
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$NEW_PIN\"}"
    expect "the new PIN verifies" 200 '"verified": true'

    # A new PIN anyone would guess is refused before the card: with a wrong
    # old PIN, a request that reached the card would cost a try.
    post_json "/v1/tokens/$tok0/pin/change" "{\"oldPin\":\"$WRONG_PIN\",\"newPin\":\"111111\"}"
    expect_json "new PIN 111111: 422 PIN_TOO_SIMPLE, rule repeated" 422 \
        "$(problem PIN_TOO_SIMPLE)" '.rule == "repeated"' '.field == "newPin"' '.detail | test("111111")'
    post_json "/v1/tokens/$tok0/pin/change" "{\"oldPin\":\"$WRONG_PIN\",\"newPin\":\"$PIN\"}" \
        -H 'Accept-Language: en'
    expect_json "back to the factory default $PIN: PIN_TOO_SIMPLE, rule sequence, in words" 422 \
        "$(problem PIN_TOO_SIMPLE)" '.rule == "sequence"' '.detail | test("run of digits")'
    post_json "/v1/tokens/$tok0/pin/change" "{\"oldPin\":\"$WRONG_PIN\",\"newPin\":\"123123\"}"
    expect_json "new PIN 123123: rule pattern" 422 "$(problem PIN_TOO_SIMPLE)" '.rule == "pattern"'
    post_json "/v1/tokens/$tok0/pin/change" "{\"oldPin\":\"$NEW_PIN\",\"newPin\":\"$NEW_PIN\"}"
    expect_json "new PIN the same as the old: 422 PIN_SAME_AS_OLD" 422 \
        "$(problem PIN_SAME_AS_OLD)" '.field == "newPin"' '.detail | test("原密码")'
    req GET "/v1/tokens/$tok0/pin"
    expect "refused new PINs left the token's tries untouched" 200 '"triesLeft": 3'
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$NEW_PIN\"}"
    expect "…and its PIN as it was" 200 '"verified": true'
    # The token keeps NEW_PIN from here on: it cannot go back to $PIN.
}

test_pin_blocked() {
    local i
    for i in 1 2 3; do
        post_json "/v1/tokens/$tok1/pin/verify" "{\"pin\":\"$WRONG_PIN\",\"confirmLastTry\":true}"
    done
    expect "third wrong PIN with confirmLastTry: blocked" 423 '"code": "PIN_BLOCKED"' '"triesLeft": 0'
    post_json "/v1/tokens/$tok1/pin/verify" "{\"pin\":\"$PIN\",\"confirmLastTry\":true}"
    expect "a blocked PIN stays blocked: 423" 423 '"code": "PIN_BLOCKED"'
    req GET "/v1/tokens/$tok1/pin"
    expect "PIN state says blocked" 200 '"blocked": true' '"triesLeft": 0'
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

open_stream() {   # FILE [CURL ARGS...]: starts curl -N in the background; pid in $stream_pid
    local file=$1
    shift
    curl -sN --max-time 60 "$@" "$base/v1/events" >"$file" 2>/dev/null &
    stream_pid=$!
    helper_pids+=("$stream_pid")
    wait_for_text "$file" ': ukeyd events' 5
}

close_stream() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

test_events() {
    local ev=$work/events.txt last_id
    check "event stream opens" open_stream "$ev" -H "Origin: $ORIGIN"
    local main_stream=$stream_pid

    "$rig" remove "$work/rig" 1 >/dev/null
    check "token-removed within ${EVENT_WAIT_S}s of the removal" \
        wait_for_text "$ev" 'event: token-removed' "$EVENT_WAIT_S"
    check "token-removed names the token" grep -qF "\"tokenId\":\"$tok1\"" "$ev"
    req GET "/v1/tokens/$tok1"
    expect "removed token: 404 TOKEN_NOT_FOUND" 404 '"code": "TOKEN_NOT_FOUND"'
    post_json "/v1/tokens/$tok1/pin/verify" "{\"pin\":\"$PIN\"}"
    expect "PIN on a removed token: 404 TOKEN_NOT_FOUND" 404 '"code": "TOKEN_NOT_FOUND"'

    "$rig" insert "$work/rig" 1 >/dev/null
    check "token-inserted within ${EVENT_WAIT_S}s of the insertion" \
        wait_for_text "$ev" 'event: token-inserted' "$EVENT_WAIT_S"
    req GET "/v1/tokens/$tok1"
    expect "re-inserted token is back with the same id" 200 "\"id\": \"$tok1\""

    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$WRONG_PIN\"}"
    check "pin-changed after a wrong PIN" wait_for_text "$ev" 'event: pin-changed' "$EVENT_WAIT_S"
    check "pin-changed carries triesLeft" grep -qF '"triesLeft":2' "$ev"
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$NEW_PIN\"}"
    check "heartbeat comment within $((HEARTBEAT_S + 1))s" \
        wait_for_text "$ev" ': heartbeat' $((HEARTBEAT_S + 1))

    # Replay: from the token-removed event on, the stream must repeat what followed.
    last_id=$(grep -B1 '^event: token-removed' "$ev" | sed -n 's/^id: //p' | tail -n 1)
    check "event ids are there ($last_id)" test -n "$last_id"
    check "Last-Event-ID replays what came after" \
        open_stream "$work/replay.txt" -H "Last-Event-ID: $last_id"
    local replay_stream=$stream_pid
    check "replay starts with the token-inserted event" \
        wait_for_text "$work/replay.txt" 'event: token-inserted' 2
    check "replay does not repeat the event named" \
        bash -c "! grep -q 'event: token-removed' '$work/replay.txt'"
    check "an unknown Last-Event-ID gets a resync" \
        open_stream "$work/resync.txt" -H 'Last-Event-ID: 00000000-5'
    local resync_stream=$stream_pid
    check "resync event sent" wait_for_text "$work/resync.txt" 'event: resync' 2

    # Three streams are open now: the cap.
    req GET /v1/events
    expect "a stream over the cap: 503 TOO_MANY_STREAMS" 503 '"code": "TOO_MANY_STREAMS"'
    close_stream "$replay_stream"
    close_stream "$resync_stream"
    events_stream=$main_stream
    events_file=$ev
}

test_removed_mid_request() {
    # Requests race a removal: each must answer with the token or a clean
    # "gone" code — never hang, never an internal error.
    local i bad=0 seen_gone=0
    "$rig" remove "$work/rig" 1 >/dev/null &
    local remover=$!
    for i in $(seq 1 30); do
        req GET "/v1/tokens/$tok1/pin"
        case "$code" in
        200) ;;
        404|409) seen_gone=1 ;;
        *) bad=1; diag "mid-removal answer $code: $(head -c 200 "$work/body")" ;;
        esac
    done
    wait "$remover"
    check "requests during a removal answer cleanly" test "$bad" -eq 0
    # Until the monitor has caught up the layer still knows the token and says
    # it was pulled (409); afterwards it does not know it (404). Both are true.
    req GET "/v1/tokens/$tok1/pin"
    case "$code" in
    404) expect "after the removal: 404 TOKEN_NOT_FOUND" 404 '"code": "TOKEN_NOT_FOUND"' ;;
    *) expect "after the removal: 409 TOKEN_REMOVED" 409 '"code": "TOKEN_REMOVED"' ;;
    esac
    "$rig" insert "$work/rig" 1 >/dev/null
    wait_for_text "$events_file" 'event: token-inserted' 2 >/dev/null
    [ "$seen_gone" -eq 1 ] || diag "the removal finished before any request saw it"
}

test_reload() {
    local before
    write_config "$OTHER_ORIGIN"
    before=$(grep -c 'event: ' "$events_file")
    kill -HUP "$daemon_pid"
    check "SIGHUP: reload logged" wait_for_text "$work/ukeyd.log" 'configuration reloaded' 5
    req GET /v1/status -H "Origin: $ORIGIN"
    expect "after reload the old origin is refused" 403 '"code": "ORIGIN_FORBIDDEN"'
    req GET /v1/status -H "Origin: $OTHER_ORIGIN"
    expect "after reload the new origin is served" 200
    check "new origin echoed" hdr_has "Access-Control-Allow-Origin: $OTHER_ORIGIN"

    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$NEW_PIN\"}"
    "$rig" remove "$work/rig" 1 >/dev/null
    check "the stream opened before SIGHUP still gets events" \
        wait_for_text "$events_file" 'event: token-removed' 1
    check "…new ones" test "$(grep -c 'event: ' "$events_file")" -gt "$before"
    "$rig" insert "$work/rig" 1 >/dev/null
    check "stream process still running" kill -0 "$events_stream"

    printf 'origins = https://x.example.cn/\n' >"$work/ukeyd.conf"
    kill -HUP "$daemon_pid"
    check "SIGHUP with a bad file: error logged" wait_for_text "$work/ukeyd.log" 'reload failed' 5
    req GET /v1/status -H "Origin: $OTHER_ORIGIN"
    expect "…and the running configuration stays" 200
    write_config "$ORIGIN"
    kill -HUP "$daemon_pid"
    sleep 0.3
}

test_shutdown() {
    local verify_pid rc
    post_json "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$NEW_PIN\"}"
    # The next PIN attempt waits for the pacing window: SIGTERM lands while
    # it is in flight, and it must still be answered.
    curl -s --max-time "$CURL_MAX_S" -o "$work/inflight" -w '%{http_code}' \
        -H 'Content-Type: application/json' --data-binary "{\"pin\":\"$NEW_PIN\"}" \
        "$base/v1/tokens/$tok0/pin/verify" >"$work/inflight.code" &
    verify_pid=$!
    sleep 0.1
    stop_ukeyd
    wait "$verify_pid"
    check "in-flight PIN verify answered during shutdown" grep -q '^200$' "$work/inflight.code"
    check "SIGTERM: clean exit (0, no sanitizer report)" test "$stop_rc" = 0
    check "the event stream ended with the daemon" bash -c "! kill -0 $events_stream 2>/dev/null"
    check "shutdown logged" grep -q 'stopped' "$work/ukeyd.log"
}

# Socket activation through systemd-socket-activate, with sd_notify going to
# a datagram socket of our own (socat) standing in for systemd.
test_socket_activation() {
    local sa_port sa_pid notify=$work/notify.sock notify_log=$work/notify.log socat_pid rc tool
    for tool in socat systemd-socket-activate; do
        if ! command -v "$tool" >/dev/null; then
            ok 1 "socket activation and sd_notify need $tool (build-aux/install-deps test)"
            return
        fi
    done
    sa_port=$(pick_port) || { ok 1 "free port for socket activation"; return; }
    socat -u "UNIX-RECV:$notify" "OPEN:$notify_log,creat,append" &
    socat_pid=$!
    helper_pids+=("$socat_pid")
    for ((rc = 0; rc < 50; rc++)); do [ -S "$notify" ] && break; sleep 0.05; done
    NOTIFY_SOCKET=$notify WATCHDOG_USEC=400000 systemd-socket-activate -l "127.0.0.1:$sa_port" \
        -E PCSCLITE_CSOCK_NAME -E NOTIFY_SOCKET -E WATCHDOG_USEC \
        -E ASAN_OPTIONS -E UBSAN_OPTIONS \
        "${wrapper[@]}" "$ukeyd" --config "$work/ukeyd.conf" >>"$work/ukeyd-activated.log" 2>&1 &
    sa_pid=$!
    daemon_pid=$sa_pid
    base=http://127.0.0.1:$sa_port
    check "socket-activated ukeyd answers" wait_for_status "$base"
    wait_for_wrapped "$base"
    req GET /v1/status -H "Host: 127.0.0.1:$sa_port"
    expect "…with the activated socket's port in the Host guard" 200 '"tokenCount": 2'
    check "activation logged" grep -q 'socket activation' "$work/ukeyd-activated.log"
    check "READY=1 on NOTIFY_SOCKET" wait_for_text "$notify_log" 'READY=1' 3
    check "STATUS= with readers and tokens" grep -q 'STATUS=2 readers, 2 tokens' "$notify_log"
    check "WATCHDOG=1 pings" wait_for_text "$notify_log" 'WATCHDOG=1' 2
    "$rig" remove "$work/rig" 1 >/dev/null
    check "STATUS= follows a removal" wait_for_text "$notify_log" 'STATUS=2 readers, 1 token' 2
    "$rig" insert "$work/rig" 1 >/dev/null
    stop_ukeyd
    check "activated ukeyd stops cleanly" test "$stop_rc" = 0
    check "STOPPING=1 on NOTIFY_SOCKET" wait_for_text "$notify_log" 'STOPPING=1' 2
    cat "$work/ukeyd-activated.log" >>"$work/ukeyd.log"

    # A unit that asks for a non-loopback socket is refused.
    sa_port=$(pick_port) || return
    systemd-socket-activate -l "0.0.0.0:$sa_port" -E PCSCLITE_CSOCK_NAME \
        -E ASAN_OPTIONS -E UBSAN_OPTIONS \
        "${wrapper[@]}" "$ukeyd" --config "$work/ukeyd.conf" >"$work/ukeyd-refused.log" 2>&1 &
    sa_pid=$!
    daemon_pid=$sa_pid
    sleep 0.2
    curl -s --max-time 3 -o /dev/null "http://127.0.0.1:$sa_port/v1/status"
    wait "$sa_pid"
    rc=$?
    daemon_pid=
    check "activation on 0.0.0.0 refused (exit $rc)" test "$rc" -ne 0
    check "…with a message saying loopback" grep -q 'non-loopback address' "$work/ukeyd-refused.log"
    cat "$work/ukeyd-refused.log" >>"$work/ukeyd.log"
}

test_no_secrets_logged() {
    local p found=0
    for p in "$PIN" "$WRONG_PIN" "$NEW_PIN"; do
        if grep -rqF -- "$p" "$work"/*.log; then
            found=1
            diag "PIN $p found in $(grep -rlF -- "$p" "$work"/*.log | tr '\n' ' ')"
        fi
    done
    check "debug logs hold none of the PINs used" test "$found" -eq 0
    check "the logs are at debug level" grep -q '^ukeyd debug: ' "$work/ukeyd.log"
}

write_config "$ORIGIN"
test_options
if ! start_daemon; then
    diag "ukeyd did not start:"
    sed 's/^/#   /' "$work/ukeyd.log"
    ok 1 "ukeyd starts against the rig"
    echo "1..$n"
    exit 1
fi
ok 0 "ukeyd starts against the rig on port $port"
test_reads
test_errors_and_guards
test_head
test_cors
test_pin
test_events
test_removed_mid_request
test_reload
test_pin_blocked
test_shutdown
test_socket_activation
test_no_secrets_logged
if [ "$failed" -ne 0 ]; then
    diag "ukeyd log (tail):"
    tail -n 40 "$work/ukeyd.log" | sed 's/^/#   /'
fi
done_testing
