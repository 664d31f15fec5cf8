#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-environment.sh — GET /v1/environment and POST
# /v1/environment/repair end to end: ukeyd runs against the PC/SC rig (the
# two demo tokens, plus a third whose certificates have expired or expire in
# ten days) and against fake CA services made with socat: one that answers
# the health endpoint with a Date as skewed as asked, one behind TLS, one that
# accepts connections and never answers, and a closed port.
#
# What it shows: everything ok; pcscd stopped → pcsc.service fails with a
# hint, and the repair (pcscd-restart-command → `rig start-pcscd`) brings it
# back; tokens removed → warn; an expired certificate → fail; the CA service
# unreachable, hanging (the answer still comes within 3 s), skewed, behind
# TLS, or announcing a newer ukeyd → the network, clock and system checks say
# so; a missing CCID driver → the repair gives the install command.
#
# TAP on stdout. Everything is bounded in time; every process it starts is
# stopped by PID (socat servers by their own process group).
set -u

# shellcheck source=tests/lib/ukeyd.sh
. "$(dirname "$0")/lib/ukeyd.sh"

ukeyd=$build/ukeyd
vtoken=$build/vtoken

readonly ORIGIN=https://portal.example.cn
readonly FOREIGN_ORIGIN=https://evil.example
readonly BOUND_MS=3000            # the whole check answers within this, whatever the CA does
readonly SHORT_TIMEOUT_MS=1000    # environment-timeout-ms for the "configurable" case
readonly SHORT_BOUND_MS=1500
readonly CURL_MAX_S=60            # a repair may wait for pcscd; never for ever
readonly SKEW_FAIL_S=400          # beyond the 300 s failure limit
readonly SKEW_WARN_S=120          # between the 60 s and 300 s limits
readonly SKEW_OK_S=2              # what a round trip on loopback can show
readonly EXPIRING_DAYS=10
readonly USER_TZ=Asia/Shanghai     # ukeyd runs in it: users read +08:00, JSON stays UTC
readonly EXPIRED_SERIAL=10000099
readonly PIN=123456
readonly PUK=12345678
readonly NEWER_VERSION=99.0.0
readonly RELOAD_WAIT_TENTHS=50

need_tools curl ss openssl socat jq setsid
[ -x "$ukeyd" ] && [ -x "$vtoken" ] || skip_all "no $ukeyd or $vtoken (build first)"
[ -f "$demo/sm2.state" ] && [ -f "$demo/rsa-ec.state" ] || skip_all "no demo tokens in $demo"

make_work environment
server_groups=()
bus_pid=
fake_systemd_pid=

# Stops every socat server and waits until they are gone, so that the next
# one can listen on the same port.
stop_servers() {
    local g
    for g in "${server_groups[@]}"; do kill -- "-$g" 2>/dev/null; done
    # The group's leader is our child: reaping it means it has closed its socket.
    for g in "${server_groups[@]}"; do wait "$g" 2>/dev/null; done
    server_groups=()
}

cleanup() {
    stop_servers
    stop_fake_systemd
    if [ -n "$bus_pid" ]; then kill "$bus_pid" 2>/dev/null && wait "$bus_pid" 2>/dev/null; fi
    lib_cleanup
    remove_work
}
trap cleanup EXIT

# --- a token with an expired certificate (9a) and one expiring soon (9c) ---

ossl() { openssl "$@" >>"$work/openssl.log" 2>&1; }

