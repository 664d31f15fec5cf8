#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-ukeyd-client.sh — web-demo/portal/ukeyd-client.js, the
# JavaScript client of docs/portal-guide.md, against a real ukeyd on the
# PC/SC rig under Node.js: every read, the problem errors (localized), the
# PIN's last-try confirmation, diagnose() in each of its cases, timeouts, and
# the event stream. The checks are in tests/ukeyd-client.test.mjs. The
# guide's own example page is checked to parse and to use only what the
# client exports. TAP on stdout.
set -u

# shellcheck source=tests/lib/ukeyd.sh
. "$(dirname "$0")/lib/ukeyd.sh"

client=$top/web-demo/portal/ukeyd-client.js
guide=$top/docs/portal-guide.md
ukeyd=$build/ukeyd

command -v node >/dev/null || skip_all "no node (build-aux/install-deps test)"
for tool in curl ss; do command -v "$tool" >/dev/null || skip_all "no $tool"; done
[ -x "$ukeyd" ] || skip_all "no $ukeyd (build first)"

make_work client
cleanup() {
    stop_ukeyd
    lib_cleanup
    remove_work
}
trap cleanup EXIT

# Node runs .mjs as a module whatever the package.json around it says.
cp "$client" "$work/ukeyd-client.mjs"
check "ukeyd-client.js parses" node --check "$work/ukeyd-client.mjs"

# The guide's complete page: its module script must parse, and import only
# names the client exports.
awk '/^<script type="module">$/ { on = 1; next } /^<\/script>$/ { on = 0 } on' "$guide" \
    | sed 's|"./ukeyd-client.js"|"./ukeyd-client.mjs"|' >"$work/guide-page.mjs"
check "the guide's example page has a module script" test -s "$work/guide-page.mjs"
check "…which parses" node --check "$work/guide-page.mjs"
imports=$(sed -n 's/^import { \(.*\) } from .*/\1/p' "$work/guide-page.mjs" | tr -d ' ' | tr ',' ' ')
exports=$(node --input-type=module -e \
    "const m = await import('$work/ukeyd-client.mjs'); console.log(Object.keys(m).join(' '))")
missing=
for name in $imports; do [[ " $exports " == *" $name "* ]] || missing="$missing $name"; done
check "…and imports only what the client exports ($imports)" test -n "$imports" -a -z "$missing"
# Every method in the guide's table is one the client has.
methods=$(sed -n '/^## 9\./,$p' "$guide" | grep -oE '^\| `[a-zA-Z]+\(' | tr -d '|` (' | sort -u | tr '\n' ' ')
missing=$(node --input-type=module -e "
    const { UkeydClient } = await import('$work/ukeyd-client.mjs');
    const have = Object.getOwnPropertyNames(UkeydClient.prototype);
    console.log('$methods'.trim().split(' ').filter((m) => !have.includes(m)).join(' '));")
check "every method in the guide's table exists ($(wc -w <<<"$methods") checked)" \
    test -n "$methods" -a -z "$missing"
[ -z "$missing" ] || diag "missing: $missing"

if ! start_rig; then
    ok 1 "the PC/SC rig starts"
    done_testing
    exit
fi
cat >"$work/ukeyd.conf" <<CONF
[ukeyd]
origins = https://portal.example.cn
pin-pacing-ms = 50
# root runs the tests, and nobody sits at a seat here.
peer-policy = any-local
CONF
if ! start_ukeyd "$work/ukeyd.log" "$ukeyd" --config "$work/ukeyd.conf"; then
    ok 1 "ukeyd starts against the rig"
    diag_file "$work/ukeyd.log"
    done_testing
    exit
fi
dead_port=$(pick_port)
diag "node tests/ukeyd-client.test.mjs against $base"
TAP_START=$n timeout 120 node "$top/tests/ukeyd-client.test.mjs" "$work/ukeyd-client.mjs" "$base" \
    "$rig" "$work/rig" "$RIG_READER_0" "$RIG_READER_1" "$dead_port" >"$work/node.out" 2>&1
rc=$?
cat "$work/node.out"
count=$(sed -n 's/^# count \([0-9]*\)$/\1/p' "$work/node.out")
failed=$((failed + $(grep -c '^not ok ' "$work/node.out")))
if [ -n "$count" ]; then n=$count; else ok 1 "the node tests ran to the end (exit $rc)"; fi
stop_ukeyd
check "ukeyd stopped cleanly" test "$stop_rc" = 0
done_testing
