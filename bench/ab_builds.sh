#!/bin/sh
# Two llama3 builds on one model, for changes that must not cost speed: ROUNDS rounds of
# `llama3 bench` (best of 5 repetitions each), the order alternating (B A, A B, ...) so that
# drifting machine load hits both alike; prints each run and the median of the per-round ratios
# A/B for every test.
#   usage: bench/ab_builds.sh A_LLAMA3 B_LLAMA3 MODEL [BENCH_ARGS...]
#   e.g.   ROUNDS=6 bench/ab_builds.sh build/llama3 /tmp/old/llama3 1b-q4_0.gguf -p 512 -n 64 -t 2
set -eu
A=$1 B=$2 model=$3
shift 3
round=1
while [ $round -le "${ROUNDS:-6}" ]; do
  if [ $((round % 2)) = 1 ]; then order="B A"; else order="A B"; fi
  for w in $order; do
    eval cli=\$$w
    printf "%s %s" $round $w
    "$cli" bench -m "$model" "$@" -r 5 --json 2>/dev/null |
      sed -n 's/.*"test": *"\([a-z0-9x]*\)".*"samples_ts": *\[\([0-9., ]*\)\].*/\1 \2/p' |
      awk '{ best = 0; for (i = 2; i <= NF; i++) { v = $i; sub(",", "", v); if (v + 0 > best) best = v + 0 }
             printf " %s=%.2f", $1, best }'
    echo
  done
  round=$((round + 1))
done | awk '
  { print; for (i = 3; i <= NF; i++) { split($i, kv, "="); v[$1, $2, kv[1]] = kv[2]; tests[kv[1]] = 1 } rounds = $1 }
  END {
    for (t in tests) {
      n = 0
      for (r = 1; r <= rounds; r++) if (v[r, "B", t] > 0) ratio[++n] = v[r, "A", t] / v[r, "B", t]
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (ratio[j] < ratio[i]) { x = ratio[i]; ratio[i] = ratio[j]; ratio[j] = x }
      med = n % 2 ? ratio[(n + 1) / 2] : (ratio[n / 2] + ratio[n / 2 + 1]) / 2
      printf "%s: A/B median of %d rounds %.3f (range %.3f-%.3f)\n", t, n, med, ratio[1], ratio[n]
    }
  }'
