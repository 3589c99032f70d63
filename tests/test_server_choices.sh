#!/bin/bash
# `n` choices (issue 18): the openai client (tests/server_choices.mjs), and the raw stream with
# curl: every chunk names its choice, each choice has one role chunk and one last chunk, one
# usage chunk, [DONE] at the end.
# usage: test_server_choices.sh LLAMA3_CLI MODEL NODE_PREFIX (skipped, 77, without the openai package)
. "$(dirname "$0")/test_server_lib.sh"
CLI=$1 MODEL=$2 PREFIX=$3
need_npm "$PREFIX" openai
start_server "$CLI" "$MODEL" --slots 4 -c 512

sse=$(curl -s -N -m 60 --data-binary '{"messages":[{"role":"user","content":"Hi"}],"n":3,"max_tokens":5,
      "temperature":1,"seed":1,"stream":true,"stream_options":{"include_usage":true}}' "$BASE/v1/chat/completions")
[ "$(grep '^data: ' <<<"$sse" | tail -1)" = "data: [DONE]" ] || fail "stream does not end with [DONE]: $sse"
events=$(grep '^data: {' <<<"$sse" | sed 's/^data: //')
[ "$(jq -c 'select(.choices | length > 0) | .choices | length' <<<"$events" | sort -u)" = 1 ] || fail "one choice a chunk: $sse"
[ "$(jq -r '.choices[0].index // empty' <<<"$events" | sort -u | tr '\n' ' ')" = "0 1 2 " ] || fail "indices 0..2: $sse"
for i in 0 1 2; do
    [ "$(jq --argjson i "$i" 'select(.choices[0].index == $i and .choices[0].delta.role == "assistant")' <<<"$events" | jq -s length)" = 1 ] ||
        fail "choice $i: one role chunk: $sse"
    [ "$(jq -r --argjson i "$i" 'select(.choices[0].index == $i and .choices[0].finish_reason != null) | .choices[0].finish_reason' <<<"$events")" = length ] ||
        fail "choice $i: one last chunk: $sse"
done
[ "$(jq -c 'select(.usage) | [(.choices | length), .usage.completion_tokens]' <<<"$events")" = "[0,15]" ] || fail "one usage chunk, 3 x 5 tokens: $sse"
timeout 400 node "$(dirname "$0")/server_choices.mjs" "$BASE" "$PREFIX" || fail "openai client, n choices"
finish
