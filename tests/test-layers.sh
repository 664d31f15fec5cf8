#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-layers.sh — the include rules of docs/architecture.md hold:
# build-aux/check-includes finds no breach in the tree, and it does find one
# when a file breaks a rule (so that this test can fail): a base header
# reaching up into the HTTP front, the front reaching into the workflows,
# the API layer reaching past token/token.h, token/ reaching up into api/.
# TAP on stdout.
set -u

# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"

checker=$top/build-aux/check-includes
[ -x "$checker" ] || bail "no $checker"

make_work layers
cleanup() { remove_work; }
trap cleanup EXIT

out=$("$checker" "$top" 2>&1)
rc=$?
ok "$rc" "the tree keeps the include rules"
[ "$rc" -eq 0 ] || diag_file <(printf '%s\n' "$out") 40

# A tree of a few files outside git (the checker then lists them with find):
# first one that keeps every rule, then each breach added to it alone.
mini=$work/tree
mkdir -p "$mini/build-aux" "$mini/api/base" "$mini/api/http" "$mini/api/unlock" \
         "$mini/api/v1" "$mini/token" "$mini/daemon"
cp "$checker" "$mini/build-aux/"
printf '#include "api/base/log.h"\n' >"$mini/api/http/server.c"
printf '#include "api/http/request.h"\n#include "token/token.h"\n' >"$mini/api/v1/pin.c"
printf '#include "token/apdu.h"\n' >"$mini/token/piv.c"
printf '#include "api/app.h"\n#include "token/token.h"\n' >"$mini/daemon/main.c"
( cd "$mini" && git init -q . 2>/dev/null; true )
"$mini/build-aux/check-includes" "$mini" >"$work/clean.out" 2>&1
ok $? "a tree that keeps the rules passes"
diag_file "$work/clean.out" 10

# breach FILE INCLUDE NAME: the checker fails and names FILE and INCLUDE.
breach() {
    local file=$1 inc=$2 name=$3 saved
    saved=$(cat "$mini/$file" 2>/dev/null)
    printf '#include "%s"\n' "$inc" >>"$mini/$file"
    "$mini/build-aux/check-includes" "$mini" >"$work/breach.out" 2>&1
    local rc=$?
    check "$name: refused" test "$rc" -ne 0
    check "$name: named" grep -qF "$file includes \"$inc\"" "$work/breach.out"
    printf '%s\n' "$saved" >"$mini/$file"
}
breach api/base/json.h api/http/request.h "the base including the HTTP front"
breach api/http/server.c api/unlock/unlock.h "the HTTP front including a workflow"
breach api/unlock/unlock.c api/http/request.h "a workflow including the HTTP front"
breach api/v1/pin.c token/apdu.h "the API layer including past token/token.h"
breach token/piv.c api/base/log.h "the token layer including the API layer"

done_testing
