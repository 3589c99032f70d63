#!/bin/sh
# Byte-for-byte comparison of two llama3 builds: `logits` (prefill and decode modes, every KV
# type, both prompt 8-bit levels, every kernel set this CPU runs) and greedy ids on every
# fixture model. For refactors that must not change a single bit.
#   usage: scripts/compare-logits.sh OLD_LLAMA3 NEW_LLAMA3 [FIXTURES_DIR]
# Prints one line per difference and a summary; exits 1 when anything differs.
set -eu
old=$1 new=$2
F=${3:-$(dirname "$0")/../../shared/fixtures}
M=$F/models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 24 ids below 512 (every fixture's vocabulary), as little-endian int32
ids=$tmp/ids.i32
: >"$ids"
for i in 1 17 300 42 511 7 128 256 99 3 64 480 12 200 333 5 77 450 21 310 2 160 400 88; do
  printf "$(printf '\\%03o\\%03o\\000\\000' $((i % 256)) $((i / 256)))" >>"$ids"
done

# kernel sets (LLAMA3_ISA; a name this CPU cannot run falls back to its best set)
isas=${ISAS:-scalar avx2 avx2vnni avx512}
models="gqa/gguf/model-f32.gguf gqa/gguf/model-f16.gguf gqa/gguf/model-bf16.gguf gqa/gguf/model-q8_0.gguf
gqa/gguf/model-q4_0.gguf gqa/hf gqa/meta gqa/meta2 mqa31/gguf/model-f32.gguf mqa31/gguf/model-q8_0.gguf
mqa31/hf mqa31/meta tok32/gguf/model-bf16.gguf tok32/gguf/model-q8_0.gguf tok32/hf"
runs=0 diffs=0
for isa in $isas; do
  for m in $models; do
    for kv in f32 f16 q8_0; do
      for mode in prefill decode; do
        for lv in 1 2; do
          [ "$mode" = decode ] && [ "$lv" = 2 ] && continue
          for b in old new; do
            eval cli=\$$b
            LLAMA3_ISA=$isa "$cli" logits -m "$M/$m" --ids "$ids" -o "$tmp/$b.f32" --mode $mode --kv-type $kv \
              --prompt-int8 $lv -t 2 >/dev/null 2>"$tmp/$b.err" || echo "exit $?" >>"$tmp/$b.f32"
          done
          runs=$((runs + 1))
          if ! cmp -s "$tmp/old.f32" "$tmp/new.f32"; then
            echo "DIFF logits $isa $m kv=$kv $mode prompt-int8=$lv"
            diffs=$((diffs + 1))
          fi
        done
      done
    done
    for b in old new; do
      eval cli=\$$b
      LLAMA3_ISA=$isa "$cli" run -m "$M/$m" --prompt-ids 1,17,300,42 -n 24 --temp 0 --ignore-eos --print-ids \
        -t 2 2>/dev/null >"$tmp/$b.ids" || echo "exit $?" >>"$tmp/$b.ids"
    done
    runs=$((runs + 1))
    cmp -s "$tmp/old.ids" "$tmp/new.ids" || { echo "DIFF greedy ids $isa $m"; diffs=$((diffs + 1)); }
  done
  for b in old new; do
    eval cli=\$$b
    LLAMA3_ISA=$isa "$cli" run -m "$F/stories260K/stories260K.gguf" --prompt-ids 1 -n 256 --temp 0 --print-ids \
      -t 2 2>/dev/null >"$tmp/$b.ids" || echo "exit $?" >>"$tmp/$b.ids"
  done
  runs=$((runs + 1))
  cmp -s "$tmp/old.ids" "$tmp/new.ids" || { echo "DIFF greedy ids $isa stories260K"; diffs=$((diffs + 1)); }
done
echo "compare-logits: $runs comparisons over kernel sets: $isas; $diffs differ"
[ "$diffs" = 0 ]
