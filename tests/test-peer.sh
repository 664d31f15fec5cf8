#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-peer.sh — only the person at the desk: ukeyd runs against the
# PC/SC rig while curl runs as different local users (setpriv), and the
# test checks that the UID behind each loopback connection is found and
# judged by peer-policy (users, any-local, and the default where logind does
# not run), that a peer nobody can identify is refused, that no other account
# can take the slots the person at the desk needs (refused peers,
# max-connections-per-user, the deadline for a whole request, strict
# framing), and that the support socket serves diagnostics to root and its
# group only (SO_PEERCRED), never over TCP and never with a PIN in them.
#
# Needs root: it creates throw-away accounts (ukeyd-t-*) and removes them at
# the end. TAP on stdout; every process it starts is stopped by PID.
set -u

# shellcheck source=tests/lib/ukeyd.sh
. "$(dirname "$0")/lib/ukeyd.sh"
make_work peer

readonly ORIGIN=https://portal.example.cn
readonly PIN=123456
readonly WRONG_PIN=987650
readonly PACING_MS=100
readonly CURL_MAX_S=10
readonly LOG_WAIT_S=5
readonly HOLD_CONNECTIONS=70   # more than max-connections (64): every slot, were they let
readonly DESK_ANSWER_MAX_S=4   # below the request deadline (5 s): its freeing no slot counts
readonly DRIP_MAX_S=15         # the request deadline (5 s) and room; the idle timeout is 30 s
readonly RAW_WAIT_S=5          # for an answer and the close to a request sent by hand
readonly NOBODY_UID=65534
readonly NOGROUP_GID=65534
# Throw-away accounts: alice is listed by name, bob through a listed group,
# carol is in the support group, nobody is a stranger everywhere.
readonly ALICE=ukeyd-t-alice BOB=ukeyd-t-bob CAROL=ukeyd-t-carol
readonly DESK=ukeyd-t-desk SUPPORT=ukeyd-t-support NO_SUCH_GROUP=ukeyd-t-nosuch

[ "$(id -u)" -eq 0 ] || skip_all "needs root (clients run as other users)"
for tool in curl ss setpriv useradd userdel groupadd groupdel stat; do
    command -v "$tool" >/dev/null || skip_all "$tool is not installed"
done
[ -x "$build/ukeyd" ] || skip_all "no $build/ukeyd (build first)"

remove_accounts() {
    local u g
    for u in "$ALICE" "$BOB" "$CAROL"; do
        id "$u" >/dev/null 2>&1 && userdel "$u" >/dev/null 2>&1
    done
    for g in "$ALICE" "$BOB" "$CAROL" "$DESK" "$SUPPORT"; do
        getent group "$g" >/dev/null && groupdel "$g" >/dev/null 2>&1
    done
    return 0
}

cleanup() {
    lib_cleanup
    remove_accounts
    remove_work
}
trap cleanup EXIT

make_accounts() {
    remove_accounts
    groupadd "$DESK" && groupadd "$SUPPORT" &&
        useradd -M -U -s /usr/sbin/nologin "$ALICE" &&
        useradd -M -U -s /usr/sbin/nologin -G "$DESK" "$BOB" &&
        useradd -M -U -s /usr/sbin/nologin -G "$SUPPORT" "$CAROL"
}
make_accounts || skip_all "cannot create test accounts with useradd"
alice_uid=$(id -u "$ALICE") bob_uid=$(id -u "$BOB")

start_rig || skip_all "the PC/SC rig did not start"

# --- running things as someone else ---------------------------------------

# run_as WHO COMMAND...: root, nobody (no groups at all) or a named account
# with its groups from the group database.
run_as() {
    local who=$1
    shift
    case $who in
    root) "$@" ;;
    nobody) setpriv --reuid="$NOBODY_UID" --regid="$NOGROUP_GID" --clear-groups "$@" ;;
    *) setpriv --reuid="$who" --regid="$(id -g "$who")" --init-groups "$@" ;;
    esac
}

