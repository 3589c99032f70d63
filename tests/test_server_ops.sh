#!/bin/bash
# Operations, with curl for the raw HTTP: --api-key (401 with an OpenAI error body; /health
# exempt; LLAMA3_API_KEY), --cors (preflight, headers on replies and streams), /metrics counts
# against the usage of the requests made, /props, /slots, GET /v1/models/{id}, the request log
# line; then (node) 72 slow clients and 100 disconnects.
# usage: test_server_ops.sh LLAMA3_CLI MODEL
. "$(dirname "$0")/test_server_lib.sh"
CLI=$1 MODEL=$2
CHAT='{"messages":[{"role":"user","content":"Hello"}],"max_tokens":5,"temperature":0}'

LLAMA3_API_KEY=k3y start_server "$CLI" "$MODEL" --slots 2 -c 512 --cors https://app.example
code() { curl -s -m 30 -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "$BASE/v1/models")" = 401 ] || fail "no key: want 401"
[ "$(code -H 'Authorization: Bearer nope' "$BASE/v1/models")" = 401 ] || fail "wrong key: want 401"
[ "$(code -H 'Authorization: Bearer k3yy' "$BASE/v1/models")" = 401 ] || fail "longer key: want 401"
body=$(curl -s -m 10 --data-binary "$CHAT" "$BASE/v1/chat/completions")
[ "$(jq -r '.error.type + " " + (.error.code|tostring)' <<<"$body")" = "invalid_request_error 401" ] || fail "401 body: $body"
[ "$(code "$BASE/health")" = 200 ] || fail "/health needs no key"
[ "$(code -H 'Authorization: Bearer k3y' "$BASE/v1/models")" = 200 ] || fail "right key: want 200"
# CORS: preflight and headers on every reply, a stream's too
pre=$(curl -s -m 10 -i -X OPTIONS -H 'Origin: https://app.example' -H 'Access-Control-Request-Method: POST' "$BASE/v1/chat/completions")
grep -q '^HTTP/1.1 204' <<<"$pre" || fail "preflight: $pre"
grep -qi '^Access-Control-Allow-Origin: https://app.example' <<<"$pre" || fail "preflight origin: $pre"
grep -qi '^Access-Control-Allow-Headers:.*Authorization' <<<"$pre" || fail "preflight headers: $pre"
A=(-H 'Authorization: Bearer k3y')
hdr=$(curl -s -m 30 -D - -o /dev/null "${A[@]}" --data-binary "$CHAT" "$BASE/v1/chat/completions")
grep -qi '^Access-Control-Allow-Origin: https://app.example' <<<"$hdr" || fail "reply without CORS header: $hdr"
hdr=$(curl -s -m 30 -D - -o /dev/null "${A[@]}" --data-binary "${CHAT%\}},\"stream\":true}" "$BASE/v1/chat/completions")
grep -qi '^Access-Control-Allow-Origin: https://app.example' <<<"$hdr" || fail "stream without CORS header: $hdr"
# /metrics against what the requests reported
post2() { curl -s -m 30 "${A[@]}" --data-binary "$2" "$BASE$1"; }
u1=$(post2 /v1/chat/completions "$CHAT" | jq .usage)
u2=$(post2 /v1/completions '{"prompt":"Once upon a time","max_tokens":7}' | jq .usage)
m=$(curl -s -m 10 "${A[@]}" "$BASE/metrics")
val() { awk -v k="$1" '$1 == k { print $2 }' <<<"$m"; }
# three chats (two above, one streamed) and one completion so far
[ "$(val 'llama3_requests_total{route="/v1/chat/completions",status="200"}')" = 3 ] || fail "chat 200 count: $m"
[ "$(val 'llama3_requests_total{route="/v1/chat/completions",status="401"}')" = 1 ] || fail "chat 401 count"
[ "$(val 'llama3_requests_total{route="/v1/models",status="401"}')" = 3 ] || fail "models 401 count"
want_prompt=$(( 3 * $(jq .prompt_tokens <<<"$u1") + $(jq .prompt_tokens <<<"$u2") ))
want_gen=$(( 3 * $(jq .completion_tokens <<<"$u1") + $(jq .completion_tokens <<<"$u2") ))
[ "$(val llama3_prompt_tokens_total)" = "$want_prompt" ] || fail "prompt tokens $(val llama3_prompt_tokens_total), want $want_prompt"
[ "$(val llama3_generated_tokens_total)" = "$want_gen" ] || fail "generated tokens $(val llama3_generated_tokens_total), want $want_gen"
[ "$(val llama3_time_to_first_token_seconds_count)" = 4 ] || fail "ttft count"
[ "$(val 'llama3_time_to_first_token_seconds_bucket{le="+Inf"}')" = 4 ] || fail "ttft +Inf bucket"
[ "$(val llama3_slots_total)" = 2 ] && [ "$(val llama3_slots_busy)" = 0 ] && [ "$(val llama3_queue_length)" = 0 ] || fail "gauges"
[ "$(val llama3_kv_cells_used)" -gt 0 ] || fail "kv cells used (the prompt cache holds tokens)"
grep -q '^# TYPE llama3_token_latency_seconds histogram' <<<"$m" || fail "latency histogram"
# /props, /slots, /v1/models/{id}
[ "$(curl -s -m 10 "${A[@]}" "$BASE/props" | jq .total_slots)" = 2 ] || fail "/props"
slots=$(curl -s -m 10 "${A[@]}" "$BASE/slots")
[ "$(jq 'length' <<<"$slots")" = 2 ] && [ "$(jq '[.[].n_past] | max > 0' <<<"$slots")" = true ] || fail "/slots: $slots"
id=$(curl -s -m 10 "${A[@]}" "$BASE/v1/models" | jq -r '.data[0].id')
[ "$(curl -s -m 10 "${A[@]}" "$BASE/v1/models/$id" | jq -r .id)" = "$id" ] || fail "/v1/models/{id}"
[ "$(code "${A[@]}" "$BASE/v1/models/not-$id")" = 404 ] || fail "/v1/models/other: want 404"
# one log line per request: time, address, method, path, status, tokens, ms
grep -Eq "^[0-9T:-]+Z 127\.0\.0\.1 POST /v1/completions 200 prompt=$(jq .prompt_tokens <<<"$u2") generated=$(jq .completion_tokens <<<"$u2") [0-9]+ms$" "$LOG" ||
    fail "no log line for the completion: $(tail -3 "$LOG")"
[ "$(grep -c ' GET /v1/models 401 ' "$LOG")" = 3 ] || fail "log lines of refused requests"
finish_keep() { stop_server || fail "the server exited with an error"; }
finish_keep
# without --cors there are no CORS headers and no preflight
start_server "$CLI" "$MODEL" --slots 1 -c 256
[ "$(code -X OPTIONS "$BASE/v1/chat/completions")" = 405 ] || fail "OPTIONS without --cors"
curl -s -m 10 -D - -o /dev/null "$BASE/health" | grep -qi 'Access-Control' && fail "CORS header without --cors"
[ "$(code "$BASE/v1/models")" = 200 ] || fail "no key configured: open"
stop_server
if command -v node >/dev/null; then
    start_server "$CLI" "$MODEL" --slots 2 -c 512 --head-timeout 3 --max-per-address 32
    timeout 120 node "$(dirname "$0")/server_load.mjs" "$BASE" slow 3 || fail "72 slow clients"
    stop_server
    start_server "$CLI" "$MODEL" --slots 1 --queue 2 -c 1024
    timeout 300 node "$(dirname "$0")/server_load.mjs" "$BASE" disconnect || fail "100 disconnects"
else
    echo "node missing: the load scenarios are skipped"
fi
finish
