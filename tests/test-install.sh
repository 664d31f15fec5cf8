#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-install.sh — `make install` and `make uninstall` into scratch
# directories: exactly the expected files land, with the expected modes, for
# PREFIX=/usr (what the .deb uses) and the default /usr/local (where
# sysusers, tmpfiles and polkit files must go under /etc, since those tools
# never look in /usr/local); the installed unit names the installed binary;
# the installed default configuration is valid and allows no web origin; an
# administrator's change to it survives a second install and an uninstall,
# while an unchanged one is removed. The built binary is installed as it is
# (make -o: nothing is rebuilt). TAP on stdout.
set -u

# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"

ukeyd=$build/ukeyd

[ -x "$ukeyd" ] || skip_all "no $ukeyd (build first)"
command -v make >/dev/null || skip_all "no make"

make_work install
cleanup() { remove_work; }
trap cleanup EXIT

readonly DOCS="README.md api.md configuration.md openapi.yaml portal-guide.md support.md
ukeyd.conf.example unlock-protocol.md examples/ukeyd-client.js"

# run_make LOG TARGET VAR=VALUE...: make in the source tree with the tested build.
run_make() {
    local log=$1
    shift
    make -C "$top" --no-print-directory -o "$ukeyd" BUILD="$build" "$@" >>"$log" 2>&1
}

# The files under DIR, one a line with mode, sorted: "0644 usr/share/…".
files_in() { (cd "$1" && find . -type f -printf '%m %P\n' | sed 's/^\([0-7]\{3\}\) /0\1 /' | sort -k2); }

expected_usr() {
    {
        echo "0755 usr/sbin/ukeyd"
        echo "0755 usr/libexec/ukeyd/ukeyd-skf-host"
        echo "0644 usr/lib/systemd/system/ukeyd.service"
        echo "0644 usr/lib/systemd/system/ukeyd.socket"
        echo "0644 usr/lib/sysusers.d/ukeyd.conf"
        echo "0644 usr/lib/tmpfiles.d/ukeyd.conf"
        echo "0644 usr/share/polkit-1/rules.d/ukeyd.rules"
        echo "0644 usr/share/man/man8/ukeyd.8"
        echo "0644 usr/share/man/man5/ukeyd.conf.5"
        echo "0644 etc/ukeyd/ukeyd.conf"
        for d in $DOCS; do echo "0644 usr/share/doc/ukeyd/$d"; done
    } | sort -k2
}

expected_local() {
    {
        echo "0755 usr/local/sbin/ukeyd"
        echo "0755 usr/local/libexec/ukeyd/ukeyd-skf-host"
        echo "0644 usr/local/lib/systemd/system/ukeyd.service"
        echo "0644 usr/local/lib/systemd/system/ukeyd.socket"
        echo "0644 etc/sysusers.d/ukeyd.conf"
        echo "0644 etc/tmpfiles.d/ukeyd.conf"
        echo "0644 etc/polkit-1/rules.d/ukeyd.rules"
        echo "0644 usr/local/share/man/man8/ukeyd.8"
        echo "0644 usr/local/share/man/man5/ukeyd.conf.5"
        echo "0644 etc/ukeyd/ukeyd.conf"
        for d in $DOCS; do echo "0644 usr/local/share/doc/ukeyd/$d"; done
    } | sort -k2
}

# same_files NAME DIR EXPECTED-FUNCTION
same_files() {
    local name=$1 dir=$2 want=$3
    files_in "$dir" >"$work/got"
    "$want" >"$work/want"
    if diff -u "$work/want" "$work/got" >"$work/diff"; then
        ok 0 "$name"
    else
        ok 1 "$name"
        sed 's/^/#   /' "$work/diff"
    fi
}

# --- PREFIX=/usr, as debian/rules installs ----------------------------------------

