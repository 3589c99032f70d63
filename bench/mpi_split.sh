#!/bin/sh
# The cost of model parallelism on one machine: `llama3 bench` as 1 process x 2 threads against
# 2 processes x 1 thread (mpirun), interleaved in ROUNDS pairs so drifting machine load hits both
# alike; prints each pair's pp and tg tokens/s and the median ratio (2 processes / 1).
#   usage: bench/mpi_split.sh BUILD_DIR MODEL.gguf [ROUNDS] [-p N] [-n N]
set -eu
build=$1 model=$2 rounds=${3:-5}
pn=${PN:-128} tn=${TN:-64}
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
field() { sed -n "s/.*\"test\": *\"$1[0-9]*\".*\"tokens_per_s\": *\([0-9.]*\).*/\1/p" "$2" | head -1; }
i=0
while [ $i -lt "$rounds" ]; do
  "$build/llama3" bench -m "$model" -p "$pn" -n "$tn" -t 2 -r 3 --json >"$tmp/one.json" 2>/dev/null
  sh "$here/tests/mpi_run.sh" -np 2 "$build/llama3" bench -m "$model" -p "$pn" -n "$tn" -t 1 -r 3 --json \
    >"$tmp/two.json" 2>/dev/null
  echo "$(field pp "$tmp/one.json") $(field tg "$tmp/one.json") $(field pp "$tmp/two.json") $(field tg "$tmp/two.json")"
  i=$((i + 1))
done | awk -v m="$(basename "$model")" -v pn="$pn" -v tn="$tn" '
  { printf "pair %d: 1x2 pp%d %.1f tg%d %.2f | 2x1 pp %.1f tg %.2f\n", NR, pn, $1, tn, $2, $3, $4
    rp[NR] = $3 / $1; rt[NR] = $4 / $2 }
  function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                                 return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  END { printf "%s: 2 processes x 1 thread / 1 process x 2 threads, median of %d pairs: pp%d %.3f, tg%d %.3f\n",
               m, NR, pn, med(rp, NR), tn, med(rt, NR) }'
