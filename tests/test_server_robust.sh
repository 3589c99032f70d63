#!/bin/bash
# 200 bad requests (malformed JSON, wrong types, huge bodies, truncated requests, clients
# that vanish mid-stream, wrong methods, unknown routes, a stalled client), then a normal
# request must still succeed, no slot may stay busy, and the server must exit cleanly.
# usage: test_server_robust.sh LLAMA3_CLI MODEL
. "$(dirname "$0")/test_server_lib.sh"
CLI=$1 MODEL=$2
start_server "$CLI" "$MODEL" --slots 2 --queue 4 -c 2048 --timeout 2
HOST=127.0.0.1
N=0

expect() {  # expect STATUS-GLOB METHOD PATH BODY [curl args...]
    local want=$1 method=$2 path=$3 data=$4
    shift 4
    local got
    got=$(curl -s -m 20 -o /dev/null -w '%{http_code}' -X "$method" --data-binary "$data" "$@" "$BASE$path")
    N=$((N + 1))
    # shellcheck disable=SC2053
    [[ $got == $want ]] || fail "$method $path '${data:0:60}': got $got, want $want"
}
raw() {  # raw TEXT: send bytes on a fresh connection, then hang up without reading
    N=$((N + 1))
    exec 3<>"/dev/tcp/$HOST/$PORT" || { fail "connect"; return; }
    printf '%b' "$1" >&3
    exec 3>&- 3<&-
}

BAD_JSON=('' '{' '}' '[' '{"prompt":' '{"prompt":"x"' 'null' '[]' '"str"' '42' '{"prompt":"x",}' "{'prompt':'x'}"
          '{"prompt":"x","prompt":"y"}' '{"messages":[{"role":"user","content":"x"}]' $'{"prompt":"\xff\xfe"}'
          '{"prompt":"\ud800"}' 'NaN' '{"a":1e99999}' "$(printf '%.0s[' $(seq 5000))")
for b in "${BAD_JSON[@]}"; do
    expect 400 POST /v1/completions "$b"
    expect 400 POST /v1/chat/completions "$b"
done
WRONG_TYPES=('{"prompt":5}' '{"prompt":null}' '{"prompt":[]}' '{"prompt":[1.5]}' '{"prompt":[-1]}' '{"prompt":[99999999]}'
             '{"prompt":"x","max_tokens":"5"}' '{"prompt":"x","max_tokens":0}' '{"prompt":"x","max_tokens":-3}'
             '{"prompt":"x","max_tokens":1.5}' '{"prompt":"x","temperature":"hot"}' '{"prompt":"x","temperature":-1}'
             '{"prompt":"x","temperature":9}' '{"prompt":"x","top_p":2}' '{"prompt":"x","seed":"s"}'
             '{"prompt":"x","stop":5}' '{"prompt":"x","stop":[1]}' '{"prompt":"x","stop":["a","b","c","d","e"]}'
             '{"prompt":"x","stop":""}' '{"prompt":"x","stream":"yes"}' '{"prompt":"x","n":0}' '{"prompt":"x","n":1.5}' '{"prompt":"x","model":7}'
             '{"prompt":"x","stream_options":3}' '{"max_tokens":3}')
for b in "${WRONG_TYPES[@]}"; do  # (no "messages": also bad for chat)
    expect 400 POST /v1/completions "$b"
    expect 400 POST /v1/chat/completions "$b"
done
CHAT_TYPES=('{"messages":5}' '{"messages":[]}' '{"messages":[5]}' '{"messages":[{"role":5,"content":"x"}]}'
            '{"messages":[{"role":"wizard","content":"x"}]}' '{"messages":[{"role":"user","content":5}]}'
            '{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}' '{"messages":[{"role":"user"}],"max_tokens":{}}'
            '{"prompt":"x"}')
for b in "${CHAT_TYPES[@]}"; do expect 400 POST /v1/chat/completions "$b"; done
for b in '{}' '{"content":5}' '[1]' '{"content":"x","add_special":"y"}'; do expect 400 POST /tokenize "$b"; done
for b in '{}' '{"tokens":"x"}' '{"tokens":[-1]}' '{"tokens":[1.5]}' '{"tokens":[128256]}' '{"tokens":["a"]}'; do
    expect 400 POST /detokenize "$b"
