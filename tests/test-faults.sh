#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-faults.sh — ukeyd under faults and load, bounded in time (about
# four minutes on a 2-core machine):
#
#   yanks    100 random pulls of the virtual token while reads, PIN verifies
#            and PIN changes go through the API: every request answered in
#            time with a documented code, ukeyd alive, and at the end the PIN
#            the API reported is the card's (OpenSC verifies it), the PIN and
#            PUK counters are full, the API and the card agree on them.
#   pcscd    killed and restarted 20 times under load: ukeyd (same PID) sees
#            both tokens again each time; only documented answers meanwhile.
#   soak     256 connections (SSE streams among them) of mixed routes while a
#            token is unplugged and plugged back every 2 s: no 5xx but the
#            documented token errors, no socket errors, streams stay open and
#            get the events, RSS flat. FAULTS_SOAK_SECONDS (default 20;
#            `make soak` runs 60).
#   valgrind the integration suite (tests/test-daemon.sh) with ukeyd under
#            valgrind memcheck: no errors, no definite leaks. FAULTS_VALGRIND=0
#            leaves it out.
#
# The unlock service's faults (killed, slowed past the timeout, answering
# garbage, during unlock flows) are in tests/test-unlock.sh.
#
# TAP on stdout. Every process it starts is stopped by PID.
set -u

# shellcheck source=tests/lib/ukeyd.sh
. "$(dirname "$0")/lib/ukeyd.sh"

ukeyd=$build/ukeyd
vtoken=$build/vtoken
hammer=$build/bench/hammer

readonly PIN_A=123456                 # the demo token's PIN, where it starts
readonly PIN_B=24681357               # the PIN changes swap between B and C: never back
readonly PIN_C=13572468               # to A, which ukeyd refuses as too simple
readonly YANKS=${FAULTS_YANKS:-100}
# In long enough for pcscd (which polls every ~400 ms) to see the token come
# back most times, so that operations run on the card when it goes.
readonly YANK_GAP_MS=(150 500)        # in before the next pull: min, spread
readonly YANK_OUT_MS=(50 250)         # out of the reader: min, spread
readonly PCSCD_RESTARTS=${FAULTS_PCSCD_RESTARTS:-20}
readonly SOAK_S=${FAULTS_SOAK_SECONDS:-20}
readonly SOAK_CONNECTIONS=240         # + SOAK_STREAMS = 256
readonly SOAK_STREAMS=16
readonly REPLUG_HALF_S=1              # out 1 s, in 1 s: a replug every 2 s
readonly RSS_GROWTH_MAX_KIB=1024      # second half of the soak over the first
readonly REQUEST_BOUND_S=15           # every answer within this, even mid-yank
readonly RECOVERY_BOUND_S=15          # tokens back after a pcscd restart
readonly PCSCD_LOAD_CONNECTIONS=16
readonly TRIES_FULL=3
readonly VALGRIND_ERROR_EXIT=99
# The API's problem codes a request may meet when the token, its reader or
# pcscd goes away under it (docs/api.md).
readonly GONE_CODES=" TOKEN_NOT_FOUND TOKEN_REMOVED TOKEN_BUSY PCSC_UNAVAILABLE "

need_tools curl ss pkcs15-tool
for bin in "$ukeyd" "$vtoken" "$hammer"; do
    [ -x "$bin" ] || skip_all "no $bin (build first)"
done
[ -f "$demo/sm2.state" ] && [ -f "$demo/rsa-ec.state" ] || skip_all "no demo tokens in $demo"