make_expired_token() {
    local d=$work/certs
    mkdir -p "$d/db"
    : >"$d/db/index.txt"
    openssl rand -hex 8 >"$d/db/serial"
    cat >"$d/ca.cnf" <<EOF
[ca]
default_ca = test
[test]
database = $d/db/index.txt
new_certs_dir = $d/db
serial = $d/db/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
EOF
    ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/ca-key.pem" &&
    ossl req -new -x509 -key "$d/ca-key.pem" -subj "/CN=Environment Test CA" -days 3650 \
        -config /dev/null -out "$d/ca.pem" &&
    ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/9a-key.pem" &&
    ossl req -new -key "$d/9a-key.pem" -subj "/CN=Expired Holder" -config /dev/null \
        -out "$d/9a.csr" &&
    # `openssl ca` takes explicit dates, so the certificate is honestly in
    # the past rather than valid for a negative number of days.
    ossl ca -batch -config "$d/ca.cnf" -cert "$d/ca.pem" -keyfile "$d/ca-key.pem" \
        -in "$d/9a.csr" -startdate 20200101000000Z -enddate 20210101000000Z -notext \
        -out "$d/9a.pem" &&
    ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/9c-key.pem" &&
    ossl req -new -key "$d/9c-key.pem" -subj "/CN=Expiring Holder" -config /dev/null \
        -out "$d/9c.csr" &&
    ossl x509 -req -in "$d/9c.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" \
        -days "$EXPIRING_DAYS" -set_serial "0x$(openssl rand -hex 8)" -out "$d/9c.pem" &&
    "$vtoken" provision --state "$work/expired.state" --pin "$PIN" --puk "$PUK" \
        --serial "$EXPIRED_SERIAL" --model "ukeyd expired test token" \
        --cert "9a:$d/9a.pem" --key "9a:$d/9a-key.pem" \
        --cert "9c:$d/9c.pem" --key "9c:$d/9c-key.pem" >>"$work/openssl.log" 2>&1
}
if ! make_expired_token; then
    sed 's/^/# /' "$work/openssl.log" | tail -n 20
    skip_all "could not make the expired test token"
fi

# --- the rig: token 0 sm2, 1 rsa-ec, 2 expired (pulled until needed) --------

start_rig "$work/expired.state" || skip_all "the PC/SC rig did not start"
"$rig" remove "$work/rig" 2 >/dev/null || skip_all "the rig could not pull token 2"

# --- fake CA services -------------------------------------------------------

# One HTTP exchange like a CA's health endpoint: reads the request head,
# answers with a Date FAKE_CA_SKEW seconds off, and names FAKE_CA_LATEST as
# the newest ukeyd when set.
cat >"$work/fake-ca" <<'EOF'
#!/usr/bin/env bash
while IFS= read -r line; do line=${line%$'\r'}; [ -z "$line" ] && break; done
body='{"service":"fake CA","protocol":"unlock/v1","status":"ok"'
[ -n "${FAKE_CA_LATEST:-}" ] && body+=',"ukeydLatest":"'"$FAKE_CA_LATEST"'"'
body+='}'
date=$(LC_ALL=C date -u -d "@$(($(date +%s) + ${FAKE_CA_SKEW:-0}))" '+%a, %d %b %Y %H:%M:%S GMT')
printf 'HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$date" "${#body}" "$body"
EOF
chmod +x "$work/fake-ca"

# A self-signed certificate for 127.0.0.1, for the TLS case.
ossl req -new -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" -config /dev/null \
    -keyout "$work/tls-key.pem" -out "$work/tls.pem"
cat "$work/tls.pem" "$work/tls-key.pem" >"$work/tls-server.pem"

# start_server PORT [VAR=VALUE...] -- SOCAT-ARGS...: socat in a process group
# of its own, so its per-connection children go with it.
start_server() {
    local port=$1 vars=()
    shift
    while [ "$1" != -- ]; do vars+=("$1"); shift; done
    shift
    env "${vars[@]}" setsid socat "$@" </dev/null >>"$work/socat.log" 2>&1 &
    server_groups+=($!)
    wait_listening "$port"
}
start_fake_ca() {   # PORT SKEW [LATEST]
    start_server "$1" "FAKE_CA_SKEW=$2" "FAKE_CA_LATEST=${3:-}" -- \
        "TCP-LISTEN:$1,bind=127.0.0.1,reuseaddr,fork" "EXEC:$work/fake-ca"
}
start_tls_ca() {    # PORT
    start_server "$1" FAKE_CA_SKEW=0 -- \
        "OPENSSL-LISTEN:$1,bind=127.0.0.1,reuseaddr,fork,cert=$work/tls-server.pem,verify=0" \
        "EXEC:$work/fake-ca"
}
start_silent_ca() { # PORT: accepts, reads, never answers
    start_server "$1" -- "TCP-LISTEN:$1,bind=127.0.0.1,reuseaddr,fork" "EXEC:sleep 30"
}

