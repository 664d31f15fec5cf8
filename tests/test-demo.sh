#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-demo.sh — `make demo` (web-demo/run-demo) as a newcomer runs it:
# it starts, the URLs and curl lines it prints work, Ctrl-C (SIGINT) stops
# everything it started, a second run starts afresh, and a run whose ports
# are taken falls back to free ones and says so. Installing and building are
# skipped here (DEMO_NO_DEPS, DEMO_NO_BUILD): make check has done both.
#
# TAP on stdout. Ports are picked free for the test, so an installed ukeyd
# or a demo a developer runs on 17990/17991 is never disturbed.
# The bash -c conditions are single-quoted on purpose: they get their values
# as arguments.
# shellcheck disable=SC2317,SC2016  # cleanup functions run from traps
set -u

# shellcheck source=tests/lib/rig.sh
. "$(dirname "$0")/lib/rig.sh"

readonly START_WAIT_TENTHS=300
readonly STOP_WAIT_TENTHS=150

need_tools curl jq ss
for f in ukeyd ukey-ca vtoken rig/pcsc-wait demo/sm2.state; do
    [ -e "$build/$f" ] || skip_all "no $build/$f (build first)"
done

# Job control: a background job of a script without it starts with SIGINT
# ignored, which no trap can undo; with it, the demo gets Ctrl-C as it does
# in a terminal.
set -m

make_work demo
demo_pids=()
cleanup() {
    local p
    for p in "${demo_pids[@]}"; do
        stop_demo "$p" || { kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; }
    done
    remove_work
}
trap cleanup EXIT

ukeyd_port=$(pick_port) || skip_all "no free port"
ca_port=$(pick_port) || skip_all "no free port"
[ "$ukeyd_port" != "$ca_port" ] || skip_all "no two free ports"

# start_demo NAME [ENV=VALUE...]: runs run-demo in the background, output in
# $work/NAME.out; waits for its whole banner (run-demo prints it in pieces,
# so its first line says nothing of the rest: wait for the last). Sets
# $demo_pid.
start_demo() {
    local name=$1 i
    shift
    env DEMO_NO_DEPS=1 DEMO_NO_BUILD=1 UKEYD_BUILD="$build" UKEYD_PORT="$ukeyd_port" \
        UKEY_CA_PORT="$ca_port" "$@" "$top/web-demo/run-demo" </dev/null >"$work/$name.out" 2>&1 &
    demo_pid=$!
    demo_pids+=("$demo_pid")
    for ((i = 0; i < START_WAIT_TENTHS; i++)); do
        grep -q '^ Stop: press Ctrl-C' "$work/$name.out" && return 0
        kill -0 "$demo_pid" 2>/dev/null || break
        sleep 0.1
    done
    sed 's/^/#   /' "$work/$name.out"
    return 1
}

