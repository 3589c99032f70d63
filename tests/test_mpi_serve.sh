#!/bin/bash
# `llama3 serve` under mpirun (2 processes) answers a chat request with the same greedy text as
# the server alone. The model: synth's tiny shape (4 heads, 2 KV heads: 2 processes split it)
# with the Llama 3 tokenizer of the tok32 fixture (1 KV head: it cannot be split).
# usage: test_mpi_serve.sh LLAMA3_CLI MPI_CLI TOK32_GGUF
# (MPI_CLI: a script that runs LLAMA3_CLI under mpirun with its arguments)
. "$(dirname "$0")/test_server_lib.sh"
CLI=$1 MPI_CLI=$2 TOK32=$3
dir=$(mktemp -d)
trap 'cleanup; rm -rf "$dir"' EXIT
MODEL=$dir/tiny.gguf
"$CLI" synth --shape tiny --type bf16 --vocab "$TOK32" -o "$MODEL" -t 1 >/dev/null 2>&1 || { echo "FAIL: synth"; exit 1; }
CHAT='{"messages":[{"role":"user","content":"Write a haiku about C."}],"max_tokens":24,"temperature":0}'
start_server "$CLI" "$MODEL" --slots 2 -c 256 -t 1
post /v1/chat/completions "$CHAT" >/dev/null
[ "$STATUS" = 200 ] || fail "alone: status $STATUS: $BODY"
alone=$(jq -r '.choices[0].message.content' <<<"$BODY")
stop_server
start_server "$MPI_CLI" "$MODEL" --slots 2 -c 256 -t 1
post /v1/chat/completions "$CHAT" >/dev/null
[ "$STATUS" = 200 ] || fail "under mpirun: status $STATUS: $BODY"
two=$(jq -r '.choices[0].message.content' <<<"$BODY")
[ -n "$alone" ] && [ "$alone" = "$two" ] || fail "texts differ: alone '$alone', under mpirun '$two'"
echo "alone and under mpirun: $(printf %s "$two" | head -c 60)..."
stop_server
if [ "$FAILS" -ne 0 ]; then echo "$FAILS failed" >&2; exit 1; fi
echo ok
