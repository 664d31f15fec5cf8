# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# `work` is the sourcing script's; port and base are for it to read.
# shellcheck disable=SC2154,SC2034
#
# tests/lib/rig.sh — the processes of a shell test: a private PC/SC rig with
# copies of the demo tokens, free loopback ports, helpers started in the
# background and stopped by PID, and the EXIT-trap cleanup of all of them
# (ukeyd and ukey-ca too, when tests/lib/ukeyd.sh and tests/lib/ca.sh
# started them).
#
# The sourcing script sets `work` (tests/lib/tap.sh: make_work) before
# calling anything here, and calls lib_cleanup from its EXIT trap.
# Everything is bounded in time.

[ -n "${LIB_RIG_LOADED:-}" ] && return 0
LIB_RIG_LOADED=1
# shellcheck source=tests/lib/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

rig=$top/tests/rig/rig
demo=$build/demo

readonly LIB_PORT_BASE=12000         # below the rig's vpcd ports and the ephemeral range
readonly LIB_PORT_SPAN=7000
readonly LIB_PORT_TRIES=20          # 7000 ports: a busy machine leaves most free
readonly LIB_START_WAIT_TENTHS=100
readonly LIB_STOP_WAIT_TENTHS=100
readonly LIB_LISTEN_WAIT_TENTHS=50

# What lib_cleanup stops: the rig, the ukeyd and ukey-ca the harness started,
# and the test's own background helpers (it appends their PIDs).
lib_rig_started=
daemon_pid=
ca_pid=
helper_pids=()

# --- ports ------------------------------------------------------------------

port_free() { ! ss -Htln "sport = :$1" | grep -q .; }
# pick_port: a free port, tried at random in the test range.
pick_port() {
    local p i
    for ((i = 0; i < LIB_PORT_TRIES; i++)); do
        p=$((LIB_PORT_BASE + RANDOM % LIB_PORT_SPAN))
        port_free "$p" && { echo "$p"; return 0; }
    done
    return 1
}
# wait_listening PORT [TENTHS]: until something listens on PORT.
wait_listening() {
    local i
    for ((i = 0; i < ${2:-$LIB_LISTEN_WAIT_TENTHS}; i++)); do
        port_free "$1" || return 0
        sleep 0.1
    done
    return 1
}

# --- processes --------------------------------------------------------------------

# stop_pid PID [TENTHS]: SIGTERM, then SIGKILL if it outlives TENTHS.
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < ${2:-$LIB_STOP_WAIT_TENTHS}; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

# ready_url FILE [TENTHS]: what a service (ukey-ca --ready-file) wrote to
# FILE once it listens: its URL; empty when it never did.
ready_url() {
    local i
    for ((i = 0; i < ${2:-$LIB_START_WAIT_TENTHS}; i++)); do
        [ -s "$1" ] && break
        sleep 0.1
    done
    cat "$1" 2>/dev/null
}

# For the EXIT trap: stops what this harness started.
lib_cleanup() {
    local p
    for p in "${helper_pids[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    # A test may have stopped the CA (SIGSTOP) to make it hang.
    [ -n "$ca_pid" ] && kill -CONT "$ca_pid" 2>/dev/null
    [ -n "$ca_pid" ] && kill "$ca_pid" 2>/dev/null && wait "$ca_pid" 2>/dev/null
    [ -n "$lib_rig_started" ] && [ -f "$work/rig/rig.conf" ] && "$rig" stop "$work/rig" >/dev/null 2>&1
    return 0
}

# --- the rig --------------------------------------------------------------

# start_rig_with STATE...: a rig in $work/rig with these token state files
# (the caller's copies, used in place); exports PCSCLITE_CSOCK_NAME and
# RIG_READER_0, 1... from its env file. False (with the rig's log as
# diagnostics) when it cannot start.
start_rig_with() {
    local args=() s
    [ -x "$rig" ] || return 1
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

# start_rig [STATE...]: a rig with copies of both demo tokens (in $work:
# readers 0 and 1), then these state files.
start_rig() {
    [ -f "$demo/sm2.state" ] && [ -f "$demo/rsa-ec.state" ] || return 1
    cp "$demo/sm2.state" "$demo/rsa-ec.state" "$work/" || return 1
    start_rig_with "$work/sm2.state" "$work/rsa-ec.state" "$@"
}
