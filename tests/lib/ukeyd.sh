# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# `work` and CURL_MAX_S are the sourcing script's; port, base, code and
# stop_rc are for it to read.
# shellcheck disable=SC2154,SC2034
#
# tests/lib/ukeyd.sh — a ukeyd of the shell tests: started on a free
# loopback port and stopped by PID (tests/lib/rig.sh's lib_cleanup stops it
# too), and the API requests the tests make with curl.

[ -n "${LIB_UKEYD_LOADED:-}" ] && return 0
LIB_UKEYD_LOADED=1
# shellcheck source=tests/lib/rig.sh
. "$(dirname "${BASH_SOURCE[0]}")/rig.sh"

# wait_for_status BASE_URL [TENTHS]: until GET /v1/status answers.
wait_for_status() {
    local i
    for ((i = 0; i < ${2:-$LIB_START_WAIT_TENTHS}; i++)); do
        curl -s --max-time 1 -o /dev/null "$1/v1/status" && return 0
        sleep 0.1
    done
    return 1
}

# start_ukeyd [--also-v6] LOG COMMAND...: runs COMMAND (a ukeyd, perhaps
# under env, strace or valgrind) in the background with --listen
# 127.0.0.1:PORT on a free port (and [::1]:PORT with --also-v6), and waits
# until it answers. Sets $port, $base and $daemon_pid (for stop_ukeyd).
start_ukeyd() {
    local v6=()
    if [ "$1" = --also-v6 ]; then v6=(--also-v6); shift; fi
    local log=$1
    shift
    port=$(pick_port) || { diag "no free port"; return 1; }
    base=http://127.0.0.1:$port
    [ ${#v6[@]} -eq 0 ] || v6=(--listen "[::1]:$port")
    "$@" --listen "127.0.0.1:$port" "${v6[@]}" >>"$log" 2>&1 &
    daemon_pid=$!
    wait_for_status "$base"
}

# Sends SIGTERM and waits; the exit code (or "timeout") lands in $stop_rc.
stop_ukeyd() {
    local i
    stop_rc=none
    [ -n "$daemon_pid" ] || return 0
    kill -TERM "$daemon_pid" 2>/dev/null
    for ((i = 0; i < LIB_STOP_WAIT_TENTHS; i++)); do
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$daemon_pid" 2>/dev/null; then
        kill -KILL "$daemon_pid"
        wait "$daemon_pid" 2>/dev/null
        stop_rc=timeout
    else
        wait "$daemon_pid"
        stop_rc=$?
    fi
    daemon_pid=
}

# --- requests ---------------------------------------------------------------

# req METHOD PATH [CURL ARGS...]: status in $code, body in $work/body,
# headers in $work/hdr.
req() {
    local method=$1 path=$2
    shift 2
    code=$(curl -s --max-time "${CURL_MAX_S:-10}" -o "$work/body" -D "$work/hdr" -w '%{http_code}' \
        -X "$method" "$@" "$base$path")
}
post_json() {   # PATH BODY [CURL ARGS...]
    local path=$1 body=$2
    shift 2
    req POST "$path" -H 'Content-Type: application/json' --data-binary "$body" "$@"
}
field() { jq -r "$1" "$work/body" 2>/dev/null; }
hdr_has() { tr -d '\r' <"$work/hdr" | grep -qiF -- "$1"; }
body_lacks() { ! grep -qF -- "$1" "$work/body"; }
# expect_json NAME STATUS [JQ-CONDITION...]: each condition true of the body.
expect_json() {
    local name=$1 want=$2 c good=0
    shift 2
    [ "$code" = "$want" ] || good=1
    for c in "$@"; do
        [ "$(jq -r "$c" "$work/body" 2>/dev/null)" = true ] || good=1
    done
    ok $good "$name"
    [ $good -eq 0 ] || diag "got $code: $(head -c 600 "$work/body" | tr '\n' ' ')"
}
problem() { echo ".code == \"$1\""; }

# The id of the token in READER, from GET /v1/tokens (compact JSON).
token_id_in() {   # READER
    curl -s --max-time 10 -H 'Sec-Fetch-Site: none' "$base/v1/tokens" |
        grep -o "\"id\":\"[^\"]*\",\"reader\":\"$1\"" | cut -d'"' -f4
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
