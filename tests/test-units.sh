#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-units.sh — what systemd/ ships, judged by systemd's and
# polkit's own rules, without systemd as PID 1 (CI runs in a container):
#
# - ukeyd.service's sandbox: `systemd-analyze security --offline=true` must
#   rate it 2.0 or lower, and every hardening setting of the design is there;
# - `systemd-analyze verify` accepts both units (installed with the binary and
#   man pages they name), and rejects a broken copy, so the check is real;
# - the units agree with the daemon (port, binary path) and with each other
#   (user, directories), and the socket is loopback only;
# - the system calls, socket families, memory protections and files ukeyd
#   uses in a real session against the PC/SC rig (recorded by strace) are
#   all allowed by the unit's SystemCallFilter=, RestrictAddressFamilies=,
#   MemoryDenyWriteExecute=, ProtectHome=, DeviceAllow=, ProcSubset= and
#   ProtectSystem=, so the sandbox will not break the daemon;
# - the polkit rule, run in a copy of polkitd's rule runner under Node.js,
#   grants the ukeyd user exactly pcscd access and the restart of
#   pcscd.service, and nothing to anyone else;
# - the sysusers and tmpfiles snippets, applied to a scratch root by
#   systemd-sysusers and systemd-tmpfiles, make the user, the group and the
#   state directory the unit expects.
#
# TAP on stdout.
#
# Some checks hand eval their condition in single quotes, on purpose.
# shellcheck disable=SC2016
set -u

# shellcheck source=tests/lib/ukeyd.sh
. "$(dirname "$0")/lib/ukeyd.sh"

readonly SCORE_MAX=2.0
units=$top/systemd
service=$units/ukeyd.service
socket=$units/ukeyd.socket
ukeyd=$build/ukeyd

command -v systemd-analyze >/dev/null || skip_all "no systemd-analyze (build-aux/install-deps test)"
[ -x "$ukeyd" ] || skip_all "no $ukeyd (build first)"

make_work units
cleanup() {
    lib_cleanup
    if [ "$failed" -eq 0 ] && [ -z "${UKEYD_KEEP:-}" ]; then rm -rf "$work"; else diag "kept $work for a look"; fi
}
trap cleanup EXIT

# The value of KEY= in a unit file (the last one, as systemd reads it).
unit_value() { sed -n "s/^$2=//p" "$1" | tail -n 1; }
unit_values() { sed -n "s/^$2=//p" "$1"; }

# --- the sandbox's score ------------------------------------------------------

test_security_score() {
    local out score
    diag "systemd-analyze security --offline=true systemd/ukeyd.service"
    out=$(systemd-analyze security --offline=true "$service" 2>&1)
    score=$(sed -n 's/.*Overall exposure level for ukeyd.service: \([0-9.]*\) .*/\1/p' <<<"$out")
    diag "exposure $score (lower is better; 2.0 or lower rates \"OK\")"
    grep '✗' <<<"$out" | sed 's/  */ /g' | diag_file - 20
    check "security exposure $score <= $SCORE_MAX" \
        awk -v s="$score" -v max="$SCORE_MAX" 'BEGIN { exit !(s != "" && s + 0 <= max + 0) }'
    check "systemd rates it OK" grep -q 'Overall exposure level for ukeyd.service: [0-9.]* OK' <<<"$out"
}

# Each line: KEY=VALUE as the design asks for it (docs: DESIGN.md, issue 7).
readonly HARDENING="NoNewPrivileges=yes
CapabilityBoundingSet=
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=no
DevicePolicy=closed
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
UMask=0077
Type=notify
User=ukeyd
StateDirectory=ukeyd
ConfigurationDirectory=ukeyd
RuntimeDirectory=ukeyd"

