# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# `work`, CURL_MAX_S and JAR are the sourcing script's; STATUS, BODY,
# HEADERS and URL are for it to read.
# shellcheck disable=SC2154,SC2034
#
# tests/lib/ca-http.sh — the tests of the reference CA service itself
# (ukey-ca, web-demo/ca-service: tests/test-ca-service*.sh): the service on
# a free loopback port with a temporary database, requests to it with curl
# as ukeyd or a portal makes them, and conditions over the last answer.
# A failed check shows that answer.

[ -n "${LIB_CA_HTTP_LOADED:-}" ] && return 0
LIB_CA_HTTP_LOADED=1
# shellcheck source=tests/lib/rig.sh
. "$(dirname "${BASH_SOURCE[0]}")/rig.sh"

ukey_ca=$build/ukey-ca
server_pid=
STATUS=
BODY=
HEADERS=
URL=

show_last_answer() { echo "#   last: HTTP $STATUS $(printf '%s' "$BODY" | head -c 600)"; }
TAP_ON_FAILURE=show_last_answer

# start_server DB LOG SEED [OPTIONS...]: ukey-ca in the background; sets
# URL and server_pid.
start_server() {
    local db=$1 log=$2 seed=$3
    shift 3
    rm -f "$work/ready"
    "$ukey_ca" --listen 127.0.0.1:0 --db "$db" --seed "$seed" --ready-file "$work/ready" \
        "$@" 2>>"$log" &
    server_pid=$!
    URL=$(ready_url "$work/ready")
    [ -n "$URL" ]
}

# SIGTERM and wait; true when the service exited 0.
stop_server() {
    local rc=0
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null
        wait "$server_pid"
        rc=$?
        server_pid=
    fi
    return "$rc"
}

# req METHOD PATH [curl args...]: STATUS, BODY, HEADERS of the answer. With
# JAR set, the cookies live there: a browser's portal session.
req() {
    local method=$1 path=$2 jar=()
    shift 2
    local out
    [ -z "${JAR:-}" ] || jar=(-b "$JAR" -c "$JAR")
    out=$(curl -sS --max-time "$CURL_MAX_S" -X "$method" -D "$work/headers" "${jar[@]}" \
        -w '\n%{http_code}' "$@" "$URL$path" 2>"$work/curl.err")
    STATUS=${out##*$'\n'}
    BODY=${out%$'\n'*}
    HEADERS=$(tr -d '\r' <"$work/headers" 2>/dev/null)
}
# post PATH JSON: a protocol call as ukeyd makes it.
post() { req POST "$1" -H 'Content-Type: application/json' --data-binary "$2"; }
get() { req GET "$1"; }

field() { printf '%s' "$BODY" | jq -r "$1" 2>/dev/null; }
status_is() { [ "$STATUS" = "$1" ]; }
field_is() { [ "$(field "$1")" = "$2" ]; }
header_has() { printf '%s\n' "$HEADERS" | grep -qi "^$1"; }
body_has() { printf '%s' "$BODY" | grep -q -- "$1"; }
body_lacks() { ! printf '%s' "$BODY" | grep -q -- "$1"; }
is_problem() {
    status_is "$1" && field_is .code "$2" && header_has 'Content-Type: application/problem+json'
}
# all CONDITION...: each evaluated in turn, after the request it looks at.
all() { local c; for c in "$@"; do eval "$c" || return 1; done; }
