#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-portal.sh — the demo CA portal (web-demo/portal) in a real
# browser: Debian's Chromium, driven by playwright-core (tests/browser),
# against the real stack: the PC/SC rig with two virtual tokens (copies of
# the demo tokens), the reference CA service ukey-ca serving the portal, and
# ukeyd allowing the portal's origin and using ukey-ca for unlocks.
#
# The walks themselves are tests/browser/portal.test.mjs (node's own test
# runner); this script starts and stops everything around them and relays
# node's TAP. Screenshots land in BUILD/test-logs/portal/.
#
# Skips (1..0 # SKIP) only when a tool is missing from the machine; every
# process it starts is stopped by PID.
# shellcheck disable=SC2317  # cleanup functions run from traps
set -u

# shellcheck source=tests/lib/ukeyd.sh
. "$(dirname "$0")/lib/ukeyd.sh"

browser_dir=$top/tests/browser
readonly CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
readonly STOP_WAIT_TENTHS=50
readonly NODE_TIMEOUT_S=420

# --- what the machine must have ---------------------------------------------------

need_tools curl jq ss openssl node npm
[ -x "$CHROMIUM" ] || skip_all "no $CHROMIUM (build-aux/install-deps test installs Debian's chromium)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || skip_all "playwright-core needs node 20 or later (this is $(node --version))"
for f in ukeyd ukey-ca vtoken rig/pcsc-wait demo/sm2.state demo/rsa-ec.state demo/tokens.env; do
    [ -e "$build/$f" ] || skip_all "no $build/$f (build first)"
done

# playwright-core from the committed package-lock.json (no browser download:
# it drives Debian's chromium).
if [ ! -f "$browser_dir/node_modules/playwright-core/package.json" ] ||
   [ "$browser_dir/package-lock.json" -nt "$browser_dir/node_modules/.package-lock.json" ]; then
    if ! (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error) >/tmp/ukeyd-npm-ci.$$ 2>&1; then
        sed 's/^/# /' /tmp/ukeyd-npm-ci.$$
        rm -f /tmp/ukeyd-npm-ci.$$
        bail "npm ci in tests/browser failed"
    fi
    rm -f /tmp/ukeyd-npm-ci.$$
fi

# --- the stack ------------------------------------------------------------------------

make_work portal
shots=$build/test-logs/portal
rm -rf "$shots"
mkdir -p "$shots"
portal_ca_pid=""
down_ca_pid=""
refusing_ca_pid=""
update_ca_pid=""
ukeyd_pid=""
refusing_pid=""
rc=1

