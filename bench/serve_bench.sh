#!/bin/bash
# Aggregate generation speed of `llama3 serve`: 1 stream alone vs 8 concurrent streams
# (continuous batching), same requests, greedy. Not a test; prints tokens/s and the ratio.
# usage: bench/serve_bench.sh LLAMA3_CLI MODEL [TOKENS_PER_REQUEST=64] [STREAMS=8]
# e.g.   llama3 synth --shape llama3.2-1b --type q8_0 -o /tmp/1b.gguf
#        bench/serve_bench.sh build/llama3 /tmp/1b.gguf 64 8
set -eu
CLI=$1 MODEL=$2 NTOK=${3:-64} NS=${4:-8}
LOG=$(mktemp)
PORT=$((20000 + RANDOM % 40000))
"$CLI" serve -m "$MODEL" --port "$PORT" --slots "$NS" -c $((NTOK + 64)) --queue 8 2>"$LOG" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -f "$LOG"' EXIT
for _ in $(seq 600); do grep -q "listening on" "$LOG" && break; sleep 0.1; done
grep -q "listening on" "$LOG" || { cat "$LOG"; exit 1; }
BASE=http://127.0.0.1:$PORT
req() { printf '{"prompt":"Request %d: once upon a time","max_tokens":%d,"temperature":0}' "$1" "$NTOK"; }
one() { curl -s -m 3600 --data-binary "$(req "$1")" "$BASE/v1/completions" | jq .usage.completion_tokens; }
now() { date +%s.%N; }

one 0 >/dev/null  # warm-up (page in the weights)
t0=$(now); n1=$(one 1); t1=$(now)
tmp=$(mktemp -d)
t2=$(now)
pids=()
for k in $(seq "$NS"); do one "$k" >"$tmp/$k" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
t3=$(now)
nN=$(cat "$tmp"/* | paste -sd+ | bc)
rm -rf "$tmp"
awk -v n1="$n1" -v a="$t0" -v b="$t1" -v nN="$nN" -v c="$t2" -v d="$t3" -v ns="$NS" 'BEGIN {
    s1 = n1 / (b - a); sN = nN / (d - c);
    printf "1 stream:  %d tokens in %.2f s = %.2f tokens/s\n", n1, b - a, s1;
    printf "%d streams: %d tokens in %.2f s = %.2f tokens/s aggregate\n", ns, nN, d - c, sN;
    printf "speed-up: %.2fx\n", sN / s1 }'
