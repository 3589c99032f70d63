# Sourced by the test_server_*.sh scripts: start `llama3 serve` on a free loopback port
# (random, retried on conflict), wait until /health answers, and always stop it on exit.
# Every curl call has a time limit; the server only ever listens on 127.0.0.1.
set -u
SERVER_PID=
PORT=
BASE=
LOG=$(mktemp)
FAILS=0

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null
    fi
    wait "$SERVER_PID" 2>/dev/null
    local rc=$?
    SERVER_PID=
    return $rc
}
cleanup() { stop_server; rm -f "$LOG"; }
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_server CLI MODEL [serve options...]
start_server() {
    local cli=$1 model=$2
    shift 2
    for attempt in 1 2 3 4 5 6; do
        PORT=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        "$cli" serve -m "$model" --host 127.0.0.1 --port "$PORT" "$@" 2>"$LOG" &
        SERVER_PID=$!
        for _ in $(seq 300); do  # up to 30 s (the model loads first; ASan is slow)
            if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
            if grep -q "listening on" "$LOG" && curl -s -m 2 "http://127.0.0.1:$PORT/health" >/dev/null; then
                BASE="http://127.0.0.1:$PORT"
                return 0
            fi
            sleep 0.1
        done
        if grep -q "cannot listen" "$LOG"; then  # port taken: another one
            wait "$SERVER_PID" 2>/dev/null
            SERVER_PID=
            continue
        fi
        cat "$LOG" >&2
        echo "FAIL: the server did not start" >&2
        exit 1
    done
    echo "FAIL: no free port after 6 tries" >&2
    exit 1
}

# need_npm PREFIX PACKAGE: installs an npm package into PREFIX when it is missing (the
# registry or its mirror); skips the test (exit 77) when that cannot be done.
need_npm() {
    [ -d "$1/node_modules/$2" ] && return 0
    command -v npm >/dev/null || { echo "SKIP: npm not installed (apt-get install nodejs npm)"; exit 77; }
    timeout 300 npm install --silent --no-audit --no-fund --prefix "$1" "$2" >/dev/null 2>&1 ||
        { echo "SKIP: npm install $2 failed"; exit 77; }
}

# post PATH JSON: sets BODY and STATUS (call it without $(...) to see them), prints BODY
post() {
    local out
    out=$(curl -s -m 60 -w '\n%{http_code}' -H 'Content-Type: application/json' --data-binary "$2" "$BASE$1")
    STATUS=${out##*$'\n'}
    BODY=${out%$'\n'*}
    printf '%s' "$BODY"
}

# Stops the server and checks it exits 0 (under ASan: no leak, no error).
finish() {
    stop_server
    local rc=$?
    if [ "$rc" -ne 0 ]; then fail "the server exited with status $rc"; cat "$LOG" >&2; fi
    if grep -q "ERROR: AddressSanitizer\|runtime error" "$LOG"; then fail "sanitizer report"; cat "$LOG" >&2; fi
    if [ "$FAILS" -ne 0 ]; then echo "$FAILS failed" >&2; exit 1; fi
    echo "ok"
    exit 0
}