make_work faults
cleanup() {
    lib_cleanup
    remove_work
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
sleep_ms() { sleep "$(awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }')"; }
random_ms() { echo $(($1 + RANDOM % $2)); }

# --- the rig and the daemon ------------------------------------------------

start_rig || skip_all "the PC/SC rig did not start"

mkdir -p "$work/state"
cat >"$work/ukeyd.conf" <<EOF
# written by tests/test-faults.sh: room for 256 connections and the streams,
# PIN pacing short enough for many attempts
[ukeyd]
pin-pacing-ms = 20
max-connections = 512
# All of them from root: the per-account share must not cut the soak short.
max-connections-per-user = 512
max-sse-clients = 32
connection-timeout = 30
# CI has no logind and no console login: let every local account (root) in.
peer-policy = any-local
support-socket = none
state-directory = $work/state
EOF

if ! start_ukeyd "$work/ukeyd.log" "$ukeyd" --config "$work/ukeyd.conf"; then
    sed 's/^/#   /' "$work/ukeyd.log" | tail -n 20
    ok 1 "ukeyd starts against the rig"
    echo "1..$n"
    exit 1
fi
ok 0 "ukeyd starts against the rig (pid $daemon_pid)"

# --- requests -----------------------------------------------------------------

# call METHOD PATH [BODY]: "$code $problem_code $ms" on stdout; 000 when no
# answer came within REQUEST_BOUND_S.
call() {
    local method=$1 path=$2 body=${3:-} out t0 code problem file=$work/body.$BASHPID
    t0=$(now_ms)
    if [ -n "$body" ]; then
        out=$(curl -s --max-time "$REQUEST_BOUND_S" -o "$file" -w '%{http_code}' \
            -X "$method" -H 'Content-Type: application/json' --data-binary "$body" "$base$path")
    else
        out=$(curl -s --max-time "$REQUEST_BOUND_S" -o "$file" -w '%{http_code}' \
            -X "$method" "$base$path")
    fi
    code=${out:-000}
    problem=$(sed -n 's/.*"code": *"\([A-Z_]*\)".*/\1/p' "$file" 2>/dev/null | head -n 1)
    rm -f "$file"
    echo "$code ${problem:--} $(($(now_ms) - t0))"
}

# Whether an answer is one a request may get while its token is pulled.
answer_ok_when_gone() {   # CODE PROBLEM
    [ "$1" = 200 ] || [[ "$GONE_CODES" == *" $2 "* ]]
}

token_id_of() {   # READER
    curl -s --max-time 5 "$base/v1/tokens" -H 'Sec-Fetch-Site: none' |
        grep -o "\"id\":\"[^\"]*\",\"reader\":\"$1\"" | cut -d'"' -f4
}

wait_token() {   # ID SECONDS: until GET /v1/tokens/ID answers 200
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$base/v1/tokens/$1")" = 200 ] &&
            return 0
        sleep 0.1
    done
    return 1
}

daemon_alive() { kill -0 "$daemon_pid" 2>/dev/null; }

tok0=$(token_id_of "$RIG_READER_0")
tok1=$(token_id_of "$RIG_READER_1")
check "both tokens listed ($tok0, $tok1)" test -n "$tok0" -a -n "$tok1"

# --- yanks -------------------------------------------------------------------

yank_loop() {
    local i
    for ((i = 0; i < YANKS; i++)); do
        sleep_ms "$(random_ms "${YANK_GAP_MS[@]}")"
        "$vtoken" ctl "$RIG_CONTROL_0" remove >/dev/null
        sleep_ms "$(random_ms "${YANK_OUT_MS[@]}")"
        "$vtoken" ctl "$RIG_CONTROL_0" insert >/dev/null
    done
}