ca_port=$(pick_port) || skip_all "no free port"
start_fake_ca "$ca_port" 0 || skip_all "socat did not listen on $ca_port"

# --- ukeyd ---------------------------------------------------------------------

hook="$rig start-pcscd $work/rig"

# write_config CA_URL [KEY=VALUE...]: the base file plus extra lines.
write_config() {
    local url=$1 line
    shift
    {
        echo "# written by tests/test-environment.sh"
        echo "[ukeyd]"
        echo "origins = $ORIGIN"
        echo "log-level = debug"
        echo "pin-pacing-ms = 0"
        echo "# CI has no logind: let every local account in; no support socket."
        echo "peer-policy = any-local"
        echo "support-socket = none"
        echo "ca-service-url = $url"
        for line in "$@"; do echo "${line%%=*} = ${line#*=}"; done
    } >"$work/ukeyd.conf"
}

reloads() { grep -c 'configuration reloaded' "$work/ukeyd.log"; }
reload() {
    local before i
    before=$(reloads)
    kill -HUP "$daemon_pid"
    for ((i = 0; i < RELOAD_WAIT_TENTHS; i++)); do
        [ "$(reloads)" -gt "$before" ] && return 0
        sleep 0.1
    done
    diag "reload not seen in the log"
    return 1
}
configure() { write_config "$@" && reload; }

start_daemon() { start_ukeyd "$work/ukeyd.log" env TZ="$USER_TZ" "$ukeyd" --config "$work/ukeyd.conf"; }

write_config "http://127.0.0.1:$ca_port" "pcscd-restart-command=$hook"
start_daemon || { tail -n 20 "$work/ukeyd.log" | sed 's/^/# /'; skip_all "ukeyd did not start"; }

# --- requests ------------------------------------------------------------------

# get_env [CURL ARGS...]: body in $work/env.json, status in $code, time in $ms.
get_env() {
    local out
    out=$(curl -s --max-time "$CURL_MAX_S" -o "$work/env.json" -w '%{http_code} %{time_total}' \
        "$@" "$base/v1/environment")
    code=${out%% *}
    ms=$(awk -v s="${out#* }" 'BEGIN { printf "%d", s * 1000 }')
}
# repair [CURL ARGS...]: body in $work/repair.json, status in $code.
repair() {
    code=$(curl -s --max-time "$CURL_MAX_S" -o "$work/repair.json" -w '%{http_code}' \
        -X POST -H 'Content-Type: application/json' "$@" "$base/v1/environment/repair")
}
# Fields of the last report (or of the repair's with R=1).
doc() { if [ "${R:-0}" = 1 ]; then echo "$work/repair.json"; else echo "$work/env.json"; fi; }
jqr() { jq -r "$@" "$(doc)"; }
checks() { if [ "${R:-0}" = 1 ]; then echo '.environment.checks'; else echo '.checks'; fi; }
state_of() { jqr --arg id "$1" "$(checks)[] | select(.id == \$id) | .state"; }
field_of() { jqr --arg id "$1" "$(checks)[] | select(.id == \$id) | .$2"; }
overall() { if [ "${R:-0}" = 1 ]; then jqr '.environment.state'; else jqr '.state'; fi; }
step_of() { jq -r --arg id "$1" ".steps[] | select(.id == \$id) | .$2" "$work/repair.json"; }
expect_state() {   # NAME CHECK-ID STATE
    local got
    got=$(state_of "$2")
    ok "$([ "$got" = "$3" ] && echo 0 || echo 1)" "$1"
    [ "$got" = "$3" ] || diag "$2 is '$got': $(field_of "$2" found)"
}
within() { [ "$ms" -lt "$1" ]; }
# Waits until GET /v1/status satisfies a jq condition: the rig is done when
# pcscd sees a change, ukeyd's monitor a moment later.
wait_status() {
    local i
    for ((i = 0; i < LIB_START_WAIT_TENTHS; i++)); do
        curl -s --max-time 1 "$base/v1/status" | jq -e "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    diag "status never matched $1"
    return 1
}
not_ok_checks() { jqr "$(checks)[] | select(.state != \"ok\") | \"\\(.id) \\(.state): \\(.found)\""; }

