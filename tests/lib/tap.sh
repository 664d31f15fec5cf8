# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# `work` is the sourcing script's; n, failed, top and build are for it to read.
# shellcheck disable=SC2154,SC2034
#
# tests/lib/tap.sh — TAP output for every shell test (tests/test-*.sh): the
# numbered ok/not ok lines, diagnostics, the skip and bail-out lines, the
# closing plan, and the test's scratch directory, kept when a check failed.
# Sourced first; the other files of tests/lib/ source it themselves.

[ -n "${LIB_TAP_LOADED:-}" ] && return 0
LIB_TAP_LOADED=1

top=${UKEYD_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
build=${UKEYD_BUILD:-$top/build}

n=0
failed=0
# A test may name a function here that shows, after each "not ok", what the
# check looked at (the last answer, the last output).
TAP_ON_FAILURE=

ok() {   # STATUS NAME: STATUS 0 is ok
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failed=$((failed + 1))
        [ -z "$TAP_ON_FAILURE" ] || "$TAP_ON_FAILURE"
    fi
}
check() { local name=$1; shift; if "$@"; then ok 0 "$name"; else ok 1 "$name"; fi; }
diag() { echo "# $*"; }
# Prints FILE (or stdin) as TAP diagnostics, at most LINES lines.
diag_file() { sed -n "1,${2:-30}p" "${1:-/dev/stdin}" | sed 's/^/#   /'; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
bail() { echo "Bail out! $*"; exit 1; }
done_testing() { echo "1..$n"; [ "$failed" -eq 0 ]; }

# need_tools TOOL...: skips the whole test when one is not installed.
need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || skip_all "$tool is not installed (build-aux/install-deps test)"
    done
}

# make_work NAME: a fresh scratch directory in $work.
make_work() { work=$(mktemp -d "${TMPDIR:-/tmp}/ukeyd-test-$1.XXXXXX"); }

# For the EXIT trap: the scratch directory goes when every check passed.
remove_work() {
    [ -n "${work:-}" ] || return 0
    if [ "$failed" -eq 0 ]; then rm -rf "$work"; else diag "kept $work for a look"; fi
}

# Whether FILE... (or the files under a folder) hold SECRET as a word of its
# own. A 6-digit code also turns up by chance inside the hex of a random id
# ("rev-34886365…"), which is no leak; a secret a log printed stands apart.
holds_secret() {   # SECRET FILE...
    local s=$1
    shift
    grep -rqP -- "(?<![0-9A-Za-z])\\Q$s\\E(?![0-9A-Za-z])" "$@" 2>/dev/null
}
