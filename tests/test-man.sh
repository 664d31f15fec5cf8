#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-man.sh — the man pages ukeyd(8) and ukeyd.conf(5):
# - groff and man render them without a single warning, and man-db finds
#   their NAME line (what whatis and apropos show);
# - ukeyd(8) names every option of `ukeyd --help`, and the version of the
#   Makefile;
# - ukeyd.conf(5) documents exactly the keys the daemon reads: each key in
#   the page is one ukeyd knows (it does not answer "unknown key"), each key
#   of daemon/config.c is in the page, and so is each key of the example
#   configuration;
# - every "From A to B; default D." in ukeyd.conf(5) is what ukeyd accepts:
#   A, B and D pass --check-config, one past either end fails;
# - the daemon's messages point to these installed pages ("see
#   ukeyd.conf(5)"), never to a file of the source tree (docs/…md).
# TAP on stdout.
set -u

# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"

ukeyd=$build/ukeyd
man8=$top/man/ukeyd.8
man5=$top/man/ukeyd.conf.5

command -v groff >/dev/null || skip_all "no groff (build-aux/install-deps package)"
command -v man >/dev/null || skip_all "no man (build-aux/install-deps package)"
[ -x "$ukeyd" ] || skip_all "no $ukeyd (build first)"

make_work man
cleanup() { remove_work; }
trap cleanup EXIT

# --- rendering -----------------------------------------------------------------

for page in "$man8" "$man5"; do
    name=$(basename "$page")
    out=$(groff -man -ww -z "$page" 2>&1)
    check "groff -man -ww: no warning in $name" test -z "$out"
    [ -z "$out" ] || printf '#   %s\n' "$out"
    out=$(MANWIDTH=80 man -l "$page" 2>&1 >"$work/$name.txt")
    check "man -l renders $name without a warning" test -z "$out" -a -s "$work/$name.txt"
    [ -z "$out" ] || printf '#   %s\n' "$out"
    if command -v lexgrog >/dev/null; then
        check "man-db reads the NAME line of $name" eval "lexgrog \"\$page\" >/dev/null"
    fi
done

version=$(sed -n 's/^VERSION *:= *//p' "$top/Makefile")
check "both pages carry the version $version" \
    test "$(grep -c "^\.TH .* \"ukeyd $version\" " "$man8" "$man5" | awk -F: '{ s += $2 } END { print s }')" = 2

# --- ukeyd(8) and the options ------------------------------------------------------------

options=$("$ukeyd" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u)
missing=
for o in $options; do grep -qF -- "$o" "$work/ukeyd.8.txt" || missing="$missing $o"; done
check "ukeyd(8) names every option of --help ($(wc -w <<<"$options"))${missing:+, not:$missing}" \
    test -n "$options" -a -z "$missing"
for s in SIGHUP SIGTERM EX_CONFIG EX_USAGE; do
    check "ukeyd(8) explains $s" grep -q "$s" "$work/ukeyd.8.txt"
done

# --- ukeyd.conf(5) and the keys --------------------------------------------------------

# The keys the page documents: each ".TP" entry of the KEYS section starts
# with ".BR key ...".
sed -n '/^\.SH KEYS$/,/^\.SH [^K]/p' "$man5" | awk 'prev == ".TP" { print } { prev = $0 }' |
    sed -n 's/^\.BR* \([a-z\\-]*\).*/\1/p' | sed 's/\\-/-/g' | sort -u >"$work/page.keys"
# The keys daemon/config.c reads: its table of numbers and its strcmp()s.
grep -oE '\{ "[a-z-]+", offsetof|strcmp\(name, "[a-z-]+"\)' "$top/daemon/config.c" |
    grep -oE '"[a-z-]+"' | tr -d '"' | sort -u >"$work/code.keys"
# The keys the example configuration shows, set or commented out.
sed -nE 's/^#?([a-z][a-z-]*) *=.*/\1/p' "$top/docs/ukeyd.conf.example" | sort -u >"$work/example.keys"