# --- the tests -----------------------------------------------------------------

test_all_ok() {
    get_env -H 'Accept-Language: en'
    check "GET /v1/environment answers 200" test "$code" = 200
    check "within ${BOUND_MS} ms (${ms} ms)" within "$BOUND_MS"
    ok "$([ "$(overall)" = ok ] && echo 0 || echo 1)" "with the rig and a healthy CA, everything is ok"
    [ "$(overall)" = ok ] || not_ok_checks | sed 's/^/# /'
    check "summary counts no warn and no fail" \
        test "$(jqr '.summary.warn + .summary.fail')" = 0
    check "system, clock, network, pcsc, token and browser checks are all there" \
        test "$(jqr '[.checks[].category] | unique | join(",")')" = "browser,clock,network,pcsc,system,token"
    check "one token check per token (2)" \
        test "$(jqr '[.checks[] | select(.category == "token")] | length')" = 2
    check "every check has id, category, title, state, found, hint and details" \
        test "$(jqr '[.checks[] | has("id", "category", "title", "state", "found", "hint", "details") | select(. | not)] | length')" = 0
    check "network: resolved, connected, answered" \
        test "$(field_of network.ca-service 'details | "\(.resolved) \(.connected) \(.outcome)"')" = "true true answered"
    check "clock: skew within ${SKEW_OK_S} s" \
        test "$(field_of clock.skew 'details.skewSeconds | fabs')" -le "$SKEW_OK_S"
    check "clock: ntpSynchronized and ntpSource, both null or neither ($(field_of clock.skew 'details.ntpSource'))" \
        test "$(field_of clock.skew 'details | has("ntpSynchronized") and has("ntpSource") and
            ((.ntpSynchronized == null) == (.ntpSource == null))')" = true
    check "clock: found tells the local time with its offset, no zone name ($(field_of clock.skew found))" \
        grep -qE '^Local time [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} \+08:00, ' <<<"$(field_of clock.skew found)"
    check "... while details.localTime is RFC 3339 and checkedAt UTC" \
        test "$(field_of clock.skew 'details.localTime | test("T[0-9:]{8}[+]08:00$")'):$(jqr '.checkedAt | test("T[0-9:]{8}Z$")')" = true:true
    check "pcsc.readers names the rig's readers" \
        grep -qF "$RIG_READER_0" <<<"$(field_of pcsc.readers found)"
    if [ "$(field_of pcsc.systemd details.systemd)" = false ]; then
        check "no systemd bus (CI): pcsc.systemd ok with a note" \
            test "$(state_of pcsc.systemd)" = ok
    fi
    check "English when asked (Accept-Language: en)" \
        test "$(field_of pcsc.service found)" = "pcscd is reachable"
    get_env
    check "Chinese by default" test "$(field_of pcsc.service found)" = "pcscd 可以连接"
    check "an allow-listed page gets it, with CORS" \
        test "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "Origin: $ORIGIN" \
                   -D "$work/hdr" "$base/v1/environment")" = 200
    check "... Access-Control-Allow-Origin names the page" \
        grep -qiF "access-control-allow-origin: $ORIGIN" "$work/hdr"
    check "a foreign page is refused (403)" \
        test "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
                   -H "Origin: $FOREIGN_ORIGIN" "$base/v1/environment")" = 403
}

test_newer_version() {
    stop_servers
    start_fake_ca "$ca_port" 0 "$NEWER_VERSION"
    get_env -H 'Accept-Language: en'
    expect_state "the CA announces ukeyd $NEWER_VERSION: system.ukeyd warns" system.ukeyd warn
    check "... naming the version" grep -qF "$NEWER_VERSION" <<<"$(field_of system.ukeyd found)"
    check "... details.updateAvailable" test "$(field_of system.ukeyd details.updateAvailable)" = true
    stop_servers
    start_fake_ca "$ca_port" 0
}