read_loop() {   # until the file $work/yanks.done appears
    local paths=(/v1/status /v1/readers /v1/tokens "/v1/tokens/$tok0" "/v1/tokens/$tok0/pin"
                 "/v1/tokens/$tok0/certificates" "/v1/tokens/$tok0/certificates/9a.pem")
    while [ ! -e "$work/yanks.done" ]; do
        echo "GET $(call GET "${paths[RANDOM % ${#paths[@]}]}")" >>"$work/reads.log"
    done
}

# The PIN the card holds, as far as the API has said: one candidate, or two
# after a change whose answer was "the token went away" (the card may or
# may not have taken the new PIN before it went).
pins=("$PIN_A")
other_pin() { if [ "$1" = "$PIN_B" ]; then echo "$PIN_C"; else echo "$PIN_B"; fi; }

# One PIN operation on token 0; appends "OP code problem ms" to pin.log and
# returns 1 when the answer contradicts what the API said before.
pin_step() {
    local cur=${pins[0]} next r code problem
    if [ ${#pins[@]} -eq 2 ] || [ $((RANDOM % 2)) -eq 0 ]; then
        r=$(call POST "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"$cur\",\"confirmLastTry\":true}")
        echo "verify $r" >>"$work/pin.log"
        read -r code problem _ <<<"$r"
        if [ "$code" = 200 ]; then
            pins=("$cur")
        elif [ "$problem" = PIN_INCORRECT ] && [ ${#pins[@]} -eq 2 ]; then
            pins=("${pins[1]}")        # the change did go through
        elif ! answer_ok_when_gone "$code" "$problem"; then
            return 1
        fi
        return 0
    fi
    next=$(other_pin "$cur")
    r=$(call POST "/v1/tokens/$tok0/pin/change" \
        "{\"oldPin\":\"$cur\",\"newPin\":\"$next\",\"confirmLastTry\":true}")
    echo "change $r" >>"$work/pin.log"
    read -r code problem _ <<<"$r"
    if [ "$code" = 200 ]; then
        pins=("$next")
    elif [ "$code" = 000 ] || [[ "$problem" =~ ^(TOKEN_REMOVED|TOKEN_NOT_FOUND|TOKEN_BUSY|PCSC_UNAVAILABLE)$ ]]; then
        # Not found before the card was asked changes nothing; the others may have.
        [ "$problem" = TOKEN_NOT_FOUND ] || pins=("$cur" "$next")
    else
        return 1
    fi
    return 0
}

# Verifies candidates until one is confirmed (at most one wrong try, which the
# right one restores); $settled is the last answer's status.
settle_pin() {
    local i r code problem
    settled=
    for ((i = 0; i < 2 * TRIES_FULL; i++)); do
        r=$(call POST "/v1/tokens/$tok0/pin/verify" "{\"pin\":\"${pins[0]}\",\"confirmLastTry\":true}")
        echo "settle $r" >>"$work/pin.log"
        read -r code problem _ <<<"$r"
        settled=$code
        if [ "$code" = 200 ]; then
            pins=("${pins[0]}")
            return 0
        fi
        [ "$problem" = PIN_INCORRECT ] && [ ${#pins[@]} -eq 2 ] && pins=("${pins[1]}")
        sleep 0.2
    done
    return 1
}

# The last two columns of a log: how many answers were outside the allowed,
# and the slowest.
judge_log() {   # FILE -> "bad slowest-ms"
    local bad=0 slowest=0 op code problem ms
    while read -r op code problem ms; do
        [ "$ms" -gt "$slowest" ] && slowest=$ms
        if [ "$code" = 000 ] || ! { answer_ok_when_gone "$code" "$problem" ||
                                    [ "$problem" = PIN_INCORRECT ]; }; then
            bad=$((bad + 1))
            diag "unexpected answer: $op $code $problem ${ms}ms"
        fi
    done <"$1"
    echo "$bad $slowest"
}

test_yanks() {
    local yanker reader contradictions=0 bad slowest tries
    : >"$work/reads.log"
    : >"$work/pin.log"
    rm -f "$work/yanks.done"
    yank_loop &
    yanker=$!
    helper_pids+=("$yanker")
    read_loop &
    reader=$!
    helper_pids+=("$reader")
    while kill -0 "$yanker" 2>/dev/null; do
        pin_step || { contradictions=$((contradictions + 1)); tail -n 1 "$work/pin.log" | sed 's/^/# contradiction: /'; }
    done
    wait "$yanker"
    touch "$work/yanks.done"
    wait "$reader"
    check "$YANKS yanks: ukeyd still runs" daemon_alive
    read -r bad slowest < <(judge_log "$work/reads.log")
    check "reads during yanks: $(wc -l <"$work/reads.log") answered, each within ${REQUEST_BOUND_S}s" \
        test "$bad" -eq 0
    diag "slowest read ${slowest} ms; answers: $(awk '{ print $2, $3 }' "$work/reads.log" | sort | uniq -c | tr '\n' ';')"
    read -r bad slowest < <(judge_log "$work/pin.log")
    check "PIN verifies and changes during yanks: $(wc -l <"$work/pin.log") answered with documented codes" \
        test "$bad" -eq 0
    diag "slowest PIN operation ${slowest} ms; answers: $(awk '{ print $1, $2, $3 }' "$work/pin.log" | sort | uniq -c | tr '\n' ';')"
    check "no answer contradicted an earlier one" test "$contradictions" -eq 0

    "$vtoken" ctl "$RIG_CONTROL_0" insert >/dev/null
    check "the token is back after the yanks" wait_token "$tok0" "$RECOVERY_BOUND_S"
    settle_pin
    check "the API settles on one PIN, and it verifies (${pins[*]})" \
        test ${#pins[@]} -eq 1 -a "$settled" = 200
    tries=$(curl -s --max-time 5 "$base/v1/tokens/$tok0/pin" | sed -n 's/.*"triesLeft": *\([0-9]*\).*/\1/p')
    check "API: PIN tries full again ($tries)" test "$tries" = "$TRIES_FULL"
    "$vtoken" show --state "$work/sm2.state" >"$work/show.txt" 2>&1
    check "card: PIN tries full ($(sed -n 's/^pin *: //p' "$work/show.txt"))" \
        grep -q "^pin *: $TRIES_FULL of" "$work/show.txt"
    check "card: PUK untouched ($(sed -n 's/^puk *: //p' "$work/show.txt"))" \
        grep -q "^puk *: $TRIES_FULL of" "$work/show.txt"
    # pcscd leaves the card powered after ukeyd's release; OpenSC's own VERIFY is the judge.
    pkcs15-tool --reader "$RIG_READER_0" --verify-pin --pin "${pins[0]}" >"$work/p15.out" 2>&1
    check "OpenSC verifies the PIN the API reported" test $? -eq 0
}

# --- pcscd restarts -------------------------------------------------------------

# Waits until GET /v1/status shows pcscd and both tokens; milliseconds on stdout.
tokens_back_ms() {
    local t0 i
    t0=$(now_ms)
    for ((i = 0; i < RECOVERY_BOUND_S * 20; i++)); do
        if curl -s --max-time 2 "$base/v1/status" | tr -d ' \n' |
            grep -q '"pcscAvailable":true.*"tokenCount":2'; then
            echo $(($(now_ms) - t0))
            return 0
        fi
        sleep 0.05
    done
    return 1
}

hammer_report() { sed -n "s/^$1 //p" "$2"; }

# No socket errors, and every answer but a 200 a documented "gone" problem.
judge_hammer() {   # REPORT NAME
    local report=$1 name=$2 non200 gone=0 bad=0 code count connect reset timeout
    non200=$(awk '$1 == "status" && $2 != 200 { s += $3 } END { print s + 0 }' "$report")
    while read -r code count; do
        if [[ "$GONE_CODES" == *" $code "* ]]; then
            gone=$((gone + count))
        else
            bad=1
            diag "$name: $count x $code"
        fi
    done < <(sed -n 's/^code //p' "$report")
    check "$name: only 200 and documented token errors ($non200 of those:$(sed -n \
        's/^code \(.*\)/ \1/p' "$report" | tr '\n' ','))" test "$bad" -eq 0 -a "$gone" -eq "$non200"
    connect=$(hammer_report errors-connect "$report")
    reset=$(hammer_report errors-reset "$report")
    timeout=$(hammer_report errors-timeout "$report")
    check "$name: no socket errors (connect $connect, reset $reset, timeout $timeout)" \
        test "$connect" = 0 -a "$reset" = 0 -a "$timeout" = 0
}

test_pcscd_restarts() {
    local load i ms slowest=0 missed=0 duration
    duration=$((PCSCD_RESTARTS * 4 + 10))
    "$hammer" --port "$port" --seconds "$duration" --connections "$PCSCD_LOAD_CONNECTIONS" \
        --timeout-ms $((REQUEST_BOUND_S * 1000)) \
        --get /v1/status --get /v1/readers --get /v1/tokens --get "/v1/tokens/$tok1" \
        --get "/v1/tokens/$tok1/pin" --get "/v1/tokens/$tok0/certificates/9a.der" \
        >"$work/hammer-pcscd.txt" 2>&1 &
    load=$!
    helper_pids+=("$load")
    for ((i = 1; i <= PCSCD_RESTARTS; i++)); do
        "$rig" restart-pcscd "$work/rig" >>"$work/rig-restart.log" 2>&1 ||
            diag "restart $i: the rig reports a problem"
        if ms=$(tokens_back_ms); then
            [ "$ms" -gt "$slowest" ] && slowest=$ms
        else
            missed=$((missed + 1))
            diag "restart $i: tokens not back within ${RECOVERY_BOUND_S}s"
        fi
    done
    check "pcscd restarted $PCSCD_RESTARTS times: ukeyd saw both tokens again each time" \
        test "$missed" -eq 0
    diag "slowest recovery ${slowest} ms after the rig had pcscd back with the cards"
    check "…without restarting (pid $daemon_pid alive)" daemon_alive
    kill -TERM "$load" 2>/dev/null   # hammer reports what it saw, then exits
    wait "$load" 2>/dev/null
}

# --- soak ---------------------------------------------------------------------------

replug_loop() {   # SECONDS
    local end=$(($(date +%s) + $1))
    while [ "$(date +%s)" -lt "$end" ]; do
        "$vtoken" ctl "$RIG_CONTROL_0" remove >/dev/null
        sleep "$REPLUG_HALF_S"
        "$vtoken" ctl "$RIG_CONTROL_0" insert >/dev/null
        sleep "$REPLUG_HALF_S"
    done
}

rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }

test_soak() {
    local load replug sampler half first_max second_max
    : >"$work/rss.txt"
    "$hammer" --port "$port" --seconds "$SOAK_S" --connections "$SOAK_CONNECTIONS" \
        --streams "$SOAK_STREAMS" --timeout-ms $((REQUEST_BOUND_S * 1000)) \
        --get /v1/status --get /v1/readers --get /v1/tokens --get "/v1/tokens/$tok0" \
        --get "/v1/tokens/$tok0/pin" --get "/v1/tokens/$tok0/certificates" \
        --get "/v1/tokens/$tok0/certificates/9a.pem" --get "/v1/tokens/$tok1" \
        --get "/v1/tokens/$tok1/certificates/9c.der" >"$work/hammer-soak.txt" 2>&1 &
    load=$!
    helper_pids+=("$load")
    replug_loop "$SOAK_S" &
    replug=$!
    helper_pids+=("$replug")
    while kill -0 "$load" 2>/dev/null; do
        rss_kib "$daemon_pid" >>"$work/rss.txt"
        sleep 1
    done
    wait "$load"
    wait "$replug"
    "$vtoken" ctl "$RIG_CONTROL_0" insert >/dev/null
    diag "soak: $(hammer_report requests "$work/hammer-soak.txt") requests in ${SOAK_S}s," \
         "p50 $(hammer_report latency-ms-p50 "$work/hammer-soak.txt") ms," \
         "p99 $(hammer_report latency-ms-p99 "$work/hammer-soak.txt") ms," \
         "max $(hammer_report latency-ms-max "$work/hammer-soak.txt") ms"
    judge_hammer "$work/hammer-soak.txt" "soak, $((SOAK_CONNECTIONS + SOAK_STREAMS)) connections, ${SOAK_S}s"
    check "soak: $SOAK_STREAMS event streams opened, none refused or dropped" \
        test "$(hammer_report streams-opened "$work/hammer-soak.txt")" = "$SOAK_STREAMS" -a \
             "$(hammer_report streams-refused "$work/hammer-soak.txt")" = 0 -a \
             "$(hammer_report streams-dropped "$work/hammer-soak.txt")" = 0
    check "soak: every stream got the replug events ($(hammer_report stream-events-min "$work/hammer-soak.txt") at least)" \
        test "$(hammer_report stream-events-min "$work/hammer-soak.txt")" -ge 2
    half=$(($(wc -l <"$work/rss.txt") / 2))
    first_max=$(head -n "$half" "$work/rss.txt" | sort -n | tail -n 1)
    second_max=$(tail -n +"$((half + 1))" "$work/rss.txt" | sort -n | tail -n 1)
    if ldd "$ukeyd" 2>/dev/null | grep -q libasan; then
        # ASan's quarantine keeps freed memory on purpose, so RSS says
        # nothing here; this pass has LeakSanitizer at exit instead, and
        # the plain pass measures RSS.
        ok 0 "# SKIP soak RSS (ukeyd is built with AddressSanitizer: ${first_max}/${second_max} KiB)"
    else
        check "soak: RSS flat (first half up to ${first_max} KiB, second half up to ${second_max} KiB)" \
            test "$((second_max - first_max))" -le "$RSS_GROWTH_MAX_KIB"
    fi
    check "soak: ukeyd still runs" daemon_alive
}

# --- valgrind ---------------------------------------------------------------------

test_valgrind() {
    local logs=$work/valgrind rc runs clean leaks
    if [ "${FAULTS_VALGRIND:-1}" = 0 ]; then
        ok 0 "# SKIP valgrind run (FAULTS_VALGRIND=0)"
        return
    fi
    # AddressSanitizer and valgrind cannot watch one process together: the
    # sanitizer pass of make check has its own checks, the plain one runs this.
    if ldd "$ukeyd" 2>/dev/null | grep -q libasan; then
        ok 0 "# SKIP valgrind run ($ukeyd is built with AddressSanitizer)"
        return
    fi
    if ! command -v valgrind >/dev/null; then
        ok 1 "valgrind is installed (build-aux/install-deps test)"
        return
    fi
    mkdir -p "$logs"
    UKEYD_WRAPPER="valgrind --error-exitcode=$VALGRIND_ERROR_EXIT --leak-check=full \
--errors-for-leak-kinds=definite --show-leak-kinds=definite --track-origins=yes \
--log-file=$logs/memcheck.%p.log" \
        bash "$top/tests/test-daemon.sh" >"$work/test-daemon-valgrind.log" 2>&1
    rc=$?
    check "tests/test-daemon.sh with ukeyd under valgrind: $(grep -c '^ok' "$work/test-daemon-valgrind.log") ok, $(grep -c '^not ok' "$work/test-daemon-valgrind.log") not ok" \
        test "$rc" -eq 0
    grep '^not ok' "$work/test-daemon-valgrind.log" | head -n 10 | sed 's/^/#   /'
    runs=$(find "$logs" -name 'memcheck.*.log' | wc -l)
    # --errors-for-leak-kinds=definite counts definite leaks as errors too.
    clean=$(grep -l 'ERROR SUMMARY: 0 errors' "$logs"/memcheck.*.log 2>/dev/null | wc -l)
    leaks=$(cat "$logs"/memcheck.*.log 2>/dev/null | grep -c 'definitely lost: [1-9]')
    check "memcheck: $runs ukeyd runs, $clean of them without errors" \
        test "$runs" -gt 0 -a "$clean" -eq "$runs"
    check "memcheck: no definite leaks" test "$leaks" -eq 0
    if [ "$clean" -ne "$runs" ] || [ "$leaks" -ne 0 ]; then
        grep -h -A12 -E '^==[0-9]+== (Invalid|Conditional|Syscall|Mismatched|[0-9,]+ bytes in)' \
            "$logs"/memcheck.*.log | head -n 60 | sed 's/^/#   /'
    fi
}

t0=$SECONDS
test_yanks
diag "yanks took $((SECONDS - t0)) s"
t0=$SECONDS
test_pcscd_restarts
judge_hammer "$work/hammer-pcscd.txt" "load during pcscd restarts"
diag "pcscd restarts took $((SECONDS - t0)) s"
t0=$SECONDS
test_soak
diag "soak took $((SECONDS - t0)) s"
kill -TERM "$daemon_pid"
wait "$daemon_pid"
rc=$?
check "ukeyd stops cleanly after it all (exit $rc)" test "$rc" -eq 0
daemon_pid=
t0=$SECONDS
test_valgrind
diag "valgrind run took $((SECONDS - t0)) s"
if [ "$failed" -ne 0 ]; then
    diag "ukeyd log (tail):"
    tail -n 30 "$work/ukeyd.log" | sed 's/^/#   /'
fi
done_testing
