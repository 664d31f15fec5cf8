#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-openapi.sh — docs/openapi.yaml as a CA's tools read it: Redocly's
# CLI (the version tests/lint/package-lock.json pins) lints it with its
# recommended rules (tests/lint/redocly.yaml) and must find no error and no
# warning. A copy with a description YAML splits at a comma, and one without
# the root `security`, must fail the same lint, so the check can fail. TAP on
# stdout.
set -u

# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"

spec=$top/docs/openapi.yaml
lint=$top/tests/lint
redocly=$lint/node_modules/.bin/redocly
# No usage report leaves the machine, no update notice in the output.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

need_tools node npm
make_work openapi
trap remove_work EXIT

if ! "$lint/install" 2>"$work/npm.err"; then
    diag_file "$work/npm.err"
    bail "npm ci in tests/lint failed"
fi
pinned=$(node -p "require('$lint/package-lock.json').packages['node_modules/@redocly/cli'].version")
check "redocly is the pinned $pinned" test "$("$redocly" --version 2>/dev/null)" = "$pinned"

# lint_totals FILE: "ERRORS WARNINGS" of Redocly's lint of FILE.
lint_totals() {
    "$redocly" lint --config "$lint/redocly.yaml" --format=json "$1" >"$work/lint.json" 2>"$work/lint.err"
    node -e '
        const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).totals;
        console.log(t.errors, t.warnings);' "$work/lint.json" 2>>"$work/lint.err"
}
show_problems() {
    node -e '
        for (const p of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).problems)
            console.log(`${p.severity} ${p.ruleId}: ${p.message} (${p.location?.[0]?.pointer ?? ""})`);' \
        "$work/lint.json" 2>/dev/null | diag_file /dev/stdin 40
    diag_file "$work/lint.err" 10
}

read -r errors warnings < <(lint_totals "$spec")
check "docs/openapi.yaml: no lint error (${errors:-none counted})" test "${errors:-x}" = 0
check "docs/openapi.yaml: no lint warning (${warnings:-none counted})" test "${warnings:-x}" = 0
[ "${errors:-x}${warnings:-x}" = 00 ] || show_problems

# The same lint on two broken copies: a flow mapping whose description has an
# unquoted comma (the YAML splits it into a bogus key), and no root security.
sed 's/^\(        edge: { type: string, description: \)'"'"'\(.*\)'"'"' }$/\1\2 }/' "$spec" >"$work/comma.yaml"
check "the comma copy differs from the file" bash -c "! cmp -s '$spec' '$work/comma.yaml'"
read -r errors _ < <(lint_totals "$work/comma.yaml")
check "…and fails the lint (${errors:-none counted} errors)" test "${errors:-0}" -gt 0
grep -v '^security: \[\]$' "$spec" >"$work/nosecurity.yaml"
check "the copy without root security differs from the file" bash -c "! cmp -s '$spec' '$work/nosecurity.yaml'"
read -r errors _ < <(lint_totals "$work/nosecurity.yaml")
check "…and fails the lint (${errors:-none counted} errors)" test "${errors:-0}" -gt 0

done_testing