test_hardening_settings() {
    local line key want missing=()
    while IFS= read -r line; do
        key=${line%%=*}
        want=${line#*=}
        [ "$(unit_value "$service" "$key")" = "$want" ] || missing+=("$line")
    done <<<"$HARDENING"
    check "ukeyd.service has every setting of the design" test ${#missing[@]} -eq 0
    [ ${#missing[@]} -eq 0 ] || diag "missing or different: ${missing[*]}"
    check "system calls: @system-service without @privileged and @resources (chown back in)" \
        test "$(unit_values "$service" SystemCallFilter | tr '\n' '|')" = \
            '@system-service|~@privileged @resources|chown|'
    check "devices: only the USB key classes (hidraw, usb_device, sg), each with its reason" \
        test "$(unit_values "$service" DeviceAllow | tr '\n' '|')" = \
            'char-hidraw rw|char-usb_device rw|char-sg rw|'
    check "…each allowance under a comment" \
        test "$(grep -B1 '^DeviceAllow=' "$service" | grep -c '^#')" -eq 3
    check "a watchdog interval is set" grep -qE '^WatchdogSec=[1-9]' "$service"
    check "no capabilities, none ambient" test -z "$(unit_value "$service" AmbientCapabilities)"
    check "not DynamicUser (polkit needs a stable user name)" bash -c "! grep -q '^DynamicUser=yes' '$service'"
}

# --- the units against systemd-analyze verify ---------------------------------------

# verify needs the binary the unit names and the man pages of its
# Documentation= to exist: install into a scratch prefix (without DESTDIR, so
# that the installed unit names the scratch binary) and let man find the pages.
test_verify() {
    local prefix=$work/prefix out rc
    diag "make install PREFIX=$prefix, then systemd-analyze verify on the installed units"
    if ! make -C "$top" --no-print-directory -o "$ukeyd" install BUILD="$build" PREFIX="$prefix" \
            SYSCONFDIR="$prefix/etc" >"$work/install.log" 2>&1; then
        ok 1 "install into a scratch prefix"
        diag_file "$work/install.log"
        return
    fi
    out=$(cd "$prefix/lib/systemd/system" && MANPATH=$prefix/share/man \
          systemd-analyze verify ukeyd.socket ukeyd.service 2>&1)
    rc=$?
    check "systemd-analyze verify passes (exit $rc)" test "$rc" -eq 0
    check "…with nothing to say" test -z "$out"
    [ -z "$out" ] || diag_file - <<<"$out"

    # The drop-in that ukeyd(8) shows for restricting IP addresses is valid.
    mkdir -p "$prefix/lib/systemd/system/ukeyd.service.d"
    sed -n '/^\.SS IP address restrictions$/,/^\.SH /p' "$top/man/ukeyd.8" |
        sed -n '/^\.EX$/,/^\.EE$/p' | sed '1d;$d; s/\\-/-/g' \
        >"$prefix/lib/systemd/system/ukeyd.service.d/ip.conf"
    out=$(cd "$prefix/lib/systemd/system" && MANPATH=$prefix/share/man \
          systemd-analyze verify ukeyd.service 2>&1)
    check "the IP address drop-in of ukeyd(8) is valid" \
        eval 'grep -q "^IPAddressDeny=any$" "$prefix/lib/systemd/system/ukeyd.service.d/ip.conf" && test -z "$out"'
    [ -z "$out" ] || diag_file - <<<"$out"
    rm -r "$prefix/lib/systemd/system/ukeyd.service.d"

    # The same check on a unit with a typo must fail, or the pass means nothing.
    mkdir -p "$work/broken"
    sed 's/^ExecStart=.*/ExecStart=\/nonexistent\/ukeyd/; s/^ProtectSystem=strict/ProtectSystem=strictly/' \
        "$prefix/lib/systemd/system/ukeyd.service" >"$work/broken/ukeyd.service"
    cp "$prefix/lib/systemd/system/ukeyd.socket" "$work/broken/"
    out=$(cd "$work/broken" && MANPATH=$prefix/share/man systemd-analyze verify ukeyd.service 2>&1)
    check "verify catches a broken copy (missing binary, bad value)" \
        grep -q 'nonexistent/ukeyd' <<<"$out"
}

# --- the units against the daemon and each other -------------------------------------

test_consistency() {
    local port listens
    port=$(sed -n 's/^#define CONFIG_DEFAULT_PORT *\([0-9]*\).*/\1/p' "$top/daemon/config.h")
    listens=$(unit_values "$socket" ListenStream | tr '\n' ' ')
    check "socket listens on 127.0.0.1:$port and [::1]:$port only ($listens)" \
        test "$listens" = "127.0.0.1:$port [::1]:$port "
    check "[::1] is IPv6 only" test "$(unit_value "$socket" BindIPv6Only)" = ipv6-only
    check "the socket is enabled by sockets.target" \
        test "$(unit_value "$socket" WantedBy)" = sockets.target
    check "one service for all connections (Accept=no)" test "$(unit_value "$socket" Accept)" = no
    check "ExecStart names /usr/sbin/ukeyd (the .deb's path)" \
        test "$(unit_value "$service" ExecStart)" = /usr/sbin/ukeyd
    check "the service needs its socket" test "$(unit_value "$service" Requires)" = ukeyd.socket
    check "enabling the service enables the socket" test "$(unit_value "$service" Also)" = ukeyd.socket
    check "the unit's user is the sysusers user" \
        grep -qE "^u $(unit_value "$service" User) " "$units/ukeyd.sysusers"
    check "the unit's supplementary group is a sysusers group" \
        grep -qE "^g $(unit_value "$service" SupplementaryGroups) " "$units/ukeyd.sysusers"
    check "tmpfiles makes the state directory as StateDirectory= does (0700 ukeyd)" \
        grep -qE "^d /var/lib/$(unit_value "$service" StateDirectory) $(unit_value "$service" StateDirectoryMode) ukeyd ukeyd " \
        "$units/ukeyd.tmpfiles"
    # The daemon's built-in paths and names are the ones the unit provides.
    local sock group state
    sock=$(sed -n 's/^#define CONFIG_DEFAULT_SUPPORT_SOCKET *"\(.*\)"/\1/p' "$top/daemon/config.h")
    group=$(sed -n 's/^#define CONFIG_DEFAULT_SUPPORT_GROUP *"\(.*\)"/\1/p' "$top/daemon/config.h")
    state=$(sed -n 's/^#define UNLOCK_DEFAULT_STATE_DIRECTORY *"\(.*\)"/\1/p' "$top/api/unlock/unlock.h")
    check "the support socket ($sock) is in the unit's RuntimeDirectory=" \
        test "$(dirname "$sock")" = "/run/$(unit_value "$service" RuntimeDirectory)"
    check "the support group ($group) is the unit's supplementary group" \
        test -n "$group" -a "$group" = "$(unit_value "$service" SupplementaryGroups)"
    check "the unlock journal's default ($state) is the unit's StateDirectory=" \
        test "$state" = "/var/lib/$(unit_value "$service" StateDirectory)"
    check "ExecReload sends SIGHUP (ukeyd reloads on it)" \
        grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$service"
    check "no restart after a usage or configuration error (64, 78)" \
        test "$(unit_value "$service" RestartPreventExitStatus)" = "64 78"
}

# --- ukeyd's system calls against the filter ----------------------------------------

# The names in a systemd-analyze syscall-filter group, groups expanded.
expand_group() {
    local line
    systemd-analyze syscall-filter "$1" 2>/dev/null | tail -n +2 | while read -r line; do
        case "$line" in
        '' | '#'*) ;;
        @*) expand_group "$line" ;;
        *) echo "$line" ;;
        esac
    done
}

# Calls that the unit refuses (with EPERM: SystemCallErrorNumber=) and that
# ukeyd is known to survive, one a line, each with its reason:
# - clock_adjtime: the environment check asks the kernel whether NTP keeps
#   the clock in sync (adjtimex, modes 0, read only); ProtectClock= refuses
#   all of @clock, and the check then asks systemd-timedated over the bus.
readonly TOLERATED_CALLS="clock_adjtime"

# The system calls the unit's SystemCallFilter= lines allow, read as systemd
# reads them: the first line is an allow list; later lines add to it, or
# take away with a leading ~.
unit_allowed_calls() {
    local value item list=$work/filter.calls
    : >"$list"
    while IFS= read -r value; do
        local op=add
        [[ "$value" == '~'* ]] && { op=remove; value=${value#\~}; }
        for item in $value; do
            if [[ "$item" == @* ]]; then expand_group "$item"; else echo "$item"; fi |
                sort -u >"$work/item.calls"
            if [ "$op" = add ]; then
                sort -u "$list" "$work/item.calls" -o "$list"
            else
                comm -23 "$list" "$work/item.calls" >"$list.new" && mv "$list.new" "$list"
            fi
        done
    done < <(unit_values "$service" SystemCallFilter)
    cat "$list"
}

# The PID of ukeyd under strace (strace's one child).
traced_pid() {
    local kids
    kids=$(cat "/proc/$daemon_pid/task/"*/children 2>/dev/null)
    echo "${kids%% *}"
}

exercise_daemon() {
    local tok
    curl -s --max-time 10 -o /dev/null "$base/v1/status"
    curl -s --max-time 10 -o /dev/null "$base/v1/readers"
    tok=$(token_id_in "$RIG_READER_0")
    curl -s --max-time 10 -o /dev/null "$base/v1/tokens/$tok/certificates/9a.pem"
    curl -s --max-time 10 -o /dev/null "$base/v1/tokens/$tok/pin"
    curl -s --max-time 10 -o /dev/null -H 'Content-Type: application/json' \
        --data '{"pin":"123456"}' "$base/v1/tokens/$tok/pin/verify"
    curl -s --max-time 10 -o /dev/null -X OPTIONS -H 'Origin: https://portal.example.cn' \
        -H 'Access-Control-Request-Method: POST' "$base/v1/tokens/$tok/pin/verify"
    curl -s --max-time 10 -o /dev/null -H 'Origin: https://evil.example' "$base/v1/status"
    # The checks of the machine and their repair (D-Bus to systemd, or its
    # absence), the remote unlock up to the CA service (libcurl; nothing
    # listens there), and the support socket.
    curl -s --max-time 20 -o /dev/null "$base/v1/environment"
    curl -s --max-time 30 -o /dev/null -X POST -H 'Content-Type: application/json' --data '{}' \
        "$base/v1/environment/repair"
    curl -s --max-time 20 -o /dev/null -X POST -H 'Content-Type: application/json' --data '{}' \
        "$base/v1/tokens/$tok/unlock"
    curl -s --max-time 10 -o "$work/diagnostics" --unix-socket "$work/support.sock" \
        http://localhost/v1/diagnostics
    # An event stream open while a token goes and comes back.
    curl -sN --max-time 4 -o "$work/events" "$base/v1/events" &
    local stream=$!
    sleep 0.5
    "$rig" remove "$work/rig" 1 >/dev/null 2>&1
    "$rig" insert "$work/rig" 1 >/dev/null 2>&1
    kill -HUP "$(traced_pid)"
    sleep 0.3
    curl -s --max-time 10 -o /dev/null "$base/v1/tokens"
    wait "$stream"
}

test_syscalls() {
    local allowed used bad families fam
    if ! command -v strace >/dev/null; then
        ok 1 "strace is installed (build-aux/install-deps package)"
        return
    fi
    if ! command -v curl >/dev/null || ! command -v ss >/dev/null; then
        ok 1 "curl and ss are installed"
        return
    fi
    # A sanitizer build makes the calls of its runtime (setrlimit, personality,
    # ...), which the service never runs: the plain pass judges ukeyd's own.
    if ldd "$ukeyd" 2>/dev/null | grep -q libasan; then
        echo "ok $((n += 1)) # SKIP system calls: a sanitizer build is not what the service runs"
        return
    fi
    if ! start_rig; then
        ok 1 "the PC/SC rig starts"
        return
    fi
    # Every part of ukeyd that makes system calls of its own is switched on:
    # the support socket (with a group to chown it to), the unlock journal,
    # the unlock service's client. root must be let in: nobody sits at a seat.
    mkdir -p "$work/state"
    cat >"$work/ukeyd.conf" <<EOF
[ukeyd]
origins = https://portal.example.cn
peer-policy = any-local
support-socket = $work/support.sock
support-group = nogroup
state-directory = $work/state
ca-service-url = http://127.0.0.1:$(pick_port)/unlock
ca-connect-timeout = 2
environment-timeout-ms = 3000
EOF
    diag "ukeyd under strace -f against the rig: reads, PIN, CORS, environment, repair, unlock, support socket, events, SIGHUP, SIGTERM"
    if ! start_ukeyd "$work/ukeyd.log" strace -f -qq -o "$work/trace" "$ukeyd" \
            --config "$work/ukeyd.conf"; then
        ok 1 "ukeyd starts under strace"
        diag_file "$work/ukeyd.log"
        return
    fi
    exercise_daemon
    kill -TERM "$(traced_pid)"
    stop_ukeyd
    check "the traced session ended cleanly (exit $stop_rc)" test "$stop_rc" = 0
    check "the event stream saw the token go and come back" \
        grep -q 'event: token-inserted' "$work/events"
    check "the support socket answered" grep -q '"' "$work/diagnostics"

    unit_allowed_calls >"$work/allowed.calls"
    sed -nE 's/^[0-9]+ +([a-z_][a-z0-9_]*)\(.*/\1/p' "$work/trace" | sort -u >"$work/used.calls"
    allowed=$(wc -l <"$work/allowed.calls")
    used=$(wc -l <"$work/used.calls")
    bad=$(comm -23 "$work/used.calls" "$work/allowed.calls" | grep -vxF "$TOLERATED_CALLS" | tr '\n' ' ')
    diag "ukeyd made $used different system calls; the filter allows $allowed"
    diag "refused by the unit, and survived: $(comm -23 "$work/used.calls" "$work/allowed.calls" | tr '\n' ' ')"
    check "every system call is allowed by SystemCallFilter= ${bad:+(not: $bad)}" \
        test "$used" -gt 20 -a -z "$bad"

    families=$(grep -oE ' socket\(AF_[A-Z0-9]+' "$work/trace" | sed 's/.*(//' | sort -u | tr '\n' ' ')
    bad=
    for fam in $families; do
        grep -qw "$fam" <<<"$(unit_value "$service" RestrictAddressFamilies)" || bad="$bad $fam"
    done
    diag "socket families used: $families"
    check "every socket family is allowed by RestrictAddressFamilies= ${bad:+(not:$bad)}" test -z "$bad"
    check "no writable and executable memory (MemoryDenyWriteExecute=)" \
        bash -c "! grep -E 'mmap\(.*PROT_WRITE\|PROT_EXEC|mmap\(.*PROT_EXEC\|PROT_WRITE|mprotect\(.*PROT_EXEC' '$work/trace'"
    check "no personality changes (LockPersonality=)" \
        bash -c "! grep -E '^[0-9]+ +personality\(' '$work/trace'"
    test_file_sandbox
}

# The files ukeyd touched in the traced session, against the unit's view of
# the file system. $work stands for the directories the unit lets it write
# (state-directory and support-socket point there, as StateDirectory= and
# RuntimeDirectory= do in the service).
readonly PATH_CALLS='open|openat|openat2|creat|stat|lstat|newfstatat|statx|access|faccessat|faccessat2|readlink|readlinkat|mkdir|mkdirat|unlink|unlinkat|rename|renameat|renameat2|chmod|fchmodat|chown|lchown|fchownat|symlink|symlinkat|link|linkat|truncate|utimensat|inotify_add_watch'
readonly WRITE_CALLS='mkdir|mkdirat|unlink|unlinkat|rename|renameat|renameat2|chmod|fchmodat|chown|lchown|fchownat|symlink|symlinkat|link|linkat|truncate|utimensat'
# /proc files outside the process's own that ukeyd's libraries read and do
# without when ProcSubset=pid hides them:
# - /proc/sys/vm/overcommit_memory: glibc's malloc, which then assumes the
#   kernel's default.
readonly PROC_TOLERATED='/proc/sys/vm/overcommit_memory'
# What DevicePolicy=closed and DeviceAllow= let ukeyd (and its SKF helpers) open in /dev.
readonly DEV_ALLOWED='^/dev/(null|zero|full|random|urandom|tty|ptmx|pts/.*|shm/.*|log|stdin|stdout|stderr|fd/.*|hidraw[0-9]+|bus/usb(/.*)?|sg[0-9]+)$'

test_file_sandbox() {
    local paths writes bad
    paths=$(grep -E "^[0-9]+ +($PATH_CALLS)\(" "$work/trace" |
            sed -nE 's/^[0-9]+ +[a-z0-9_]+\((AT_FDCWD, |[0-9]+<[^>]*>, )?"([^"]*)".*/\2/p' | sort -u)
    diag "ukeyd looked at $(grep -c . <<<"$paths") paths"
    check "the trace names the files ukeyd opened" grep -qx /etc/nsswitch.conf <<<"$paths"
    bad=$(grep -E '^/(home|root|run/user)(/|$)' <<<"$paths" | tr '\n' ' ')
    check "no home directory touched (ProtectHome=)${bad:+ (touched: $bad)}" test -z "$bad"
    bad=$(grep -E '^/dev/' <<<"$paths" | grep -vE "$DEV_ALLOWED" | tr '\n' ' ')
    check "only the pseudo-devices and USB key nodes the unit allows${bad:+ (also: $bad)}" test -z "$bad"
    bad=$(grep -E '^/proc/' <<<"$paths" | grep -vE '^/proc/(self|thread-self|[0-9]+)(/|$)' |
          grep -vxF "$PROC_TOLERATED" | tr '\n' ' ')
    check "no /proc file outside the process's own (ProcSubset=pid)${bad:+ (read: $bad)}" test -z "$bad"
    writes=$( { grep -E "^[0-9]+ +($WRITE_CALLS)\(" "$work/trace"
                grep -E "^[0-9]+ +(open|openat|openat2|creat)\(.*(O_WRONLY|O_RDWR|O_CREAT)" "$work/trace"; } |
              sed -nE 's/^[0-9]+ +[a-z0-9_]+\((AT_FDCWD, |[0-9]+<[^>]*>, )?"([^"]*)".*/\2/p' | sort -u)
    bad=$(grep -vE "^($work/|/dev/(null|tty)$|/proc/(self|thread-self|[0-9]+)/)" <<<"$writes" |
          grep -v '^$' | tr '\n' ' ')
    check "writes only where the unit lets it (ProtectSystem=strict)${bad:+ (also: $bad)}" test -z "$bad"
    diag "written: $(grep -c . <<<"$writes") paths, all under the state and runtime directories"
}

# --- the polkit rule ------------------------------------------------------------------

# polkitd's rule runner (polkitd's own init.js: addRule, _runRules, Result),
# the rule file as polkitd loads it, and one decision per line of a table.
test_polkit_rule() {
    local out
    if ! command -v node >/dev/null; then
        ok 1 "node is installed (build-aux/install-deps test)"
        return
    fi
    check "the rule is ECMAScript 5 for polkitd's Duktape (no let, const, =>, template strings)" \
        bash -c "! grep -vE '^\s*//' '$units/ukeyd.polkit.rules' | grep -qE '\blet |\bconst |=>|\`'"
    cat >"$work/polkit-check.js" <<'EOF'
"use strict";
const fs = require("fs");
const vm = require("vm");
const polkit = {
  _ruleFuncs: [],
  addRule(f) { this._ruleFuncs.push(f); },
  _runRules(action, subject) {
    for (const f of this._ruleFuncs) { const r = f(action, subject); if (r) return r; }
    return null;
  },
  Result: { NO: "no", YES: "yes", AUTH_SELF: "auth_self", AUTH_SELF_KEEP: "auth_self_keep",
            AUTH_ADMIN: "auth_admin", AUTH_ADMIN_KEEP: "auth_admin_keep", NOT_HANDLED: null },
  log() {}, spawn() { throw new Error("the rule must not spawn programs"); },
};
vm.runInNewContext(fs.readFileSync(process.argv[2], "utf8"), { polkit }, { filename: "ukeyd.rules" });
let bad = 0;
for (const line of fs.readFileSync(process.argv[3], "utf8").split("\n")) {
  if (!line.trim() || line.startsWith("#")) continue;
  const [want, user, id, unit, verb] = line.trim().split(/\s+/);
  const details = { unit: unit === "-" ? undefined : unit, verb: verb === "-" ? undefined : verb };
  const action = { id, lookup: (k) => details[k] };
  const got = polkit._runRules(action, { user, groups: [user], local: true, active: false }) || "not-handled";
  const ok = got === want;
  if (!ok) bad++;
  console.log(`${ok ? "ok" : "BAD"} ${user} ${id} ${unit} ${verb}: ${got} (want ${want})`);
}
process.exit(bad ? 1 : 0);
EOF
    # want  user  action  unit  verb
    cat >"$work/polkit-cases" <<'EOF'
yes ukeyd org.debian.pcsc-lite.access_pcsc - -
yes ukeyd org.debian.pcsc-lite.access_card - -
yes ukeyd org.freedesktop.systemd1.manage-units pcscd.service restart
not-handled ukeyd org.freedesktop.systemd1.manage-units pcscd.service stop
not-handled ukeyd org.freedesktop.systemd1.manage-units pcscd.service start
not-handled ukeyd org.freedesktop.systemd1.manage-units pcscd.service reload-or-restart
not-handled ukeyd org.freedesktop.systemd1.manage-units pcscd.socket restart
not-handled ukeyd org.freedesktop.systemd1.manage-units ukeyd.service restart
not-handled ukeyd org.freedesktop.systemd1.manage-units sshd.service restart
not-handled ukeyd org.freedesktop.systemd1.manage-unit-files - -
not-handled ukeyd org.freedesktop.systemd1.reload-daemon - -
not-handled ukeyd org.freedesktop.login1.reboot - -
not-handled ukeyd org.freedesktop.policykit.exec - -
not-handled alice org.debian.pcsc-lite.access_pcsc - -
not-handled alice org.freedesktop.systemd1.manage-units pcscd.service restart
not-handled root org.debian.pcsc-lite.access_card - -
not-handled ukeyd-support org.debian.pcsc-lite.access_pcsc - -
EOF
    out=$(node "$work/polkit-check.js" "$units/ukeyd.polkit.rules" "$work/polkit-cases" 2>&1)
    check "polkit: ukeyd may use pcscd and restart pcscd.service, nothing more; nobody else gains" \
        test $? -eq 0
    diag_file - 20 <<<"$out"
}

# --- sysusers and tmpfiles ------------------------------------------------------------------

test_sysusers_tmpfiles() {
    local root=$work/root uid gid
    if ! command -v systemd-sysusers >/dev/null || ! command -v systemd-tmpfiles >/dev/null; then
        ok 1 "systemd-sysusers and systemd-tmpfiles are installed"
        return
    fi
    mkdir -p "$root/etc"
    check "systemd-sysusers applies ukeyd.sysusers to a scratch root" \
        systemd-sysusers --root="$root" - <"$units/ukeyd.sysusers"
    uid=$(awk -F: '$1 == "ukeyd" { print $3 }' "$root/etc/passwd" 2>/dev/null)
    gid=$(awk -F: '$1 == "ukeyd-support" { print $3 }' "$root/etc/group" 2>/dev/null)
    check "user ukeyd is a system user ($uid)" test -n "$uid" -a "${uid:-1000}" -lt 1000
    check "…that cannot log in" \
        grep -qE '^ukeyd:[^:]*:[0-9]+:[0-9]+:[^:]*:[^:]*:/usr/sbin/nologin$' "$root/etc/passwd"
    check "…with a locked password" grep -qE '^ukeyd:!' "$root/etc/shadow"
    check "group ukeyd-support exists ($gid)" test -n "$gid"
    check "systemd-tmpfiles applies ukeyd.tmpfiles there" \
        systemd-tmpfiles --root="$root" --create - <"$units/ukeyd.tmpfiles"
    check "/var/lib/ukeyd is 0700, owned by ukeyd" \
        test "$(stat -c '%a %u' "$root/var/lib/ukeyd" 2>/dev/null)" = "700 $uid"
}

test_security_score
test_hardening_settings
test_verify
test_consistency
test_syscalls
test_polkit_rule
test_sysusers_tmpfiles
done_testing