cleanup() {
    local pid
    for pid in "$ukeyd_pid" "$refusing_pid" "$portal_ca_pid" "$down_ca_pid" "$update_ca_pid" "$refusing_ca_pid"; do
        stop_pid "$pid" "$STOP_WAIT_TENTHS"
    done
    lib_cleanup
    if [ "$rc" -eq 0 ]; then
        rm -rf "$work"
    else
        cp "$work"/*.log "$shots/" 2>/dev/null
        diag "kept $work for a look (logs also in $shots)"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The demo tokens, copied: the tests change PINs and PUKs. A second copy
# stays untouched: the certificate walks (cert.test.mjs) put the tokens back
# to it before they start.
cp -r "$build/demo" "$work/demo"
cp -r "$build/demo" "$work/demo-pristine"
"$top/web-demo/make-demo-seed" "$work/demo" "$build/vtoken" >"$work/seed.log" 2>&1 ||
    { sed 's/^/# /' "$work/seed.log"; bail "make-demo-seed failed"; }

# A third token whose certificate expires in 10 days, for the expiry warning.
# It starts pulled out; the walk that needs it plugs it in.
{
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/soon-key.pem" &&
    openssl req -new -x509 -utf8 -key "$work/soon-key.pem" -days 10 -sha256 \
        -subj "/C=CN/O=演示科技有限公司/CN=即将过期 Li Na 李娜" -out "$work/soon.pem" &&
    "$build/vtoken" provision --state "$work/soon.state" --pin 123456 --puk 12345678 \
        --serial 10000003 --cert "9a:$work/soon.pem" --key "9a:$work/soon-key.pem"
} >"$work/soon.log" 2>&1 || { sed 's/^/# /' "$work/soon.log"; bail "could not make the expiring token"; }

# The demo SKF key (演示专用's, a GM/T 0016 library's token), as make demo
# sets it up: a copy of BUILD/demo-skf in the virtual SKF library's
# directory, which ukeyd's helper finds through VSKF_DIR. It starts pulled
# out, so the walks that count the PIV tokens count only them; the SKF walk
# plugs it in beside them. Only when this build has the SKF provider.
skf_ready=0
if [ -x "$build/ukeyd-skf-host" ] && [ -r "$build/vskf/libvskf.so" ] && [ -x "$build/vskf/vskf" ] &&
        [ -r "$build/demo-skf/skf.env" ]; then
    cp -r "$build/demo-skf" "$work/skf"
    # untouched, for the certificate walk to start from the demo's PIN
    cp -r "$build/demo-skf" "$work/skf-pristine"
    # shellcheck disable=SC1091
    . "$work/skf/skf.env"
    export VSKF_DIR=$work/skf/$DEMO_SKF_DIR
    skf_ready=1
fi
# The SKF key on the CA's record too (owner, phone, admin PIN, both
# certificates under the ids ukeyd gives them), so that its 找回密码 walk
# (skf-unlock.test.mjs) unlocks it and its 证书延期 walk (cert.test.mjs) renews it.
SKF_PHONE=13600003000
if [ "$skf_ready" = 1 ]; then
    skf_cert() {   # PEM SLOT
        jq -n --arg s "$(openssl x509 -in "$1" -noout -serial | sed 's/^serial=//')" \
            --arg i "$(openssl x509 -in "$1" -noout -issuer -nameopt RFC2253,-esc_msb,sep_comma_plus_space |
                sed 's/^issuer=//')" --arg slot "$2" \
            --arg d "$(openssl x509 -in "$1" -outform DER | base64 -w 0)" \
            '{serial: $s, issuer: $i, slot: $slot, der: $d}'
    }
    jq --arg t "skf-$DEMO_SKF_SERIAL" --arg a "$DEMO_SKF_ADMIN_PIN" --arg p "$SKF_PHONE" \
        --argjson s "$(skf_cert "$work/skf/$DEMO_SKF_SIGN_CERT" "$DEMO_SKF_CONTAINER.sign")" \
        --argjson e "$(skf_cert "$work/skf/$DEMO_SKF_ENC_CERT" "$DEMO_SKF_CONTAINER.enc")" \
        '.tokens += [{tokenId: $t, owner: "演示专用", phone: $p, adminPin: $a, certificates: [$s, $e],
                      certFees: {change: "0.00", renewal: "0.00", reinstall: "0.00", issue: "0.00"}}]' \
        "$work/demo/ca-seed.json" >"$work/ca-seed-skf.json" && mv "$work/ca-seed-skf.json" "$work/demo/ca-seed.json" ||
        bail "could not put the SKF key on the CA's record"
fi

start_rig_with "$work/demo/sm2.state" "$work/demo/rsa-ec.state" "$work/soon.state" ||
    bail "the PC/SC rig did not start"
"$rig" remove "$work/rig" 2 >>"$work/rig-start.log" 2>&1 || bail "the rig could not pull token 2"

# The demo CAs issue changed and renewed certificates, when this ukey-ca
# issues at all (--issuer); ukeyd checks them against the same roots.
ca_issuers=()
if "$build/ukey-ca" --help 2>&1 | grep -q -- '--issuer'; then
    ca_issuers=(--issuer "$work/demo/sm2-ca.pem:$work/demo/sm2-ca-key.pem"
                --issuer "$work/demo/rsa-ca.pem:$work/demo/rsa-ca-key.pem")
fi
cat "$work/demo/sm2-ca.pem" "$work/demo/rsa-ca.pem" >"$work/ca-roots.pem"

# ukey-ca serving the portal, whose page calls ukeyd on UKEYD-PORT (the
# page's own configuration, never its URL), with the demo's support hotline:
# NAME UKEYD-PORT [OPTION...]. Sets started_pid; ca_url_of NAME then waits
# for its URL.
DEMO_HOTLINE=400-000-0000
start_ca() {
    "$build/ukey-ca" --listen 127.0.0.1:0 --db "$work/$1.db" --seed "$work/demo/ca-seed.json" \
        --static "$top/web-demo/portal" --ready-file "$work/$1.ready" --ukeyd-port "$2" \
        --hotline "$DEMO_HOTLINE" --sms-resend-seconds 2 "${ca_issuers[@]}" "${@:3}" \
        2>>"$work/ukey-$1.log" &
    started_pid=$!
}
ca_url_of() { ready_url "$work/$1.ready"; }

ukeyd_port=$(pick_port) || bail "no free port for ukeyd"
ukeyd_url=http://127.0.0.1:$ukeyd_port
start_ca ca "$ukeyd_port"
portal_ca_pid=$started_pid
ca_url=$(ca_url_of ca)
[ -n "$ca_url" ] || { sed 's/^/# /' "$work/ukey-ca.log"; bail "ukey-ca did not start"; }
# A portal whose ukeyd is not running: nothing listens on port 1.
start_ca down-ca 1
down_ca_pid=$started_pid
down_ca_url=$(ca_url_of down-ca)
[ -n "$down_ca_url" ] || { sed 's/^/# /' "$work/ukey-down-ca.log"; bail "the second ukey-ca did not start"; }
# A portal that needs a newer ukeyd than this one: the update notice.
start_ca update-ca "$ukeyd_port" --portal-min-ukeyd 99.0.0
update_ca_pid=$started_pid
update_ca_url=$(ca_url_of update-ca)
[ -n "$update_ca_url" ] || { sed 's/^/# /' "$work/ukey-update-ca.log"; bail "the update ukey-ca did not start"; }
mkdir -p "$work/ukeyd-state"
cat >"$work/ukeyd.conf" <<EOF
# written by tests/test-portal.sh
[ukeyd]
origins = $ca_url $update_ca_url
ca-service-url = $ca_url
pin-pacing-ms = 100
log-level = debug
EOF
# Keys of later releases, when this ukeyd knows them: the browser runs as
# this user, who sits at no seat here; the journal and the support socket
# stay in the test's directory.
knows_key() {
    printf '[ukeyd]\n%s = %s\n' "$1" "$2" >"$work/probe.conf"
    "$build/ukeyd" --config "$work/probe.conf" --check-config >/dev/null 2>&1
}
for kv in "peer-policy=any-local" "state-directory=$work/ukeyd-state" \
          "support-socket=$work/support.sock" "ca-roots=$work/ca-roots.pem"; do
    if knows_key "${kv%%=*}" "${kv#*=}"; then
        echo "${kv%%=*} = ${kv#*=}" >>"$work/ukeyd.conf"
    fi
done
if [ "$skf_ready" = 1 ] && knows_key skf-helper "$build/ukeyd-skf-host"; then
    cat >>"$work/ukeyd.conf" <<EOF
skf-library = $build/vskf/libvskf.so
skf-helper = $build/ukeyd-skf-host
skf-discover = no
EOF
else
    skf_ready=0
fi
"$build/ukeyd" --config "$work/ukeyd.conf" \
    --listen "127.0.0.1:$ukeyd_port" >>"$work/ukeyd.log" 2>&1 &
ukeyd_pid=$!
wait_for_status "$ukeyd_url" || { sed 's/^/# /' "$work/ukeyd.log"; bail "ukeyd did not start"; }

# A second ukeyd that refuses this account (peer policy): the portal must say
# what ukeyd says, not spin. Only when this ukeyd has a peer policy.
refusing_port=""
refusing_ca_url=""
if knows_key peer-policy users; then
    refusing_port=$(pick_port) || bail "no free port for the second ukeyd"
    # its portal: another ukey-ca, configured with that ukeyd's port
    start_ca refusing-ca "$refusing_port"
    refusing_ca_pid=$started_pid
    refusing_ca_url=$(ca_url_of refusing-ca)
    [ -n "$refusing_ca_url" ] || { sed 's/^/# /' "$work/ukey-refusing-ca.log"; bail "the third ukey-ca did not start"; }
    sed -e '/^peer-policy/d' -e '/^support-socket/d' -e '/^state-directory/d' -e '/^ca-roots/d' -e '/^skf-/d' \
        -e "s|^origins = .*|origins = $refusing_ca_url|" "$work/ukeyd.conf" >"$work/refusing.conf"
    printf 'peer-policy = users\npeer-users = nobody\nsupport-socket = none\n' >>"$work/refusing.conf"
    "$build/ukeyd" --config "$work/refusing.conf" --listen "127.0.0.1:$refusing_port" \
        >>"$work/ukeyd-refusing.log" 2>&1 &
    refusing_pid=$!
    wait_listening "$refusing_port" "$LIB_START_WAIT_TENTHS"
fi

diag "portal $ca_url/ (its ukeyd: $ukeyd_url), rig $work/rig"

# --- the walks ------------------------------------------------------------------------------

export PORTAL_URL="$ca_url/" CA_URL="$ca_url" UKEYD_URL="$ukeyd_url"
export PORTAL_DOWN_URL="$down_ca_url/" PORTAL_UPDATE_URL="$update_ca_url/" DEMO_HOTLINE PORTAL_REFUSING_URL=${refusing_ca_url:+$refusing_ca_url/}
export RIG="$rig" RIG_DIR SHOT_DIR="$shots" DEMO_DIR="$work/demo" CHROMIUM
export BROWSER_PROFILE_DIR="$work/profiles"
export RIG_READER_0 RIG_READER_1 RIG_READER_2 UKEYD_REFUSING_PORT="$refusing_port"
export PRISTINE_DIR="$work/demo-pristine" CA_ISSUES=${ca_issuers:+1}
if [ "$skf_ready" = 1 ]; then
    export VSKF="$build/vskf/vskf" SKF_DEVICE="$DEMO_SKF_DEVICE" SKF_PIN="$DEMO_SKF_USER_PIN" SKF_PHONE
    export SKF_PRISTINE_DIR="$work/skf-pristine/$DEMO_SKF_DIR"
fi
# The certificate walks (cert.test.mjs) run after the others, in a node of
# their own (node --test would sort the files): they change the tokens'
# certificates, which the first walks compare with the demo's. One TAP
# stream from both: the tests numbered on, one plan.
walks() {
    (cd "$browser_dir" && timeout --kill-after=10 "$NODE_TIMEOUT_S" \
        node --test --test-reporter=tap --test-concurrency=1 "$1")
}
walks portal.test.mjs >"$work/walks-portal.tap"
rc=$?
walks cert.test.mjs >"$work/walks-cert.tap" || rc=1
# 找回密码 on the SKF key last: it plugs the key in and pulls it out again.
walks skf-unlock.test.mjs >"$work/walks-skf-unlock.tap" || rc=1
awk '
    /^TAP version/ { if (seen++) next }
    /^1\.\.[0-9]+$/ { next }
    match($0, /^(not )?ok [0-9]+/) {
        head = substr($0, 1, RLENGTH); sub(/[0-9]+$/, "", head)
        print head (++n) substr($0, RLENGTH + 1); next
    }
    { print }
    END { print "1.." n }' "$work/walks-portal.tap" "$work/walks-cert.tap" "$work/walks-skf-unlock.tap"
# Nothing secret in the daemon's log, whatever happened.
if grep -qE 'Kx742951|Mz519384|Rw283746|Tq605182|Wrong999|Wrong777|Sk836215|Wrong888|Sj470358|Wrong555' "$work/ukeyd.log"; then
    echo "not ok - a PIN appears in ukeyd's log"
    rc=1
fi
exit "$rc"