diag "the page documents $(wc -l <"$work/page.keys") keys; daemon/config.c reads $(wc -l <"$work/code.keys")"
missing=$(comm -13 "$work/page.keys" "$work/code.keys" | tr '\n' ' ')
check "every key of daemon/config.c is in ukeyd.conf(5)${missing:+ (not: $missing)}" \
    test -s "$work/code.keys" -a -z "$missing"
missing=$(comm -13 "$work/page.keys" "$work/example.keys" | tr '\n' ' ')
check "every key of docs/ukeyd.conf.example is in ukeyd.conf(5)${missing:+ (not: $missing)}" \
    test -z "$missing"
unknown=
while read -r key; do
    printf '[ukeyd]\n%s = x\n' "$key" >"$work/key.conf"
    "$ukeyd" --config "$work/key.conf" --check-config 2>&1 | grep -q 'unknown key' && unknown="$unknown $key"
done <"$work/page.keys"
check "ukeyd knows every key of ukeyd.conf(5)${unknown:+ (not:$unknown)}" test -z "$unknown"

# --- messages point to installed pages ----------------------------------------------------

# What an administrator sees for a key ukeyd does not know points to the man
# page they have, not to a file of the source tree.
printf '[ukeyd]\nno-such-key = 1\n' >"$work/unknown.conf"
out=$("$ukeyd" --config "$work/unknown.conf" --check-config 2>&1)
check "an unknown key's message points to ukeyd.conf(5) ($out)" grep -qF '(see ukeyd.conf(5))' <<<"$out"
check "…and to no source path" bash -c '! grep -qE "docs/|README|\.md\b" <<<"$1"' _ "$out"
# Every page of ukeyd's own that the daemon's strings name is installed;
# no string names a document by its place in the source tree.
named=$(grep -rhoE '"[^"]*ukeyd[a-z.]*\([0-9]\)' "$top/daemon" "$top/api" "$top/token" \
    --include='*.c' --include='*.h' | grep -oE 'ukeyd[a-z.]*\([0-9]\)' | sort -u)
missing=
for page in $named; do
    [ -f "$top/man/${page%(*}.${page: -2:1}" ] || missing="$missing $page"
done
check "the pages the daemon's messages name are in man/ ($(echo $named))${missing:+, not:$missing}" \
    test -n "$named" -a -z "$missing"
sources=$(grep -rlE '"[^"]*(docs/[a-z-]+\.md|README)' "$top/daemon" "$top/api" "$top/token" \
    --include='*.c' | sed "s|$top/||" | tr '\n' ' ')
check "no message of the daemon names a source file${sources:+ (in: $sources)}" test -z "$sources"

# --- ranges and defaults ------------------------------------------------------------------

accepts() {   # KEY VALUE
    printf '[ukeyd]\n%s = %s\n' "$1" "$2" >"$work/range.conf"
    "$ukeyd" --config "$work/range.conf" --check-config >/dev/null 2>&1
}

# "KEY MIN MAX DEFAULT" for each entry with "From A to B; default D."
sed -n '/^\.SH KEYS$/,/^\.SH [^K]/p' "$man5" | awk '
    prev == ".TP" { key = $2; gsub(/\\-/, "-", key) }
    /^From [0-9]+ to [0-9]+; default [0-9]+\.$/ { print key, $2 + 0, $4 + 0, $6 + 0 }
    { prev = $0 }' >"$work/ranges"
check "ukeyd.conf(5) states ranges ($(wc -l <"$work/ranges") keys)" test -s "$work/ranges"
bad=
while read -r key min max def; do
    accepts "$key" "$min" || bad="$bad $key=$min"
    accepts "$key" "$max" || bad="$bad $key=$max"
    accepts "$key" "$def" || bad="$bad $key=$def"
    [ "$def" -ge "$min" ] && [ "$def" -le "$max" ] || bad="$bad $key:default-outside"
    accepts "$key" $((max + 1)) && bad="$bad $key=$((max + 1))"
    if [ "$min" -gt 0 ]; then accepts "$key" $((min - 1)) && bad="$bad $key=$((min - 1))"; fi
done <"$work/ranges"
check "ukeyd accepts exactly the documented ranges${bad:+ (wrong:$bad)}" test -z "$bad"

done_testing
