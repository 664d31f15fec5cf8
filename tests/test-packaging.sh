#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-packaging.sh — the Debian package, end to end, on this machine:
#
#  1. copies the source tree (without build trees, .git, node_modules) to a
#     scratch directory and runs `dpkg-buildpackage -us -uc -b` there, so the
#     developer's tree is never touched; the build must not warn, must not
#     run the test suite, and must build the daemon alone;
#  2. checks the .deb's name, version (the Makefile's), dependencies and
#     maintainer scripts, and runs lintian on it: no error, no warning;
#  3. installs it with dpkg -i (systemd is not PID 1 here: the maintainer
#     scripts must cope), and checks the files (dpkg -L), the conffile, the
#     system user and group, the state directory and the enabled socket;
#  4. runs the installed /usr/sbin/ukeyd against the PC/SC rig and reads the
#     tokens through it;
#  5. purges the package and checks that it is gone, and what stays (the
#     system user, as Debian leaves them).
#
# It needs root and changes this machine (a package, a system user). It
# skips when ukeyd is already installed from elsewhere, and in the
# sanitizer pass (the package does not depend on which pass builds it).
# Bounded: every step has a time limit. TAP on stdout.
#
# Some checks hand eval their condition in single quotes, on purpose.
# shellcheck disable=SC2016
set -u

# shellcheck source=tests/lib/ukeyd.sh
. "$(dirname "$0")/lib/ukeyd.sh"

readonly BUILD_TIMEOUT_S=600
readonly LINTIAN_TIMEOUT_S=300
readonly DPKG_TIMEOUT_S=120
readonly DPKG_LOCK_TRIES=30
readonly PKG=ukeyd
readonly SYSTEM_UID_MAX=999

[ "$(id -u)" -eq 0 ] || skip_all "needs root (dpkg -i)"
for tool in dpkg-buildpackage dh lintian dpkg-deb curl ss; do
    command -v "$tool" >/dev/null || skip_all "no $tool (build-aux/install-deps package)"
done
if [ -x "$build/ukeyd" ] && ldd "$build/ukeyd" 2>/dev/null | grep -q libasan; then
    skip_all "sanitizer pass: the package is built the same in both passes, so it is tested once"
fi
if dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -qx installed; then
    skip_all "a $PKG package is installed on this machine; not replacing it (dpkg --purge $PKG, then run again)"
fi

version=$(sed -n 's/^VERSION *:= *//p' "$top/Makefile")
arch=$(dpkg --print-architecture)
deb_version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
deb=${PKG}_${deb_version}_${arch}.deb

make_work packaging
we_installed=
cleanup() {
    lib_cleanup
    if [ -n "$we_installed" ]; then
        diag "cleaning up: dpkg --purge $PKG"
        timeout "$DPKG_TIMEOUT_S" dpkg --purge "$PKG" >>"$work/dpkg.log" 2>&1
    fi
    remove_work
}
trap cleanup EXIT

# dpkg ACTION...: dpkg under a time limit, waiting while another dpkg or apt
# holds its lock (other work may share this machine).
run_dpkg() {
    local i rc
    for ((i = 0; i < DPKG_LOCK_TRIES; i++)); do
        timeout "$DPKG_TIMEOUT_S" dpkg "$@" >"$work/dpkg.out" 2>&1
        rc=$?
        cat "$work/dpkg.out" >>"$work/dpkg.log"
        grep -q 'lock' "$work/dpkg.out" && [ "$rc" -ne 0 ] || return "$rc"
        sleep 2
    done
    return "$rc"
}

# --- 1. the build -----------------------------------------------------------------

check "debian/changelog's upstream version is the Makefile's ($deb_version, $version)" \
    test "${deb_version%-*}" = "$version"

src=$work/src/$PKG-$version
mkdir -p "$src"
excludes=(--exclude=./.git --exclude=node_modules --exclude=./debian/build)
for entry in "$top"/build "$top"/build-*; do
    [ -e "$entry" ] && [ "$(basename "$entry")" != build-aux ] && excludes+=(--exclude="./$(basename "$entry")")