test_expired_certificate() {
    local id
    "$rig" insert "$work/rig" 2 >/dev/null || { ok 1 "insert token 2"; return; }
    wait_status '.tokenCount == 3'
    get_env -H 'Accept-Language: en'
    id=$(jqr --arg s "$EXPIRED_SERIAL" '.checks[] | select(.details.serial == $s) | .id')
    check "the expired token has its own check ($id)" test -n "$id"
    expect_state "an expired certificate: the token check fails" "$id" fail
    check "... problems: certificate-expired and certificate-expiring" \
        test "$(field_of "$id" 'details.problems | join(",")')" = "certificate-expired,certificate-expiring"
    check "... found names the certificate for what it does, not slot 9a" \
        grep -qF "The authentication certificate expired" <<<"$(field_of "$id" found)"
    check "... on a local date and time with the offset ($(field_of "$id" found))" \
        grep -qE 'expired on [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} \+08:00$' <<<"$(field_of "$id" found)"
    check "... the hint is to renew" grep -qi "renew" <<<"$(field_of "$id" hint)"
    check "... 9c expires in ${EXPIRING_DAYS} days or less" \
        test "$(field_of "$id" 'details.certificates[] | select(.slot == "9c") | .daysLeft')" -le "$EXPIRING_DAYS"
    check "the report as a whole fails" test "$(overall)" = fail
    "$rig" remove "$work/rig" 2 >/dev/null
    wait_status '.tokenCount == 2'
}

test_tokens_removed() {
    "$rig" remove "$work/rig" 0 >/dev/null && "$rig" remove "$work/rig" 1 >/dev/null
    wait_status '.tokenCount == 0'
    get_env
    expect_state "both tokens pulled: pcsc.tokens warns" pcsc.tokens warn
    expect_state "... the readers are still fine" pcsc.readers ok
    check "... and there is no token check" \
        test "$(jqr '[.checks[] | select(.category == "token")] | length')" = 0
    check "... the report warns" test "$(overall)" = warn
    "$rig" insert "$work/rig" 0 >/dev/null && "$rig" insert "$work/rig" 1 >/dev/null
    wait_status '.tokenCount == 2'
    get_env
    expect_state "plugged in again: pcsc.tokens ok" pcsc.tokens ok
}

test_repair_when_fine() {
    repair -H 'Accept-Language: en'
    check "POST /v1/environment/repair answers 200" test "$code" = 200
    check "pcscd running: restart-pcscd skipped" test "$(step_of restart-pcscd state)" = skipped
    check "rescan done, both tokens read again" \
        test "$(step_of rescan 'state + " " + (.details.tokenCount | tostring)')" = "done 2"
    check "nothing for an administrator to do" \
        test "$(jq '[.steps[] | select(.state == "manual")] | length' "$work/repair.json")" = 0
    check "the repair's report is ok" test "$(R=1 overall)" = ok
}

test_pcscd_stopped() {
    configure "http://127.0.0.1:$ca_port" "pcscd-restart-command=/bin/false"
    "$rig" stop-pcscd "$work/rig"
    wait_status '.pcscAvailable == false'
    get_env -H 'Accept-Language: en'
    expect_state "pcscd stopped: pcsc.service fails" pcsc.service fail
    check "... with a hint to restart it" grep -qF "systemctl restart pcscd" <<<"$(field_of pcsc.service hint)"
    check "... readers and tokens not checked (warn)" \
        test "$(state_of pcsc.readers) $(state_of pcsc.tokens)" = "warn warn"
    check "... within ${BOUND_MS} ms (${ms} ms)" within "$BOUND_MS"

    repair -H 'Accept-Language: en'
    check "a failing restart hook: restart-pcscd failed" test "$(step_of restart-pcscd state)" = failed
    check "... saying its exit status" grep -qF "exit status 1" <<<"$(step_of restart-pcscd message)"
    check "... and giving the administrator's command" \
        test "$(step_of restart-pcscd command)" = "sudo systemctl restart pcscd.socket pcscd.service"
    check "... rescan failed: pcscd still away" test "$(step_of rescan state)" = failed

    configure "http://127.0.0.1:$ca_port" "pcscd-restart-command=$hook"
    repair -H 'Accept-Language: en'
    check "the rig's hook: restart-pcscd done" test "$(step_of restart-pcscd state)" = done
    check "... through pcscd-restart-command" test "$(step_of restart-pcscd details.via)" = pcscd-restart-command
    check "... rescan done with both tokens" \
        test "$(step_of rescan 'state + " " + (.details.tokenCount | tostring)')" = "done 2"
    R=1 expect_state "... the repair's report: pcsc.service ok again" pcsc.service ok
    check "... and the report is ok" test "$(R=1 overall)" = ok
    get_env
    expect_state "GET afterwards: pcsc.service ok" pcsc.service ok
    check "tokens visible again (GET /v1/tokens)" \
        test "$(curl -s --max-time 10 "$base/v1/tokens" | jq '.tokens | length')" = 2
}