d=$work/usr
diag "make install DESTDIR=$d PREFIX=/usr"
check "make install PREFIX=/usr" run_make "$work/usr.log" install DESTDIR="$d" PREFIX=/usr
same_files "exactly the expected files, with their modes" "$d" expected_usr
check "the installed binary is the built one" cmp -s "$ukeyd" "$d/usr/sbin/ukeyd"
check "the unit starts /usr/sbin/ukeyd" \
    grep -qx 'ExecStart=/usr/sbin/ukeyd' "$d/usr/lib/systemd/system/ukeyd.service"
check "the units are systemd/'s" cmp -s "$top/systemd/ukeyd.socket" "$d/usr/lib/systemd/system/ukeyd.socket"
check "the default configuration is docs/ukeyd.conf.example" \
    cmp -s "$top/docs/ukeyd.conf.example" "$d/etc/ukeyd/ukeyd.conf"
out=$("$ukeyd" --config "$d/etc/ukeyd/ukeyd.conf" --check-config 2>&1)
check "the default configuration is valid" test $? -eq 0
check "…and allows no web origin until the administrator adds one ($out)" \
    grep -q 'configuration OK: 0 allowed origins' <<<"$out"

# An administrator's change survives a reinstall (an upgrade).
echo "origins = https://portal.example-ca.cn" >>"$d/etc/ukeyd/ukeyd.conf"
cp "$d/etc/ukeyd/ukeyd.conf" "$work/changed.conf"
echo "stale" >"$d/usr/sbin/ukeyd"
check "make install again" run_make "$work/usr2.log" install DESTDIR="$d" PREFIX=/usr
check "…keeps the changed configuration" cmp -s "$work/changed.conf" "$d/etc/ukeyd/ukeyd.conf"
check "…and says so" grep -q 'keeping .*etc/ukeyd/ukeyd.conf' "$work/usr2.log"
check "…but replaces the binary" cmp -s "$ukeyd" "$d/usr/sbin/ukeyd"

diag "make uninstall DESTDIR=$d PREFIX=/usr"
check "make uninstall" run_make "$work/usr3.log" uninstall DESTDIR="$d" PREFIX=/usr
left=$(files_in "$d" | tr '\n' ' ')
check "only the changed configuration is left ($left)" test "$left" = "0644 etc/ukeyd/ukeyd.conf "
check "…unchanged" cmp -s "$work/changed.conf" "$d/etc/ukeyd/ukeyd.conf"
check "…and uninstall says it kept it" grep -q 'keeping .*etc/ukeyd/ukeyd.conf' "$work/usr3.log"
check "the doc directory is gone" test ! -e "$d/usr/share/doc/ukeyd"

# --- the default PREFIX, /usr/local ----------------------------------------------------

d=$work/local
diag "make install DESTDIR=$d (PREFIX=/usr/local)"
check "make install with the default PREFIX" run_make "$work/local.log" install DESTDIR="$d"
same_files "exactly the expected files: units under /usr/local, the rest under /etc" \
    "$d" expected_local
check "the unit starts /usr/local/sbin/ukeyd" \
    grep -qx 'ExecStart=/usr/local/sbin/ukeyd' "$d/usr/local/lib/systemd/system/ukeyd.service"
check "…and is otherwise systemd/'s" \
    cmp -s <(grep -v '^ExecStart=' "$top/systemd/ukeyd.service") \
           <(grep -v '^ExecStart=' "$d/usr/local/lib/systemd/system/ukeyd.service")
check "make uninstall" run_make "$work/local2.log" uninstall DESTDIR="$d"
left=$(files_in "$d" | tr '\n' ' ')
check "an unchanged configuration goes too: nothing is left ($left)" test -z "$left"
check "…nor /etc/ukeyd" test ! -e "$d/etc/ukeyd"

# --- the installed man pages render --------------------------------------------------------

if command -v man >/dev/null; then
    d=$work/man
    run_make "$work/man.log" install DESTDIR="$d" PREFIX=/usr
    for page in man8/ukeyd.8 man5/ukeyd.conf.5; do
        err=$(MANWIDTH=80 man -l "$d/usr/share/man/$page" 2>&1 >/dev/null)
        check "man -l shows the installed $page without a warning" test -z "$err"
    done
fi

done_testing
