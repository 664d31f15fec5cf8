#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-ukeyd-client-package.sh — the npm package ukeyd-client
# (web-demo/portal/ukeyd-client/) as a CA's web developer gets it: its version
# is ukeyd's; its error codes and events are exactly those of the daemon's
# sources (api/render/problem.c, api/http/events.c), in the module and in its
# .d.ts; `npm pack` makes a tarball of the module, its types and README,
# which installs into an empty project, imports by name, and type-checks a
# page written against it (strict tsc, with misuses it must refuse); the
# demo portal serves the package's own file; and the package's node tests run
# against a real ukeyd on the PC/SC rig (the version check, the constants).
# TAP on stdout.
set -u

# shellcheck source=tests/lib/ukeyd.sh
. "$(dirname "$0")/lib/ukeyd.sh"

pkg=$top/web-demo/portal/ukeyd-client
lint=$top/tests/lint
tsc=$lint/node_modules/.bin/tsc
ukeyd=$build/ukeyd

need_tools node npm curl ss tar
[ -x "$ukeyd" ] || skip_all "no $ukeyd (build first)"
make_work client-package
cleanup() {
    stop_ukeyd
    lib_cleanup
    remove_work
}
trap cleanup EXIT

if ! "$lint/install" 2>"$work/npm.err"; then
    diag_file "$work/npm.err"
    bail "npm ci in tests/lint failed"
fi

# --- the package's identity ------------------------------------------------------

pkg_field() { node -p "JSON.stringify(require('$pkg/package.json')$1)"; }
make_version=$(sed -n 's/^VERSION *:= *//p' "$top/Makefile")
spec_version=$(awk '/^info:/ { on = 1 } on && /^  version:/ { print $2; exit }' "$top/docs/openapi.yaml")
version=$(pkg_field .version | tr -d '"')
check "package.json is ukeyd-client" test "$(pkg_field .name)" = '"ukeyd-client"'
check "its version $version is ukeyd's (Makefile $make_version, openapi.yaml $spec_version)" \
    test -n "$version" -a "$version" = "$make_version" -a "$version" = "$spec_version"
check "an ES module whose exports name the module and its types" test \
    "$(pkg_field '.type') $(pkg_field '.exports["."].default') $(pkg_field '.exports["."].types')" \
    = '"module" "./ukeyd-client.js" "./ukeyd-client.d.ts"'
check "the portal's ukeyd-client.js is the package's file" \
    test "$(readlink -f "$top/web-demo/portal/ukeyd-client.js")" = "$(readlink -f "$pkg/ukeyd-client.js")"

# --- the codes and events, against the daemon's sources -------------------------------

# Every API code's name in problem.c's table, but the API_OK that is no problem.
sed -n 's/^ *\[API_[A-Z_]*\] = { "\([A-Z_]*\)".*/\1/p' "$top/api/render/problem.c" |
    grep -vx OK | sort >"$work/codes.daemon"
sed -n 's/^ *\[TOKEN_EV_[A-Z_]*\] = "\([a-z-]*\)",$/\1/p' "$top/api/http/events.c" >"$work/events.daemon"
grep -q '"event: resync' "$top/api/http/events.c" && echo resync >>"$work/events.daemon"
sort -o "$work/events.daemon" "$work/events.daemon"
node --input-type=module -e "
    const m = await import('$pkg/ukeyd-client.js');
    console.log([...m.ERROR_CODES].sort().join('\n'));" >"$work/codes.client"
node --input-type=module -e "
    const m = await import('$pkg/ukeyd-client.js');
    console.log([...m.EVENT_TYPES].sort().join('\n'));" >"$work/events.client"
check "problem.c has codes ($(wc -l <"$work/codes.daemon")), events.c events ($(wc -l <"$work/events.daemon"))" \
    test "$(wc -l <"$work/codes.daemon")" -gt 40 -a "$(wc -l <"$work/events.daemon")" -gt 8
check "ERROR_CODES are exactly problem.c's codes" cmp -s "$work/codes.daemon" "$work/codes.client"
diff "$work/codes.daemon" "$work/codes.client" | diag_file /dev/stdin 10
check "EVENT_TYPES are exactly the events ukeyd sends" cmp -s "$work/events.daemon" "$work/events.client"
diff "$work/events.daemon" "$work/events.client" | diag_file /dev/stdin 10
missing=
while read -r code; do
    grep -qF "readonly $code: \"$code\";" "$pkg/ukeyd-client.d.ts" || missing="$missing $code"