test_ca_unreachable() {
    local closed
    closed=$(pick_port)
    configure "http://127.0.0.1:$closed" "pcscd-restart-command=$hook"
    get_env -H 'Accept-Language: en'
    expect_state "CA on a closed port: network fails" network.ca-service fail
    check "... outcome connect-failed" test "$(field_of network.ca-service details.outcome)" = connect-failed
    check "... found says it cannot connect" grep -qF "Cannot connect" <<<"$(field_of network.ca-service found)"
    expect_state "... the clock could not be compared: warn" clock.skew warn
    check "... within ${BOUND_MS} ms (${ms} ms)" within "$BOUND_MS"
}

test_ca_hangs() {
    local silent
    silent=$(pick_port)
    start_silent_ca "$silent" || { ok 1 "silent CA listens"; return; }
    configure "http://127.0.0.1:$silent" "pcscd-restart-command=$hook"
    get_env -H 'Accept-Language: en'
    check "a CA that never answers: still answered within ${BOUND_MS} ms (${ms} ms)" within "$BOUND_MS"
    expect_state "... network fails" network.ca-service fail
    check "... outcome no-answer" test "$(field_of network.ca-service details.outcome)" = no-answer
    expect_state "... clock not compared: warn" clock.skew warn
    expect_state "... the other checks still ran: pcsc.tokens ok" pcsc.tokens ok

    configure "http://127.0.0.1:$silent" "pcscd-restart-command=$hook" \
        "environment-timeout-ms=$SHORT_TIMEOUT_MS"
    get_env
    check "environment-timeout-ms=${SHORT_TIMEOUT_MS}: answered within ${SHORT_BOUND_MS} ms (${ms} ms)" \
        within "$SHORT_BOUND_MS"
    check "... timeoutMs says so" test "$(jqr .timeoutMs)" = "$SHORT_TIMEOUT_MS"
    stop_servers
    start_fake_ca "$ca_port" 0
}

test_clock_skew() {
    stop_servers
    start_fake_ca "$ca_port" "-$SKEW_FAIL_S"
    configure "http://127.0.0.1:$ca_port" "pcscd-restart-command=$hook"
    get_env -H 'Accept-Language: en'
    expect_state "the CA's Date ${SKEW_FAIL_S} s behind ours: clock fails" clock.skew fail
    check "... found: ${SKEW_FAIL_S} s ahead" grep -qF "$SKEW_FAIL_S s ahead" <<<"$(field_of clock.skew found)"
    check "... hint: timedatectl" grep -qF "timedatectl set-ntp true" <<<"$(field_of clock.skew hint)"
    expect_state "... the network itself is ok" network.ca-service ok
    repair
    check "repair: sync-clock for the administrator" test "$(step_of sync-clock state)" = manual
    check "... with the exact command" test "$(step_of sync-clock command)" = "sudo timedatectl set-ntp true"

    stop_servers
    start_fake_ca "$ca_port" "$SKEW_WARN_S"
    get_env -H 'Accept-Language: en'
    expect_state "the CA's Date ${SKEW_WARN_S} s ahead of ours: clock warns" clock.skew warn
    check "... found: behind" grep -qF "$SKEW_WARN_S s behind" <<<"$(field_of clock.skew found)"
    stop_servers
    start_fake_ca "$ca_port" 0
}

