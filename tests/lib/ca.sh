# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# `work` and CURL_MAX_S are the sourcing script's; CA is for it to read.
# shellcheck disable=SC2154,SC2034
#
# tests/lib/ca.sh — the reference CA service (ukey-ca, web-demo/ca-service)
# behind a ukeyd under test: token copies and the seed made from them, the
# service on a free port, and its demo API (SMS outbox, staff, payments).
# tests/lib/ca-http.sh is for the tests of ukey-ca itself.

[ -n "${LIB_CA_LOADED:-}" ] && return 0
LIB_CA_LOADED=1
# shellcheck source=tests/lib/rig.sh
. "$(dirname "${BASH_SOURCE[0]}")/rig.sh"

# Copies of the demo tokens (and their certificates, keys and tokens.env) in
# $work/demo, and the CA's seed made from these very copies, so that the CA
# and the tokens agree (PUKs, management keys, certificates). False when the
# seed cannot be made (its log is $work/seed.log).
copy_demo_tokens() {
    mkdir -p "$work/demo"
    cp "$demo/tokens.env" "$demo"/*.pem "$demo/sm2.state" "$demo/rsa-ec.state" "$work/demo/" &&
        "$top/web-demo/make-demo-seed" "$work/demo" "$build/vtoken" >"$work/seed.log" 2>&1
}

# start_ukey_ca SEED [ARGS...]: the reference CA service on a free loopback
# port with its database in $work/ca.db; $CA is its base URL, $ca_pid its
# PID. Stopped by lib_cleanup (or stop_ukey_ca).
start_ukey_ca() {
    local seed=$1
    shift
    rm -f "$work/ca.ready"
    "$build/ukey-ca" --listen 127.0.0.1:0 --db "$work/ca.db" --seed "$seed" \
        --ready-file "$work/ca.ready" "$@" 2>>"$work/ukey-ca.log" &
    ca_pid=$!
    CA=$(ready_url "$work/ca.ready")
    [ -n "$CA" ]
}

stop_ukey_ca() {
    [ -n "$ca_pid" ] && kill "$ca_pid" 2>/dev/null && wait "$ca_pid" 2>/dev/null
    ca_pid=
}

# The CA service's own demo API (never through ukeyd).
ca_get() { curl -s --max-time "${CURL_MAX_S:-10}" "$CA$1"; }
ca_post() { curl -s --max-time "${CURL_MAX_S:-10}" -H 'Content-Type: application/json' -d "${2:-{\}}" "$CA$1"; }

# The newest SMS code the demo outbox holds for PHONE.
latest_code() { ca_get "/demo/api/outbox?phone=$1" | jq -r '.messages[0].code'; }

# Through ukeyd: has the CA send unlock session $sid an SMS to PHONE. When
# its resend window for the token is still open (an earlier step sent one
# moments ago), waits the retryAfter it names, once.
send_unlock_sms() {   # PHONE
    post_json "/v1/unlock/$sid/sms" "{\"phone\":\"$1\"}"
    [ "$code" = 429 ] || return 0
    sleep "$(field '.retryAfter // 1')"
    post_json "/v1/unlock/$sid/sms" "{\"phone\":\"$1\"}"
}

# Proves session $sid's identity with the SMS code sent to PHONE; the code
# joins SECRETS (what no log may hold).
prove_by_sms() {   # PHONE
    send_unlock_sms "$1"
    sms_code=$(latest_code "$1")
    SECRETS+=("$sms_code")
    post_json "/v1/unlock/$sid/verify" "{\"smsCode\":\"$sms_code\"}"
}
