#!/bin/bash
# 8 concurrent greedy requests (mixed endpoints, streamed and not) each return exactly what
# the same request returns alone: batching changes nothing a client can see.
# usage: test_server_concurrent.sh LLAMA3_CLI MODEL
. "$(dirname "$0")/test_server_lib.sh"
CLI=$1 MODEL=$2
start_server "$CLI" "$MODEL" --slots 8 -c 256
TMP=$(mktemp -d)
trap 'cleanup; rm -rf "$TMP"' EXIT

req() {  # req K -> request body K (prompts of different lengths, so prefill overlaps decode)
    local k=$1 words
    words=$(for i in $(seq $((k * 7 + 1))); do printf 'word%d ' $((i * k)); done)
    if [ $((k % 2)) = 0 ]; then
        jq -nc --arg p "$words" --argjson n $((12 + k)) '{prompt: $p, max_tokens: $n, temperature: 0}'
    else
        jq -nc --arg p "$words" --argjson n $((12 + k)) '{messages: [{role: "user", content: $p}], max_tokens: $n, temperature: 0}'
    fi
}
endpoint() { [ $(($1 % 2)) = 0 ] && echo /v1/completions || echo /v1/chat/completions; }
# run K OUT: non-streamed for K < 4, streamed otherwise; writes "text<TAB>completion_tokens"
run() {
    local k=$1 out=$2 body
    if [ "$k" -lt 4 ]; then
        body=$(curl -s -m 120 --data-binary "$(req "$k")" "$BASE$(endpoint "$k")")
        jq -j '(.choices[0].text // .choices[0].message.content), "\t", .usage.completion_tokens' <<<"$body" >"$out"
    else
        body=$(curl -s -N -m 120 --data-binary "$(req "$k" | jq -c '. + {stream: true, stream_options: {include_usage: true}}')" \
               "$BASE$(endpoint "$k")")
        grep '^data: {' <<<"$body" | sed 's/^data: //' >"$out.events"
        { jq -j '.choices[0].text // .choices[0].delta.content // empty' <"$out.events"; printf '\t';
          jq -j 'select(.usage) | .usage.completion_tokens' <"$out.events"; } >"$out"
    fi
}

for k in $(seq 0 7); do run "$k" "$TMP/alone.$k"; done
pids=()
for k in $(seq 0 7); do run "$k" "$TMP/together.$k" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
for k in $(seq 0 7); do
    [ -s "$TMP/alone.$k" ] || fail "request $k: empty answer alone"
    cmp -s "$TMP/alone.$k" "$TMP/together.$k" ||
        fail "request $k: concurrent answer differs: '$(cat "$TMP/together.$k")' vs alone '$(cat "$TMP/alone.$k")'"
done
# Every slot is free again.
health=$(curl -s -m 10 "$BASE/health")
[ "$(jq '.slots_processing == 0 and .queued == 0' <<<"$health")" = true ] || fail "slots still busy: $health"
finish
