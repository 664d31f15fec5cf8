# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# `work` is the sourcing script's; stop_rc, port and base are for it to read.
# shellcheck disable=SC2154,SC2034
#
# tests/lib/rig.sh — sourced by the shell tests that run a ukeyd binary
# against the PC/SC rig (test-units.sh, test-packaging.sh,
# test-ukeyd-client.sh): TAP output, a private rig with copies of the demo
# tokens, a free loopback port, and a ukeyd started and stopped by PID.
#
# The sourcing script sets `work` (its temporary directory) before calling
# anything here, and calls lib_cleanup from its EXIT trap. Everything is
# bounded in time.

top=${UKEYD_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
build=${UKEYD_BUILD:-$top/build}
rig=$top/tests/rig/rig
demo=$build/demo

readonly LIB_PORT_BASE=12000         # below the rig's vpcd ports and the ephemeral range
readonly LIB_PORT_SPAN=7000
readonly LIB_START_WAIT_TENTHS=100
readonly LIB_STOP_WAIT_TENTHS=100

# --- TAP ------------------------------------------------------------------

n=0
failed=0
ok() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
check() { local name=$1; shift; if "$@"; then ok 0 "$name"; else ok 1 "$name"; fi; }
diag() { echo "# $*"; }
# Prints FILE (or stdin) as TAP diagnostics, at most LINES lines.
diag_file() { sed -n "1,${2:-30}p" "${1:-/dev/stdin}" | sed 's/^/#   /'; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
done_testing() { echo "1..$n"; [ "$failed" -eq 0 ]; }

# --- the rig --------------------------------------------------------------

lib_rig_started=
lib_daemon_pid=
lib_ca_pid=

# Starts a rig in $work/rig with copies of both demo tokens; exports
# PCSCLITE_CSOCK_NAME and RIG_READER_0/1 from its env file. False (with the
# rig's log as diagnostics) when it cannot start.
start_rig() {
    [ -x "$rig" ] && [ -f "$demo/sm2.state" ] && [ -f "$demo/rsa-ec.state" ] || return 1
    cp "$demo/sm2.state" "$demo/rsa-ec.state" "$work/"
    lib_rig_started=1
    if ! "$rig" start "$work/rig" --token "$work/sm2.state" --token "$work/rsa-ec.state" \
            --build "$build" >>"$work/rig-start.log" 2>&1; then
        # One more try: the rig's start races vpcd's port binding on a busy machine.
        "$rig" stop "$work/rig" >/dev/null 2>&1
        rm -rf "$work/rig"
        if ! "$rig" start "$work/rig" --token "$work/sm2.state" --token "$work/rsa-ec.state" \
                --build "$build" >>"$work/rig-start.log" 2>&1; then
            diag_file "$work/rig-start.log"
            return 1
        fi
    fi
    # shellcheck disable=SC1091
    . "$work/rig/env"
}

port_free() { ! ss -Htln "sport = :$1" | grep -q .; }
pick_port() {
    local p i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        p=$((LIB_PORT_BASE + RANDOM % LIB_PORT_SPAN))
        port_free "$p" && { echo "$p"; return 0; }
    done
    return 1
}

# --- ukeyd --------------------------------------------------------------------

wait_for_status() {   # BASE_URL
    local i
    for ((i = 0; i < LIB_START_WAIT_TENTHS; i++)); do
        curl -s --max-time 1 -o /dev/null "$1/v1/status" && return 0
        sleep 0.1
    done
    return 1
}

# start_ukeyd LOG COMMAND...: runs COMMAND (a ukeyd, perhaps under strace)
# in the background with --listen 127.0.0.1:PORT on a free port, and waits
# until it answers. Sets $port and $base; the PID is kept for stop_ukeyd.
start_ukeyd() {
    local log=$1
    shift
    port=$(pick_port) || { diag "no free port"; return 1; }
    base=http://127.0.0.1:$port
    "$@" --listen "127.0.0.1:$port" >>"$log" 2>&1 &
    lib_daemon_pid=$!
    wait_for_status "$base"
}

# Sends SIGTERM and waits; the exit code (or "timeout") lands in $stop_rc.
stop_ukeyd() {
    local i
    stop_rc=none
    [ -n "$lib_daemon_pid" ] || return 0
    kill -TERM "$lib_daemon_pid" 2>/dev/null
    for ((i = 0; i < LIB_STOP_WAIT_TENTHS; i++)); do
        kill -0 "$lib_daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$lib_daemon_pid" 2>/dev/null; then
        kill -KILL "$lib_daemon_pid"
        wait "$lib_daemon_pid" 2>/dev/null
        stop_rc=timeout
    else
        wait "$lib_daemon_pid"
        stop_rc=$?
    fi
    lib_daemon_pid=
}

# For the EXIT trap: stops what this library started.
lib_cleanup() {
    [ -n "$lib_daemon_pid" ] && kill -KILL "$lib_daemon_pid" 2>/dev/null && wait "$lib_daemon_pid" 2>/dev/null
    [ -n "$lib_ca_pid" ] && kill "$lib_ca_pid" 2>/dev/null && wait "$lib_ca_pid" 2>/dev/null
    [ -n "$lib_rig_started" ] && [ -f "$work/rig/rig.conf" ] && "$rig" stop "$work/rig" >/dev/null 2>&1
    return 0
}

# The id of the token in READER, from GET /v1/tokens (compact JSON).
token_id_in() {   # READER
    curl -s --max-time 10 -H 'Sec-Fetch-Site: none' "$base/v1/tokens" |
        grep -o "\"id\":\"[^\"]*\",\"reader\":\"$1\"" | cut -d'"' -f4
}

# --- token copies, the rig on them, and the reference CA ---------------------

# Copies of the demo tokens (and their certificates, keys and tokens.env) in
# $work/demo, and the CA's seed made from these very copies, so that the CA
# and the tokens agree (PUKs, management keys, certificates). False when the
# seed cannot be made.
copy_demo_tokens() {
    mkdir -p "$work/demo"
    cp "$demo/tokens.env" "$demo"/*.pem "$demo/sm2.state" "$demo/rsa-ec.state" "$work/demo/" &&
        "$top/web-demo/make-demo-seed" "$work/demo" "$build/vtoken" >"$work/seed.log" 2>&1
}

# start_rig_with STATE...: a rig in $work/rig with these token state files
# (the caller's copies, used in place); exports its env like start_rig.
start_rig_with() {
    local args=() s
    for s in "$@"; do args+=(--token "$s"); done
    lib_rig_started=1
    if ! "$rig" start "$work/rig" "${args[@]}" --build "$build" >>"$work/rig-start.log" 2>&1; then
        # One more try: the rig's start races vpcd's port binding on a busy machine.
        "$rig" stop "$work/rig" >/dev/null 2>&1
        rm -rf "$work/rig"
        if ! "$rig" start "$work/rig" "${args[@]}" --build "$build" >>"$work/rig-start.log" 2>&1; then
            diag_file "$work/rig-start.log"
            return 1
        fi
    fi
    # shellcheck disable=SC1091
    . "$work/rig/env"
}

# start_ukey_ca SEED [ARGS...]: the reference CA service on a free loopback
# port with its database in $work/ca.db; $CA is its base URL. Stopped by
# lib_cleanup (or stop_ukey_ca).
start_ukey_ca() {
    local seed=$1 i
    shift
    rm -f "$work/ca.ready"
    "$build/ukey-ca" --listen 127.0.0.1:0 --db "$work/ca.db" --seed "$seed" \
        --ready-file "$work/ca.ready" "$@" 2>>"$work/ukey-ca.log" &
    lib_ca_pid=$!
    for ((i = 0; i < LIB_START_WAIT_TENTHS; i++)); do
        [ -s "$work/ca.ready" ] && break
        sleep 0.1
    done
    CA=$(cat "$work/ca.ready" 2>/dev/null)
    [ -n "$CA" ]
}

stop_ukey_ca() {
    [ -n "$lib_ca_pid" ] && kill "$lib_ca_pid" 2>/dev/null && wait "$lib_ca_pid" 2>/dev/null
    lib_ca_pid=
}

# wait_for_token ID: until GET /v1/tokens/ID answers 200 (the rig re-inserted it).
wait_for_token() {
    local i
    for ((i = 0; i < LIB_START_WAIT_TENTHS; i++)); do
        [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' -H 'Sec-Fetch-Site: none' \
            "$base/v1/tokens/$1")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}