test_tls() {
    local tls_port
    tls_port=$(pick_port)
    start_tls_ca "$tls_port" || { ok 1 "TLS CA listens"; return; }
    configure "https://127.0.0.1:$tls_port" "pcscd-restart-command=$hook"
    get_env -H 'Accept-Language: en'
    expect_state "a self-signed CA certificate: network fails" network.ca-service fail
    check "... outcome tls-failed" test "$(field_of network.ca-service details.outcome)" = tls-failed
    configure "https://127.0.0.1:$tls_port" "pcscd-restart-command=$hook" "ca-bundle=$work/tls.pem"
    get_env -H 'Accept-Language: en'
    expect_state "with it as ca-bundle: network ok" network.ca-service ok
    check "... TLS verified" test "$(field_of network.ca-service details.tls)" = verified
    configure "http://127.0.0.1:$ca_port" "pcscd-restart-command=$hook"
}

test_missing_ccid() {
    mkdir -p "$work/no-drivers"
    configure "http://127.0.0.1:$ca_port" "pcscd-restart-command=$hook" \
        "pcsc-drivers-dir=$work/no-drivers"
    get_env -H 'Accept-Language: en'
    expect_state "no CCID driver: pcsc.drivers warns" pcsc.drivers warn
    check "... hint: apt-get install libccid" grep -qF "sudo apt-get install libccid" <<<"$(field_of pcsc.drivers hint)"
    repair
    check "repair: install-ccid for the administrator" \
        test "$(step_of install-ccid 'state + " " + .command')" = "manual sudo apt-get install libccid"
    configure "http://127.0.0.1:$ca_port" "pcscd-restart-command=$hook"
}

test_repair_guards() {
    repair --data-binary '{"restart":"rm -rf /"}'
    check "a repair body with members: 400" test "$code" = 400
    check "... BAD_REQUEST naming the member" \
        test "$(jq -r '.code + " " + .field' "$work/repair.json")" = "BAD_REQUEST restart"
    repair --data-binary '{}'
    check "a repair body {}: 200" test "$code" = 200
    code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X POST \
        -H 'Content-Type: text/plain' "$base/v1/environment/repair")
    check "a repair without application/json: 415" test "$code" = 415
    code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X POST \
        -H "Origin: $FOREIGN_ORIGIN" -H 'Content-Type: application/json' \
        "$base/v1/environment/repair")
    check "a repair from a foreign page: 403" test "$code" = 403
    code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$base/v1/environment/repair")
    check "GET on the repair: 405" test "$code" = 405
}

test_stop() {
    stop_ukeyd
    check "ukeyd stops cleanly after all this (exit $stop_rc)" test "$stop_rc" = 0
}

# --- pcscd under a (fake) systemd: a private bus whose org.freedesktop.systemd1
# is tests/test-env_systemd --serve, standing in for RestartUnit with the rig.

