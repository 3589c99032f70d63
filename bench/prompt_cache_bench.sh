#!/bin/bash
# Prompt cache of `llama3 serve`: time to first token of a new 20-token chat turn after a
# ~2,000-token conversation, with the conversation in the slot's cache (cache_prompt, the
# default) and without it (cache_prompt: false, the whole prompt prefilled). max_tokens 1, so
# a request's time is its time to first token. Not a test; prints medians of 3 and the ratio.
# usage: bench/prompt_cache_bench.sh LLAMA3_CLI MODEL
# e.g.   llama3 synth --shape llama3.2-1b --type q8_0 --vocab TOKENIZER.gguf -o /tmp/1b-q8_0.gguf
#        bench/prompt_cache_bench.sh build/llama3 /tmp/1b-q8_0.gguf
set -eu
CLI=$1 MODEL=$2
LOG=$(mktemp)
PORT=$((20000 + RANDOM % 40000))
"$CLI" serve -m "$MODEL" --port "$PORT" --slots 1 -c 4096 2>"$LOG" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -f "$LOG"' EXIT
for _ in $(seq 600); do grep -q "listening on" "$LOG" && break; sleep 0.1; done
grep -q "listening on" "$LOG" || { cat "$LOG"; exit 1; }
BASE=http://127.0.0.1:$PORT
# a conversation of ~2,000 tokens: 12 turns of filler text
conv=$(jq -cn '[range(12)] | map(
    {role: "user", content: ("Question \(.): " + ("tell me about the history of the river valley and its towns " * 6))},
    {role: "assistant", content: ("Answer \(.): " + ("the valley was settled early and its towns grew along the water " * 6))})')
turn='{"role":"user","content":"And what happened to the old mill by the bridge after the flood of that year?"}'
req() {  # req CACHE_PROMPT MESSAGES: prints seconds and prompt/cached tokens
    local body out
    body=$(jq -cn --argjson m "$2" --argjson c "$1" '{messages: $m, max_tokens: 1, temperature: 0, cache_prompt: $c}')
    out=$(curl -s -m 600 -w '\n%{time_total}' --data-binary "$body" "$BASE/v1/chat/completions")
    jq -e .usage <<<"${out%$'\n'*}" >/dev/null || { echo "request failed: ${out%$'\n'*}" >&2; exit 1; }
    printf '%s %s %s\n' "${out##*$'\n'}" "$(jq .usage.prompt_tokens <<<"${out%$'\n'*}")" \
        "$(jq .usage.prompt_tokens_details.cached_tokens <<<"${out%$'\n'*}")"
}
median() { sort -n | sed -n 2p; }
full=$(jq -c --argjson t "$turn" '. + [$t]' <<<"$conv")
req false "$conv" >/dev/null  # warm-up (page in the weights)
: >"$LOG.un"; : >"$LOG.ca"
for i in 1 2 3; do
    req false "$full" >>"$LOG.un"
    req true "$conv" >/dev/null   # the conversation so far, as the previous turn left it
    req true "$full" >>"$LOG.ca"
done
cat "$LOG.un" "$LOG.ca" >&2
un=$(cut -d' ' -f1 "$LOG.un" | median)
ca=$(cut -d' ' -f1 "$LOG.ca" | median)
read -r _ np nc < <(tail -1 "$LOG.ca")
rm -f "$LOG.un" "$LOG.ca"
awk -v u="$un" -v c="$ca" -v np="$np" -v nc="$nc" 'BEGIN {
    printf "prompt %d tokens, %d of them cached\n", np, nc;
    printf "time to first token: uncached %.3f s, cached %.3f s: cached/uncached = %.3f (1/%.1f)\n", u, c, c / u, u / c }'