# req_as WHO METHOD URL [CURL ARGS...]: status in $code, body in $body (with
# the headers first when the arguments ask for -i). curl -q: the config files
# of root's HOME are not another user's.
req_as() {
    local who=$1 method=$2 url=$3 out
    shift 3
    out=$(run_as "$who" curl -q -s --max-time "$CURL_MAX_S" -w '\n%{http_code}' -X "$method" \
        "$@" "$url")
    curl_rc=$?
    code=${out##*$'\n'}
    body=${out%$'\n'*}
}
tcp() { req_as "$1" "$2" "$base$3" "${@:4}"; }
tcp6() { req_as "$1" "$2" "http://[::1]:$port$3" "${@:4}"; }
support() { req_as "$1" "$2" "http://localhost$3" --unix-socket "$sock" "${@:4}"; }

# Matches indented ("a": 1) and compact ("a":1) JSON alike.
body_has() { grep -qF -- "$1" <<<"$body" || grep -qF -- "${1//\": /\":}" <<<"$body"; }
# expect NAME STATUS [BODY-SUBSTRING...]
expect() {
    local name=$1 want=$2 s good=0
    shift 2
    [ "$code" = "$want" ] || good=1
    for s in "$@"; do body_has "$s" || good=1; done
    ok $good "$name"
    [ $good -eq 0 ] || diag "got $code: $(head -c 400 <<<"$body" | tr '\n' ' ')"
}

# wait_for_log [-E] TEXT: the request line is written when the answer has
# gone out, so it may come a moment after curl returns.
wait_for_log() {
    local how=-F i
    [ "$1" = -E ] && { how=-E; shift; }
    for ((i = 0; i < LOG_WAIT_S * 20; i++)); do
        grep -q "$how" -- "$1" "$log" && return 0
        sleep 0.05
    done
    return 1
}

# --- the daemon ---------------------------------------------------------------

write_config() {   # FILE KEY=VALUE...
    local file=$1 kv
    shift
    printf '# written by tests/test-peer.sh\n[ukeyd]\norigins = %s\nlog-level = debug\npin-pacing-ms = %s\n' \
        "$ORIGIN" "$PACING_MS" >"$file"
    for kv in "$@"; do printf '%s = %s\n' "${kv%%=*}" "${kv#*=}" >>"$file"; done
}

# start_daemon CONFIG LOG: listens on 127.0.0.1 and [::1] (when there is one).
start_daemon() {
    local v6=()
    log=$2
    ipv6 && v6=(--also-v6)
    start_ukeyd "${v6[@]}" "$log" "$build/ukeyd" --config "$1"
}
ipv6() { [ -e /proc/net/if_inet6 ] && ip -6 addr show lo 2>/dev/null | grep -q '::1'; }

# --- peer-policy = users ----------------------------------------------------------

test_users_policy() {
    tcp "$ALICE" GET /v1/status
    expect "users: a listed user is served" 200 '"pcscAvailable": true'
    check "users: the lookup found alice's UID ($alice_uid)" \
        wait_for_log -E "GET /v1/status 200 [0-9]+ms uid=$alice_uid( |\$)"
    tcp "$BOB" GET /v1/status
    expect "users: a member of a listed group is served" 200
    check "users: the lookup found bob's UID ($bob_uid)" \
        wait_for_log -E "GET /v1/status 200 [0-9]+ms uid=$bob_uid( |\$)"

    tcp nobody GET /v1/status
    expect "users: a stranger gets 403 PEER_NOT_ALLOWED" 403 '"code": "PEER_NOT_ALLOWED"' \
        '"title": "本机用户无权使用"'
    check "users: the refusal is logged with the UID" \
        wait_for_log "connection from uid $NOBODY_UID refused: not listed in peer-users"
    tcp nobody GET /v1/status -H 'Accept-Language: en'
    expect "users: the refusal in English" 403 '"title": "Local user not allowed"'
    tcp nobody GET /v1/status -i
    check "users: the refusal is problem+json" grep -qi '^Content-Type: application/problem+json' <<<"$body"
    tcp root GET /v1/status
    expect "users: root is not special" 403 '"code": "PEER_NOT_ALLOWED"'
    tcp "$CAROL" GET /v1/status
    expect "users: the support group does not open the web port" 403

    tcp nobody OPTIONS "/v1/tokens/$tok0/pin/verify" -i -H "Origin: $ORIGIN" \
        -H 'Access-Control-Request-Method: POST'
    check "users: a stranger's CORS preflight is refused first" grep -q '^HTTP/1.1 403' <<<"$body"
    check "users: ...and grants no method" \
        bash -c "! grep -qi '^Access-Control-Allow-Methods' <<<\"\$1\"" _ "$body"
    tcp nobody GET /v1/tokens -i -H "Origin: $ORIGIN" -H 'Sec-Fetch-Site: cross-site'
    check "users: the portal's page may read the refusal (its exact origin)" \
        grep -qi "^Access-Control-Allow-Origin: $ORIGIN" <<<"$body"
    tcp nobody GET /v1/tokens -i -H 'Origin: https://evil.example'
    check "users: another page may not" \
        bash -c "! grep -qi '^Access-Control-Allow-Origin' <<<\"\$1\"" _ "$body"
    tcp nobody POST "/v1/tokens/$tok0/pin/verify" -H 'Content-Type: application/json' \
        --data-binary "{\"pin\":\"$WRONG_PIN\"}"
    expect "users: a stranger's PIN attempt is refused" 403 '"code": "PEER_NOT_ALLOWED"'
    tcp "$ALICE" GET "/v1/tokens/$tok0/pin"
    expect "users: ...and spent no try" 200 '"triesLeft": 3'
    tcp nobody GET /v1/diagnostics
    expect "users: a stranger learns no route" 403 '"code": "PEER_NOT_ALLOWED"'

    if ipv6; then
        tcp6 "$ALICE" GET /v1/status
        expect "users over [::1]: alice served" 200
        tcp6 nobody GET /v1/status
        expect "users over [::1]: a stranger refused" 403 '"code": "PEER_NOT_ALLOWED"'
    else
        ok 0 "# SKIP no IPv6 loopback"
    fi
}

# SIGSTOP reaches each thread in its own time: wait until none can accept.
all_threads_stopped() {   # PID
    local i
    for ((i = 0; i < LOG_WAIT_S * 20; i++)); do
        ! grep -qv '^[0-9]* ([^)]*) [tT] ' /proc/"$1"/task/*/stat && return 0
        sleep 0.05
    done
    return 1
}

# The client has gone before ukeyd looks (ukeyd is stopped meanwhile): its
# socket has no owner any more, and ukeyd must refuse, not guess.
test_unidentified_peer() {
    kill -STOP "$daemon_pid"
    check "ukeyd is stopped" all_threads_stopped "$daemon_pid"
    (
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
        printf 'GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n' "$port" >&3
        exec 3>&-
    )
    sleep 0.2
    kill -CONT "$daemon_pid"
    check "a peer that cannot be identified is refused" \
        wait_for_log "connection refused: its peer cannot be identified"
    check "...at accept: it is never answered" \
        bash -c "! grep -qE ' [0-9]+ms uid=-1' '$log'"
}

# --- slots: what other accounts can hold --------------------------------------------

# hold_connections WHO WHAT: WHO opens HOLD_CONNECTIONS connections to the TCP
# port, writes WHAT (printf format) on each, and keeps them open; the PID
# of the process holding them in $holder (run_as runs in a subshell of its
# own, in $holder_job). Those ukeyd closes are written to in vain.
hold_connections() {
    local i
    holder=
    : >"$work/holder.out"
    run_as "$1" bash -c 'trap "" PIPE
        for ((i = 0; i < $2; i++)); do
            exec {fd}<>"/dev/tcp/127.0.0.1/$1" || exit 1
            printf "$3" >&"$fd" 2>/dev/null
        done
        echo "held $$"
        exec sleep 60' _ "$port" "$HOLD_CONNECTIONS" "$2" >"$work/holder.out" 2>&1 &
    holder_job=$!
    for ((i = 0; i < LOG_WAIT_S * 20; i++)); do
        holder=$(sed -n 's/^held //p' "$work/holder.out")
        [ -n "$holder" ] && return 0
        sleep 0.05
    done
    return 1
}
release_connections() {
    [ -n "$holder" ] && kill "$holder" 2>/dev/null
    wait "$holder_job" 2>/dev/null
}

# ukeyd sees the holder's connections closed a moment after it is killed.
refused_answered() {
    local i
    for ((i = 0; i < LOG_WAIT_S * 10; i++)); do
        tcp nobody GET /v1/status -i
        [ "$code" = 403 ] && return 0
        sleep 0.1
    done
    return 1
}

# A refused account gets two connections, to be told why (then closed);
# the rest are closed at accept: they hold no slot.
test_refused_peer_holds_nothing() {
    check "slots: nobody (refused) opens $HOLD_CONNECTIONS idle connections" \
        hold_connections nobody ""
    tcp "$ALICE" GET /v1/status --max-time "$DESK_ANSWER_MAX_S"
    expect "slots: ...and alice is served meanwhile" 200 '"pcscAvailable": true'
    check "slots: nobody's connections past two are closed at accept" \
        wait_for_log "connection from uid $NOBODY_UID refused at accept"
    release_connections
    check "slots: once they are closed, nobody is told why again" refused_answered
    check "slots: ...and the refusal closes the connection after its answer" \
        grep -qi '^Connection: close' <<<"$body"
}

# An allowed account holds max-connections-per-user (16) at most, idle or
# half-sent, far from the 64 there are.
test_other_account_holds_its_share() {
    check "slots: bob (allowed) opens $HOLD_CONNECTIONS half-sent requests" \
        hold_connections "$BOB" "GET /v1/status HTTP/1.1\\r\\nHost: 127.0.0.1:$port\\r\\nX-Slow: "
    tcp "$ALICE" GET /v1/status --max-time "$DESK_ANSWER_MAX_S"
    expect "slots: ...and alice is served meanwhile" 200 '"pcscAvailable": true'
    check "slots: bob's connections past his share are refused" \
        wait_for_log "connection from uid $bob_uid refused: it holds max-connections-per-user"
    check "slots: ...and his half-sent requests closed at the deadline" \
        wait_for_log "connection from uid $bob_uid closed: no complete request in time"
    release_connections
}

# One byte a second resets libmicrohttpd's idle timeout each time; the
# deadline for a whole request does not move. Prints the seconds it took.
drip_until_closed() {
    run_as "$ALICE" bash -c 'trap "" PIPE
        exec {fd}<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nX-Drip: " "$1" >&"$fd"
        start=$SECONDS
        while ((SECONDS - start < $2)); do
            printf a >&"$fd" 2>/dev/null
            read -r -t 1 -n 1 -u "$fd" _
            rc=$?
            ((rc > 128)) && continue
            echo $((SECONDS - start))
            exit $rc
        done
        exit 2' _ "$port" "$DRIP_MAX_S"
}

test_dripped_request_closed() {
    local took
    took=$(drip_until_closed)
    check "slots: a request dripped a byte a second is closed (after ${took:-more than $DRIP_MAX_S} s)" \
        test -n "$took"
}

# raw_as WHO REQUEST: REQUEST (a printf format) sent as it is; every byte of
# the answers in $body; false when ukeyd has not closed within RAW_WAIT_S.
# One write, as a pipelining client sends: bash's printf writes a line at a
# time, so a request pipelined behind could reach ukeyd after it had answered
# and closed, and the write meeting the closed socket killed the client
# (SIGPIPE) before it read the answer. dd gathers the request first; the
# ignored SIGPIPE keeps the reader alive whatever ukeyd does to its writes.
raw_as() {
    body=$(run_as "$1" bash -c 'trap "" PIPE
        exec {fd}<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "$2" | dd bs=64k iflag=fullblock status=none >&"$fd"
        timeout "$3" cat <&"$fd"' _ "$port" "$2" "$RAW_WAIT_S")
}

# expect_framing_refused NAME REQUEST: one 400, then the connection closed:
# nothing after it, a request pipelined behind included, is read.
expect_framing_refused() {
    local closed=0
    raw_as "$ALICE" "$2" || closed=1
    check "framing: $1: 400 BAD_REQUEST" grep -q '^HTTP/1.1 400' <<<"$body"
    check "framing: $1: ...and closed, nothing more answered" \
        test "$closed" -eq 0 -a "$(grep -c '^HTTP/1.1 ' <<<"$body")" -eq 1
}

test_strict_framing() {
    local host="Host: 127.0.0.1:$port\\r\\n" post="POST /v1/tokens/$tok0/pin/verify HTTP/1.1\\r\\n"
    local json="Content-Type: application/json\\r\\n"
    expect_framing_refused "two Host headers, ours first" \
        "GET /v1/status HTTP/1.1\\r\\n${host}Host: evil.example\\r\\n\\r\\n"
    expect_framing_refused "a space before the colon" \
        "GET /v1/status HTTP/1.1\\r\\n${host}Host : evil.example\\r\\n\\r\\n"
    expect_framing_refused "two different Content-Lengths" \
        "$post$host${json}Content-Length: 2\\r\\nContent-Length: 40\\r\\n\\r\\n{}"
    expect_framing_refused "Content-Length with Transfer-Encoding, a request pipelined behind" \
        "$post$host${json}Content-Length: 5\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\nGET /v1/status HTTP/1.1\\r\\n$host\\r\\n"
    raw_as "$ALICE" "GET /v1/status HTTP/1.1\\r\\n${host}Connection: close\\r\\n\\r\\n"
    check "framing: a well-formed request by hand is served" grep -q '^HTTP/1.1 200' <<<"$body"
}

test_tcp_has_no_diagnostics() {
    tcp "$ALICE" GET /v1/diagnostics
    expect "TCP: /v1/diagnostics is not found" 404 '"code": "NOT_FOUND"'
    tcp "$ALICE" POST "/v1/tokens/$tok0/pin/verify" -H 'Content-Type: application/json' \
        --data-binary "{\"pin\":\"$PIN\"}"
    expect "alice verifies the PIN (to look for it in diagnostics)" 200 '"verified": true'
}

# --- the support socket ---------------------------------------------------------

test_support_socket() {
    check "support socket: mode 660, group $SUPPORT" \
        test "$(stat -c '%a %G' "$sock")" = "660 $SUPPORT"
    support root GET /v1/diagnostics
    expect "support: root gets diagnostics" 200 '"events": [' '"apdus": [' '"config": {' \
        '"peer-policy": "users"' '"atr": "3B' '"version": "' '"requestedBy": {'
    check "support: the VERIFY exchange is summarised" body_has '"command": "VERIFY"'
    check "support: the request events carry codes and timings" \
        grep -qE "403 PEER_NOT_ALLOWED [0-9]+ms uid=$NOBODY_UID" <<<"$body"
    check "support: no PIN in the diagnostics" bash -c "! grep -qF -- '$PIN' <<<\"\$1\"" _ "$body"
    check "support: no wrong PIN either" bash -c "! grep -qF -- '$WRONG_PIN' <<<\"\$1\"" _ "$body"
    support "$CAROL" GET /v1/diagnostics
    expect "support: a member of the support group gets diagnostics" 200 '"apdus": ['
    support nobody GET /v1/diagnostics
    check "support: a stranger cannot even connect (mode 660)" test "$code" = 000
    support root GET /v1/status
    expect "support: the same API, with the peer policy" 200 '"mode": "users"'
    req_as root GET http://support.invalid/v1/status --unix-socket "$sock"
    expect "support: any Host (no browser reaches a Unix socket)" 200
    support root GET /v1/status -H "Origin: $ORIGIN"
    expect "support: a request with Origin is refused" 403 '"code": "ORIGIN_FORBIDDEN"'
    support root GET /v1/status -H 'Sec-Fetch-Site: none'
    expect "support: a request with fetch metadata is refused" 403 '"code": "ORIGIN_FORBIDDEN"'

    # A mode gone wrong (chmod by hand): the SO_PEERCRED check still holds.
    chmod 0666 "$sock"
    support nobody GET /v1/diagnostics
    expect "support: with the mode opened, a stranger is refused by SO_PEERCRED" 403 \
        '"code": "PEER_NOT_ALLOWED"'
    support "$ALICE" GET /v1/status
    expect "support: ...and so is the web port's user" 403 '"code": "PEER_NOT_ALLOWED"'
    chmod 0660 "$sock"
    check "support: the refusal is logged with the UID" \
        wait_for_log "support connection from uid $alice_uid refused"
}

# peer-users is read again on SIGHUP, for the connections that follow.
test_reload() {
    write_config "$work/users.conf" "peer-policy=users" "peer-users=$ALICE @$DESK nobody" \
        "support-socket=$sock" "support-group=$SUPPORT"
    kill -HUP "$daemon_pid"
    check "reload: logged" wait_for_log "configuration reloaded"
    tcp nobody GET /v1/status
    expect "reload: a user listed since is served" 200
}

# --- other policies --------------------------------------------------------------------

test_any_local() {
    tcp nobody GET /v1/status
    expect "any-local: a stranger is served" 200
    tcp root GET /v1/status
    expect "any-local: root is served" 200
    check "any-local: the support socket without its group is root only (600)" \
        test "$(stat -c '%a' "$sock")" = 600
    support root GET /v1/status
    expect "any-local: the support socket serves root" 200 '"mode": "any-local"'
}

logind_running() { [ -d /run/systemd/system ] && [ -d /run/systemd/seats ]; }

test_default_policy() {
    if logind_running; then
        check "default with logind: active-session" wait_for_log "peer policy: active-session"
        return
    fi
    check "default without logind: the log says console" \
        wait_for_log "peer policy: console (systemd-logind is not running"
    support root GET /v1/status
    expect "default without logind: the status shows it" 200 '"mode": "console"' \
        '"configured": "auto"' '"logind": false'
    if [ -z "$(who 2>/dev/null)" ]; then
        tcp root GET /v1/status
        expect "default without logind, nobody on the console: refused" 403 \
            '"code": "PEER_NOT_ALLOWED"'
    else
        ok 0 "# SKIP someone is logged in here"
    fi
}

# --- run ---------------------------------------------------------------------------

# Other users reach the support sockets in here (mktemp made $work 0700).
chmod 0711 "$work"
mkdir -m 0755 "$work/run"
sock=$work/run/support.sock
write_config "$work/users.conf" "peer-policy=users" "peer-users=$ALICE @$DESK" \
    "support-socket=$sock" "support-group=$SUPPORT"
if start_daemon "$work/users.conf" "$work/ukeyd-users.log"; then
    tcp "$ALICE" GET /v1/tokens -H 'Sec-Fetch-Site: none'
    tok0=$(grep -o "\"id\":\"[^\"]*\",\"reader\":\"$RIG_READER_0\"" <<<"$body" | cut -d'"' -f4)
    check "token of reader 0 found ($tok0)" test -n "$tok0"
    test_users_policy
    test_unidentified_peer
    test_refused_peer_holds_nothing
    test_other_account_holds_its_share
    test_dripped_request_closed
    test_strict_framing
    test_tcp_has_no_diagnostics
    test_support_socket
    test_reload
    stop_ukeyd
    check "the support socket is removed on the way out" test ! -e "$sock"
else
    ok 1 "ukeyd starts with peer-policy = users"
    diag_file "$work/ukeyd-users.log"
fi

sock=$work/run/support-any.sock
write_config "$work/any.conf" "peer-policy=any-local" "support-socket=$sock" \
    "support-group=$NO_SUCH_GROUP"
if start_daemon "$work/any.conf" "$work/ukeyd-any.log"; then
    test_any_local
    stop_ukeyd
else
    ok 1 "ukeyd starts with peer-policy = any-local"
fi

sock=$work/run/support-default.sock
write_config "$work/default.conf" "support-socket=$sock"
if start_daemon "$work/default.conf" "$work/ukeyd-default.log"; then
    test_default_policy
    stop_ukeyd
else
    ok 1 "ukeyd starts with the default peer policy"
fi

check "no PIN in any log" bash -c "! grep -rqF -e '$PIN' -e '$WRONG_PIN' '$work'/ukeyd-*.log"
if [ "$failed" -ne 0 ]; then
    for f in "$work"/ukeyd-*.log; do diag "$f (tail):"; tail -n 30 "$f" | diag_file; done
fi
done_testing