start_bus() {
    local i
    cat >"$work/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=$work/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
    dbus-daemon --config-file="$work/bus.conf" --nofork --nopidfile >>"$work/bus.log" 2>&1 &
    bus_pid=$!
    # The socket file appears when bound, a moment before the bus listens.
    for ((i = 0; i < LIB_START_WAIT_TENTHS; i++)); do
        busctl --address="unix:path=$work/bus" list >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# start_fake_systemd [--deny] [--service-state STATE] -- PROGRAM ARG...
start_fake_systemd() {
    local i
    "$build/tests/test-env_systemd" --serve "$@" >>"$work/fake-systemd.log" 2>&1 &
    fake_systemd_pid=$!
    for ((i = 0; i < LIB_START_WAIT_TENTHS; i++)); do
        busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" list 2>/dev/null |
            grep -q '^org\.freedesktop\.systemd1 ' && return 0
        sleep 0.1
    done
    return 1
}
stop_fake_systemd() {
    [ -n "$fake_systemd_pid" ] || return 0
    kill "$fake_systemd_pid" 2>/dev/null && wait "$fake_systemd_pid" 2>/dev/null
    fake_systemd_pid=
}

test_repair_via_systemd() {
    if ! command -v dbus-daemon >/dev/null || ! command -v busctl >/dev/null ||
        [ ! -x "$build/tests/test-env_systemd" ]; then
        diag "no dbus-daemon, busctl or test-env_systemd: the systemd path is not tested here"
        return
    fi
    start_bus || { ok 1 "a private dbus-daemon starts"; return; }
    export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$work/bus"
    start_fake_systemd --timedated unsynchronized -- "$rig" start-pcscd "$work/rig" ||
        { ok 1 "the fake systemd starts"; return; }
    # No pcscd-restart-command: systemd is the way.
    write_config "http://127.0.0.1:$ca_port"
    start_daemon || { ok 1 "ukeyd starts on the private bus"; return; }

    get_env -H 'Accept-Language: en'
    expect_state "systemd on the bus: pcsc.systemd ok" pcsc.systemd ok
    check "... details: systemd, pcscd.service active" \
        test "$(jqr '.checks[] | select(.id == "pcsc.systemd") | .details | "\(.systemd) \(.units[0].name) \(.units[0].activeState)"')" = "true pcscd.service active"
    # Unsandboxed, the kernel answers; where adjtimex is refused (ProtectClock=),
    # the fake timedated does, and it says "not synchronised".
    check "clock: NTP known, from the kernel or timedated ($(field_of clock.skew 'details | "\(.ntpSource) \(.ntpSynchronized)"'))" \
        grep -qxE 'kernel (true|false)|timedated false' <<<"$(field_of clock.skew 'details | "\(.ntpSource) \(.ntpSynchronized)"')"

    "$rig" stop-pcscd "$work/rig"
    wait_status '.pcscAvailable == false'
    repair -H 'Accept-Language: en'
    check "pcscd stopped: repair restarts it through systemd" \
        test "$(step_of restart-pcscd 'state + " " + .details.via')" = "done systemd"
    # systemd restarts in the background, as the stand-in does: the cards come
    # back a moment after pcscd, and the events report them.
    check "... rescan done once pcscd is back" test "$(step_of rescan state)" = done
    R=1 expect_state "... pcsc.service ok again" pcsc.service ok
    check "... and both tokens are visible again" wait_status '.tokenCount == 2'

    stop_fake_systemd
    start_fake_systemd --deny -- "$rig" start-pcscd "$work/rig" || { ok 1 "the denying fake starts"; return; }
    "$rig" stop-pcscd "$work/rig"
    wait_status '.pcscAvailable == false'
    repair -H 'Accept-Language: en'
    check "polkit refuses: restart-pcscd failed" test "$(step_of restart-pcscd state)" = failed
    check "... saying so" grep -qF "Not permitted" <<<"$(step_of restart-pcscd message)"
    check "... with the administrator's command" \
        test "$(step_of restart-pcscd command)" = "sudo systemctl restart pcscd.service"
    "$rig" start-pcscd "$work/rig" >/dev/null 2>&1
    wait_status '.pcscAvailable == true and .tokenCount == 2'

    stop_fake_systemd
    start_fake_systemd --service-state failed -- "$rig" restart-pcscd "$work/rig" ||
        { ok 1 "the failed-unit fake starts"; return; }
    get_env -H 'Accept-Language: en'
    expect_state "pcscd.service failed (pcscd itself answering): pcsc.systemd warns" pcsc.systemd warn
    repair -H 'Accept-Language: en'
    check "... the repair restarts it anyway" \
        test "$(step_of restart-pcscd 'state + " " + .details.via')" = "done systemd"
    R=1 expect_state "... and then the unit is fine" pcsc.systemd ok
    wait_status '.pcscAvailable == true and .tokenCount == 2'
    test_stop
    stop_fake_systemd
}

test_all_ok
test_newer_version
test_expired_certificate
test_tokens_removed
test_repair_when_fine
test_pcscd_stopped
test_ca_unreachable
test_ca_hangs
test_clock_skew
test_tls
test_missing_ccid
test_repair_guards
test_stop
test_repair_via_systemd

done_testing