done <"$work/codes.daemon"
check "the .d.ts declares every code as a constant${missing:+ (missing:$missing)}" test -z "$missing"
missing=
while read -r event; do
    grep -qF "| \"$event\"" "$pkg/ukeyd-client.d.ts" &&
        grep -qE "^  \"?$event\"?: " "$pkg/ukeyd-client.d.ts" || missing="$missing $event"
done <"$work/events.daemon"
check "…and every event in EventType and EventDataMap${missing:+ (missing:$missing)}" test -z "$missing"

# --- npm pack, and a CA's project installing the tarball ---------------------------------

(cd "$pkg" && npm pack --pack-destination "$work" --loglevel=error) >"$work/pack.out" 2>&1
tarball=$work/ukeyd-client-$version.tgz
check "npm pack makes ukeyd-client-$version.tgz" test -s "$tarball"
[ -s "$tarball" ] || diag_file "$work/pack.out"
tar -tzf "$tarball" 2>/dev/null | sort | tr '\n' ' ' >"$work/pack.list"
check "…holding the module, its types, README and package.json, no tests" test \
    "$(cat "$work/pack.list")" = \
    "package/README.md package/package.json package/ukeyd-client.d.ts package/ukeyd-client.js "
diag "packed: $(cat "$work/pack.list")"

app=$work/ca-portal
mkdir -p "$app"
echo '{ "name": "ca-portal", "version": "1.0.0", "private": true, "type": "module" }' >"$app/package.json"
(cd "$app" && npm install --no-audit --no-fund --offline --loglevel=error "$tarball") >"$work/install.out" 2>&1
check "npm install of the tarball into an empty project" test -f "$app/node_modules/ukeyd-client/ukeyd-client.d.ts"
[ -f "$app/node_modules/ukeyd-client/ukeyd-client.d.ts" ] || diag_file "$work/install.out"
imported=$(cd "$app" && node --input-type=module -e "
    const m = await import('ukeyd-client');
    const e = new m.UpdateRequiredError('0.1.0', '0.2.0');
    console.log(typeof m.UkeydClient, m.ErrorCode.PIN_LAST_TRY, e instanceof m.UkeydError, e.kind);" 2>&1)
check "import 'ukeyd-client' by name gives the client, constants and errors" \
    test "$imported" = "function PIN_LAST_TRY true update-required"
[ "$imported" = "function PIN_LAST_TRY true update-required" ] || diag "$imported"

cp "$pkg/test/usage.ts" "$pkg/test/tsconfig.json" "$app/"
(cd "$app" && "$tsc" -p tsconfig.json) >"$work/tsc.out" 2>&1
check "tsc --strict type-checks a page using the installed types (misuses refused)" test $? -eq 0
diag_file "$work/tsc.out" 20
printf '\nexport const typo: import("ukeyd-client").ErrorCode = "PIN_WRONG";\n' >>"$app/usage.ts"
(cd "$app" && "$tsc" -p tsconfig.json) >"$work/tsc-typo.out" 2>&1
check "…and refuses a misspelt error code" grep -q "PIN_WRONG" "$work/tsc-typo.out"

# --- the package's tests, against a real ukeyd ------------------------------------------------

if ! start_rig; then
    ok 1 "the PC/SC rig starts"
    done_testing
    exit
fi
cat >"$work/ukeyd.conf" <<CONF
[ukeyd]
origins = https://portal.example.cn
# root runs the tests, and nobody sits at a seat here.
peer-policy = any-local
CONF
if ! start_ukeyd "$work/ukeyd.log" "$ukeyd" --config "$work/ukeyd.conf"; then
    ok 1 "ukeyd starts against the rig"
    diag_file "$work/ukeyd.log"
    done_testing
    exit
fi
diag "node --test web-demo/portal/ukeyd-client/test/ against $base"
(cd "$pkg" && UKEYD_TEST_BASE=$base UKEYD_TEST_VERSION=$make_version \
    timeout 120 node --test --test-reporter=tap test/) >"$work/node.out" 2>&1
rc=$?
sed -n 's/^# \(tests\|pass\|fail\|skipped\) /\1 /p' "$work/node.out" | tr '\n' ' ' >"$work/node.sum"
check "the package's node tests pass against ukeyd: $(cat "$work/node.sum")" \
    grep -qE '^tests ([1-9][0-9]*) pass \1 fail 0 skipped 0 ' "$work/node.sum"
[ "$rc" -eq 0 ] || grep -E '^ *not ok|error:|expected|actual' "$work/node.out" | diag_file /dev/stdin 30
stop_ukeyd
check "ukeyd stopped cleanly" test "$stop_rc" = 0
done_testing