done
# Wrong methods and unknown routes.
for m in GET PUT DELETE PATCH; do
    expect 405 "$m" /v1/completions ''
    expect 405 "$m" /v1/chat/completions ''
done
for m in POST PUT DELETE; do
    expect 405 "$m" /v1/models ''; expect 405 "$m" /health ''; expect 405 "$m" /v1/models/x ''; expect 405 "$m" / ''
done
for p in /v1 /v1/chat /v1/completions/x /health/ /v1/models/x/y '/%00' /tokenize2 /../etc/passwd; do
    expect 404 GET "$p" '' --path-as-is
    expect 404 POST "$p" '{}' --path-as-is
done
# Huge bodies: declared, chunked, and a header block bigger than the server accepts.
big=$(mktemp)
head -c 3000000 /dev/zero | tr '\0' 'x' >"$big"
for i in 1 2 3; do
    expect 413 POST /v1/completions "@$big"
    expect 413 POST /v1/chat/completions "@$big" -H 'Transfer-Encoding: chunked'
done
rm -f "$big"
hdr=$(mktemp)
{ printf 'X-Big: '; head -c 200000 /dev/zero | tr '\0' 'y'; echo; } >"$hdr"
expect '4[0-9][0-9]' GET /health '' -H @"$hdr"
rm -f "$hdr"
# Truncated and garbage requests on raw connections, closed at once.
RAW=('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"prompt":'
     'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n'
     'GET /health HTTP/1.1\r\n' 'GARBAGE\r\n\r\n' '\x00\x01\x02\x03\r\n\r\n' 'GET / HTTP/9.9\r\n\r\n'
     'POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n'
     'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n')
for i in 1 2 3; do for r in "${RAW[@]}"; do raw "$r"; done; done
# Clients that vanish mid-generation, streamed and not (their slots must be freed).
pids=()
for i in $(seq 12); do
    N=$((N + 1))
    curl -s -N -m 0.3 -o /dev/null --data-binary '{"prompt":"Once upon a time","max_tokens":2000,"stream":true}' \
        "$BASE/v1/completions" &
    pids+=($!)
    N=$((N + 1))
    curl -s -m 0.3 -o /dev/null --data-binary '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":2000}' \
        "$BASE/v1/chat/completions" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
# Their slots free at the next token boundary; wait for that (up to 5 s, the same bound as the
# leak check at the end) so that the overload below starts from an idle server even on a busy
# machine (the suite once failed here under load, cause not captured).
wait_idle() {
    for _ in $(seq 50); do
        [ "$(curl -s -m 5 "$BASE/health" | jq '.slots_processing + .queued')" = 0 ] && return
        sleep 0.1
    done
}
wait_idle
# A request with more than queue + slots waiting: the excess gets 503, never a hang.
pids=()
for i in $(seq 10); do
    curl -s -m 60 -o /dev/null -w '%{http_code}\n' --data-binary '{"prompt":"Hi","max_tokens":30}' \
        "$BASE/v1/completions" >>"$LOG.codes" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
N=$((N + 10))
grep -qv '^200$\|^503$' "$LOG.codes" && fail "overload answers: $(sort "$LOG.codes" | uniq -c | tr '\n' ' ')"
grep -q '^200$' "$LOG.codes" || fail "no request succeeded under load"
rm -f "$LOG.codes"
echo "bad requests sent: $N"
[ "$N" -ge 200 ] || fail "only $N bad requests"

# A stalled client (half a request) is closed after --timeout 2.
exec 3<>"/dev/tcp/$HOST/$PORT"
printf 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Le' >&3
t0=$SECONDS
timeout 10 cat <&3 >/dev/null
[ $((SECONDS - t0)) -le 8 ] || fail "stalled connection not closed"
exec 3>&- 3<&-

# Still serving; no slot left busy.
wait_idle
health=$(curl -s -m 5 "$BASE/health")
[ "$(jq '.slots_processing == 0 and .queued == 0' <<<"$health")" = true ] || fail "leaked slot: $health"
post /v1/chat/completions '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":4,"temperature":0}' >/dev/null; body=$BODY
[ "$STATUS" = 200 ] && [ "$(jq .usage.completion_tokens <<<"$body")" = 4 ] || fail "normal request after the storm: $STATUS $body"
finish