# stop_demo PID: Ctrl-C, as a user would; true when it ended in time.
stop_demo() {
    local pid=$1 i
    kill -INT "$pid" 2>/dev/null
    for ((i = 0; i < STOP_WAIT_TENTHS; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.1
    done
    return 1
}

# The value printed after a label line, e.g. the URL under "Portal".
portal_url() { sed -n '/Portal (open/{n;s/^ *//;p;q}' "$work/$1.out"; }
state_dir() { sed -n 's/^ Logs: \(.*\)\/ukeyd\.log,.*/\1/p' "$work/$1.out"; }
printed_curl() {   # NAME PATTERN -> the first printed curl line matching PATTERN
    grep -E "^ +curl .*$2" "$work/$1.out" | head -n 1 | sed 's/^ *//'
}

# --- the first run ---------------------------------------------------------------

check "make demo starts and prints its banner" start_demo run1
pid1=$demo_pid
url=$(portal_url run1)
state1=$(state_dir run1)
check "the portal URL is the CA service on its port, no ukeyd port in it ($url)" \
    test "$url" = "http://127.0.0.1:$ca_port/"
check "the portal's configuration names the demo's ukeyd port" \
    test "$(curl -s --max-time 5 "http://127.0.0.1:$ca_port/portal/config.json" | jq -r .ukeydBase)" \
    = "http://127.0.0.1:$ukeyd_port"
page=$(curl -s --max-time 5 "$url")
check "the portal page is served" grep -q '证书助手' <<<"$page"
check "the portal's script is served" \
    curl -sf --max-time 5 -o /dev/null "http://127.0.0.1:$ca_port/app.js"

status_line=$(printed_curl run1 '/v1/status')
out=$(eval "$status_line --max-time 5")
check "the printed status curl line answers" test "$(jq -r .pcscAvailable <<<"$out")" = true
tokens_line=$(printed_curl run1 '/v1/tokens$')
out=$(eval "$tokens_line --max-time 5")
check "the printed tokens curl line shows 演示专用 and Zhang Wei 张伟" \
    bash -c 'grep -q 演示专用 <<<"$1" && grep -q "Zhang Wei 张伟" <<<"$1"' _ "$out"
check "…and the SKF key beside the PIV tokens: 演示专用's signing and encryption certificates" \
    test "$(jq -c '[.tokens[] | select(.edge == "SKF") | .certificates[] | [.label, .subject.commonName]]' <<<"$out")" = \
        '[["SKF signing","演示专用"],["SKF encryption","演示专用"]]'
check "…its factory PIN flagged for the portal's nudge" \
    test "$(jq '[.tokens[] | select(.edge == "SKF") | .pin.isDefault] == [true]' <<<"$out")" = true
check "the banner names the SKF key" grep -q 'SKF key (a GM/T 0016 library, not PC/SC): skf-' "$work/run1.out"
pin_line=$(printed_curl run1 '/pin$')
out=$(eval "$pin_line --max-time 5")
check "the printed PIN curl line names the SM2 token" test "$(jq -r .triesLeft <<<"$out")" = 3
sock_line=$(printed_curl run1 'unix-socket')
if [ -n "$sock_line" ]; then
    out=$(eval "$sock_line --max-time 5")
    check "the printed support-socket curl line answers" \
        bash -c 'jq -e . <<<"$1" >/dev/null' _ "$out"
fi
check "the SMS outbox answers" \
    curl -sf --max-time 5 -o /dev/null "http://127.0.0.1:$ca_port/demo/api/outbox"
check "the review queue answers" \
    curl -sf --max-time 5 -o /dev/null "http://127.0.0.1:$ca_port/demo/admin/reviews"
check "the CORS preflight allows the portal's origin" bash -c '
    curl -s --max-time 5 -D - -o /dev/null -X OPTIONS \
        -H "Origin: http://127.0.0.1:$1" -H "Access-Control-Request-Method: POST" \
        -H "Access-Control-Request-Headers: content-type" \
        "http://127.0.0.1:$2/v1/status" | tr -d "\r" |
    grep -qi "^Access-Control-Allow-Origin: http://127.0.0.1:$1$"' _ "$ca_port" "$ukeyd_port"

# Spend a PIN try: the next run must not remember it.
id=$(grep -o 'tokens/piv-[0-9a-f]*/pin' "$work/run1.out" | head -n 1 | cut -d/ -f2)
curl -s --max-time 10 -H 'Content-Type: application/json' -d '{"pin":"000000"}' \
    -o /dev/null "http://127.0.0.1:$ukeyd_port/v1/tokens/$id/pin/verify"

check "Ctrl-C stops the demo" stop_demo "$pid1"
check "it says it stopped everything" grep -q 'stopped everything it started' "$work/run1.out"
check "its ports are free again" bash -c '! ss -Htln "( sport = :$1 or sport = :$2 )" | grep -q .' \
    _ "$ukeyd_port" "$ca_port"
check "its state directory is gone ($state1)" test -n "$state1" -a ! -e "$state1"
no_process_under() { ! pgrep -f -- "$1" >/dev/null; }
check "no process of it is left" no_process_under "$state1"

# --- a second run, and a third beside it -------------------------------------------

check "a second run starts" start_demo run2
pid2=$demo_pid
out=$(curl -s --max-time 5 "http://127.0.0.1:$ukeyd_port/v1/tokens/$id/pin")
check "the second run starts afresh (3 PIN tries again)" test "$(jq -r .triesLeft <<<"$out")" = 3

check "a run whose ports are taken still starts" start_demo run3 DEMO_EXIT_AFTER_START=1
check "... says the port is taken and which it uses instead" \
    grep -q "port $ukeyd_port is taken" "$work/run3.out"
other=$(portal_url run3)
check "... and prints a portal URL with its own ports ($other)" \
    test -n "$other" -a "$other" != "$url"
wait "$demo_pid" 2>/dev/null
check "... and stops by itself (DEMO_EXIT_AFTER_START)" grep -q 'stopped everything' "$work/run3.out"
out=$(curl -s --max-time 5 "http://127.0.0.1:$ukeyd_port/v1/status")
check "the second run was not disturbed by the third" test "$(jq -r .pcscAvailable <<<"$out")" = true
check "Ctrl-C stops the second run" stop_demo "$pid2"
demo_pids=()

# --- make demo, stopped with Ctrl-C as in a terminal ------------------------------

# A terminal's Ctrl-C goes to its whole foreground process group: make and
# run-demo alike. Stopping is how the demo ends, so run-demo exits 0 and
# make prints no "*** [Makefile:…: demo] Error 130".
(cd "$top" && exec env DEMO_NO_DEPS=1 DEMO_NO_BUILD=1 UKEYD_PORT="$ukeyd_port" \
    UKEY_CA_PORT="$ca_port" make --no-print-directory demo BUILD="$build" \
    </dev/null >"$work/make.out" 2>&1) &
make_pid=$!
demo_pids+=("$make_pid")
started=0
for ((i = 0; i < START_WAIT_TENTHS; i++)); do
    grep -q '^ Stop: press Ctrl-C' "$work/make.out" && { started=1; break; }
    kill -0 "$make_pid" 2>/dev/null || break
    sleep 0.1
done
check "make demo starts" test "$started" = 1
kill -INT -- "-$make_pid" 2>/dev/null
stopped=0
for ((i = 0; i < STOP_WAIT_TENTHS; i++)); do
    kill -0 "$make_pid" 2>/dev/null || { stopped=1; break; }
    sleep 0.1
done
wait "$make_pid" 2>/dev/null
check "Ctrl-C to make's process group stops it" test "$stopped" = 1
check "…and run-demo says it stopped everything" \
    grep -q 'stopped everything it started' "$work/make.out"
errors=$(grep -E 'make(\[[0-9]+\])?: \*\*\*|Error [0-9]+' "$work/make.out")
check "…with no make error line${errors:+ ($errors)}" test -z "$errors"
[ "$stopped" = 1 ] && demo_pids=()

done_testing