done
tar -C "$top" "${excludes[@]}" -cf - . | tar -C "$src" -xf -
diag "dpkg-buildpackage -us -uc -b in $src"
t0=$SECONDS
(cd "$src" && timeout "$BUILD_TIMEOUT_S" dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1
rc=$?
diag "… took $((SECONDS - t0)) s"
check "dpkg-buildpackage succeeds (exit $rc)" test "$rc" -eq 0
if [ "$rc" -ne 0 ]; then
    tail -n 30 "$work/build.log" | sed 's/^/#   /'
    echo "1..$n"
    exit 1
fi
check "it made $deb" test -f "$work/src/$deb"
# Compiler warnings (the package builds without -Werror: see debian/rules),
# and dpkg-shlibdeps' about useless or missing library dependencies.
warnings=$(grep -E '(warning|error):' "$work/build.log")
check "the build has no compiler, linker or debhelper warning" test -z "$warnings"
[ -z "$warnings" ] || head -n 20 <<<"$warnings" | sed 's/^/#   /'
check "the build ran no tests" bash -c "! grep -qE 'run-tests|^check: ' '$work/build.log'"
check "…and built the daemon alone (no test programs, no virtual token)" \
    test -x "$src/debian/build/ukeyd" -a ! -e "$src/debian/build/tests" -a ! -e "$src/debian/build/vtoken"

# --- 2. the package -----------------------------------------------------------------

dpkg-deb -f "$work/src/$deb" Depends >"$work/depends"
diag "Depends: $(cat "$work/depends")"
for dep in pcscd libpcsclite1 libmicrohttpd12 libjansson4 libssl3 libsystemd0 libcurl4 libinih1; do
    check "depends on $dep" grep -qE "(^|, )$dep( |,|$)" "$work/depends"
done
check "…and not on libraries ukeyd does not use (sqlite)" bash -c "! grep -q libsqlite3 '$work/depends'"
check "the package is Architecture linux-any's $arch" test "$(dpkg-deb -f "$work/src/$deb" Architecture)" = "$arch"
mkdir -p "$work/control"
dpkg-deb -e "$work/src/$deb" "$work/control"
check "postinst creates the user (systemd-sysusers)" grep -q 'systemd-sysusers.*ukeyd.conf' "$work/control/postinst"
check "postinst enables ukeyd.socket" grep -q "deb-systemd-helper enable 'ukeyd.socket'" "$work/control/postinst"
check "prerm stops the service and the socket on removal" \
    grep -q "deb-systemd-invoke stop 'ukeyd.service' 'ukeyd.socket'" "$work/control/prerm"
check "/etc/ukeyd/ukeyd.conf is a conffile" grep -qx /etc/ukeyd/ukeyd.conf "$work/control/conffiles"

diag "lintian --pedantic on the .deb and the .changes"
timeout "$LINTIAN_TIMEOUT_S" lintian --pedantic --display-info --fail-on error,warning \
    "$work/src/${PKG}_${deb_version}_${arch}.changes" >"$work/lintian.log" 2>&1
rc=$?
grep -E '^[A-Z]: ' "$work/lintian.log" | sed 's/^/#   /'
check "lintian: no error and no warning" bash -c "! grep -qE '^(E|W): ' '$work/lintian.log'"
check "…by lintian's own verdict too (exit $rc)" test "$rc" -eq 0

# --- 3. dpkg -i ------------------------------------------------------------------------

diag "dpkg -i $deb (systemd is $(ps -p 1 -o comm=) here)"
we_installed=1
run_dpkg -i "$work/src/$deb"
rc=$?
check "dpkg -i succeeds (exit $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || tail -n 20 "$work/dpkg.log" | sed 's/^/#   /'
check "the package is installed" \
    eval 'dpkg-query -W -f="\${db:Status-Status}" "$PKG" | grep -qx installed'
dpkg -L "$PKG" >"$work/files"
unit_dir=$(dirname "$(grep '/ukeyd.service$' "$work/files")")
for f in /usr/sbin/ukeyd /usr/libexec/ukeyd/ukeyd-skf-host "$unit_dir/ukeyd.service" "$unit_dir/ukeyd.socket" \
         /usr/share/polkit-1/rules.d/ukeyd.rules /usr/lib/sysusers.d/ukeyd.conf \
         /usr/lib/tmpfiles.d/ukeyd.conf /etc/ukeyd/ukeyd.conf \
         /usr/share/man/man8/ukeyd.8.gz /usr/share/man/man5/ukeyd.conf.5.gz \
         /usr/share/doc/ukeyd/copyright /usr/share/doc/ukeyd/examples/ukeyd-client.js; do
    check "dpkg -L lists $f, and it is there" eval 'grep -qx "$f" "$work/files" && test -e "$f"'
done
check "the units are where systemd looks ($unit_dir)" \
    eval 'systemd-analyze unit-paths | grep -qx "$unit_dir"'
check "the installed unit starts the installed binary" grep -qx 'ExecStart=/usr/sbin/ukeyd' "$unit_dir/ukeyd.service"
check "/usr/sbin/ukeyd --version says $version" \
    eval '/usr/sbin/ukeyd --version | grep -qx "ukeyd $version"'
check "man ukeyd finds the installed page" eval 'MANWIDTH=80 man ukeyd 2>/dev/null | grep -q "USB token helper"'

uid=$(id -u ukeyd 2>/dev/null)
check "user ukeyd exists, a system user (uid $uid)" test -n "$uid" -a "${uid:-65535}" -le "$SYSTEM_UID_MAX"
check "…who cannot log in" eval 'getent passwd ukeyd | grep -q ":/usr/sbin/nologin$"'
check "group ukeyd-support exists" eval 'getent group ukeyd-support >/dev/null'
check "/var/lib/ukeyd made by tmpfiles: 0700, owned by ukeyd" \
    test "$(stat -c '%a %U' /var/lib/ukeyd 2>/dev/null)" = "700 ukeyd"
check "ukeyd.socket is enabled (sockets.target wants it)" \
    test -L /etc/systemd/system/sockets.target.wants/ukeyd.socket
check "the packaged default configuration passes --check-config" \
    eval '/usr/sbin/ukeyd --config /etc/ukeyd/ukeyd.conf --check-config >/dev/null'

# --- 4. the installed binary against the rig ---------------------------------------------

if start_rig; then
    cat >"$work/ukeyd.conf" <<EOF
[ukeyd]
origins = https://portal.example.cn
# root runs the tests, and nobody sits at a seat here.
peer-policy = any-local
support-socket = none
EOF
    diag "the installed /usr/sbin/ukeyd against the rig"
    if start_ukeyd "$work/ukeyd.log" /usr/sbin/ukeyd --config "$work/ukeyd.conf"; then
        ok 0 "the installed ukeyd answers on $base"
        body=$(curl -s --max-time 10 "$base/v1/tokens")
        check "GET /v1/tokens shows both demo tokens" \
            test "$(grep -c '"reader": "' <<<"$body")" -ge 2
        check "…with the SM2 token's Chinese owner" grep -q '"commonName": "演示专用"' <<<"$body"
        stop_ukeyd
        check "it stops cleanly on SIGTERM" test "$stop_rc" = 0
    else
        ok 1 "the installed ukeyd answers"
        sed 's/^/#   /' "$work/ukeyd.log" | tail -n 20
    fi
else
    ok 1 "the PC/SC rig starts"
fi

# --- 5. dpkg --purge ------------------------------------------------------------------------

diag "dpkg --purge $PKG"
run_dpkg --purge "$PKG"
rc=$?
check "dpkg --purge succeeds (exit $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] && we_installed=
check "the package is gone" bash -c "! dpkg-query -W -f='\${db:Status-Status}' $PKG 2>/dev/null | grep -qx installed"
left=
while read -r f; do
    [ -f "$f" ] && left="$left $f"
done <"$work/files"
check "none of its files is left${left:+ (left:$left)}" test -z "$left"
check "/etc/ukeyd is gone (conffile purged)" test ! -e /etc/ukeyd
check "/var/lib/ukeyd is gone (postrm purge)" test ! -e /var/lib/ukeyd
check "the socket is no longer enabled" test ! -e /etc/systemd/system/sockets.target.wants/ukeyd.socket
check "user ukeyd stays, as Debian leaves system users (nothing owned by it is left in /var/lib)" \
    eval 'id ukeyd >/dev/null && test -z "$(find /var/lib -xdev -user ukeyd 2>/dev/null | head -n 1)"'

done_testing
