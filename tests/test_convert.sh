#!/bin/sh
# Cases for tests/convert.cmake. Environment: CLI (runs convert / quantize / perplexity),
# L3CLI (the llama3 binary), CMP (gguf_cmp), IDS (golden_ids), GOLDEN (test_golden),
# M (fixtures/models), TOK (fixtures/tokenizer), W (scratch folder). Usage: test_convert.sh CASE
set -u
case_name=$1
V="--vocab $TOK/tokenizer.model"
fail() { echo "FAIL: $*"; exit 1; }
run() { echo "+ $*"; "$@" || fail "$* exited $?"; }

# convert SRC_DIR OUT TYPE [options]: convert, then compare tensors with the fixture.
conv_cmp() {
  model=$1 src=$2 type=$3 fixture=$4; shift 4
  out=$W/${model}_${src}_${type}.gguf
  run "$CLI" convert "$M/$model/$src" "$out" --type "$type" "$@"
  run "$CMP" "$out" "$fixture"
}

case $case_name in
gqa_hf_bf16|gqa_hf_q8_0|gqa_hf_q4_0|gqa_meta_bf16|gqa_meta_q8_0|gqa_meta_q4_0|gqa_meta2_bf16|gqa_meta2_q8_0|gqa_meta2_q4_0|gqa_hf_f32|gqa_hf_f16)
  src=${case_name#gqa_}; type=${src#*_}; src=${src%%_*}
  conv_cmp gqa "$src" "$type" "$M/gqa/gguf/model-$type.gguf" $V ;;
gqa_hf_kv)
  # Same name as the fixture: the whole metadata must then match too.
  conv_cmp gqa hf q8_0 "$M/gqa/gguf/model-q8_0.gguf" $V --name llama3-test-gqa
  run "$CMP" "$W/gqa_hf_q8_0.gguf" "$M/gqa/gguf/model-q8_0.gguf" --kv
  cmp "$W/gqa_hf_q8_0.gguf" "$M/gqa/gguf/model-q8_0.gguf" && echo "ok: byte-identical file" ;;
mqa31_hf_f32)
  conv_cmp mqa31 hf f32 "$M/mqa31/gguf/model-f32.gguf" $V ;;
mqa31_meta_q8_0)
  conv_cmp mqa31 meta q8_0 "$M/mqa31/gguf/model-q8_0.gguf" $V ;;
tok32_hf_bf16)
  conv_cmp tok32 hf bf16 "$M/tok32/gguf/model-bf16.gguf" ;;
tok32_hf_kv)
  conv_cmp tok32 hf q8_0 "$M/tok32/gguf/model-q8_0.gguf" --name llama3-test-tok32
  # llama.context_length: convert_hf_to_gguf.py writes max_position_embeddings (131072); the
  # fixture holds 8192.
  run "$CMP" "$W/tok32_hf_q8_0.gguf" "$M/tok32/gguf/model-q8_0.gguf" --kv --ignore-kv llama.context_length ;;
tok32_gguf_q8_0)
  run "$CLI" convert "$M/tok32/gguf/model-bf16.gguf" "$W/tok32_gguf_q8_0.gguf" --type q8_0
  run "$CMP" "$W/tok32_gguf_q8_0.gguf" "$M/tok32/gguf/model-q8_0.gguf" --kv ;;
quantize_f32_q8_0|quantize_f32_q4_0|quantize_bf16_q8_0|quantize_bf16_q4_0)
  c=${case_name#quantize_}; from=${c%%_*}; to=${c#*_}
  run "$CLI" quantize "$M/gqa/gguf/model-$from.gguf" "$W/q_gqa_${from}_$to.gguf" "$to"
  run "$CMP" "$W/q_gqa_${from}_$to.gguf" "$M/gqa/gguf/model-$to.gguf"
  # Metadata: copied, with file_type updated and quantization_version added.
  run "$CMP" "$W/q_gqa_${from}_$to.gguf" "$M/gqa/gguf/model-$to.gguf" --kv --ignore-kv general.quantization_version ;;
quantize_mqa31_q8_0)
  run "$CLI" quantize "$M/mqa31/gguf/model-f32.gguf" "$W/q_mqa31_q8_0.gguf" q8_0
  run "$CMP" "$W/q_mqa31_q8_0.gguf" "$M/mqa31/gguf/model-q8_0.gguf" ;;
quantize_tok32_q8_0)
  run "$CLI" quantize "$M/tok32/gguf/model-bf16.gguf" "$W/q_tok32_q8_0.gguf" q8_0
  run "$CMP" "$W/q_tok32_q8_0.gguf" "$M/tok32/gguf/model-q8_0.gguf" ;;
quantize_same_type)
  # Requantizing to the type a tensor has copies it: q8_0 -> q8_0 is the identity.
  run "$CLI" quantize "$M/gqa/gguf/model-q8_0.gguf" "$W/q_same.gguf" q8_0
  run "$CMP" "$W/q_same.gguf" "$M/gqa/gguf/model-q8_0.gguf" ;;
quantize_kquants)
  # Every type the table can write: the file loads and produces logits.
  run "$IDS" "$M/gqa/golden-bf16.safetensors" "$W/ids_k.i32"
  for t in f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k; do
    run "$CLI" quantize "$M/gqa/gguf/model-f32.gguf" "$W/q_gqa_$t.gguf" "$t"
    run "$L3CLI" logits -m "$W/q_gqa_$t.gguf" --ids "$W/ids_k.i32" -o "$W/q_gqa_$t.logits" > /dev/null
  done ;;
quantize_mixes)
  run "$IDS" "$M/gqa/golden-bf16.safetensors" "$W/ids_m.i32"
  for t in q4_k_s q4_k_m q5_k_s q5_k_m; do
    run "$CLI" quantize "$M/gqa/gguf/model-f32.gguf" "$W/q_gqa_$t.gguf" "$t" -v
    run "$L3CLI" logits -m "$W/q_gqa_$t.gguf" --ids "$W/ids_m.i32" -o "$W/q_gqa_$t.logits" > /dev/null
  done ;;
perplexity_kl)
  run "$IDS" "$M/gqa/golden-bf16.safetensors" "$W/gqa_golden.i32"
  n=$(( $(wc -c < "$W/gqa_golden.i32") / 4 ))
  run "$CLI" perplexity -m "$M/gqa/gguf/model-bf16.gguf" --ids "$W/gqa_golden.i32" -c "$n" --kv-type f32 \
      --kl-base "$W/gqa_bf16.kl"
  for q in q8_0 q4_0; do
    "$CLI" perplexity -m "$M/gqa/gguf/model-$q.gguf" --kl "$W/gqa_bf16.kl" --kv-type f32 > "$W/kl_$q.txt" \
      || fail "perplexity --kl $q"
    cat "$W/kl_$q.txt"
  done
  k8=$(awk -F'= ' '/^mean KL/ { split($2, v, " "); print v[1] }' "$W/kl_q8_0.txt")
  k4=$(awk -F'= ' '/^mean KL/ { split($2, v, " "); print v[1] }' "$W/kl_q4_0.txt")
  echo "KL(q8_0)=$k8 KL(q4_0)=$k4"
  awk -v a="$k8" -v b="$k4" 'BEGIN { exit !(a > 0 && b > 0 && a < b) }' || fail "expected 0 < KL(q8_0) < KL(q4_0)"
  # The base against itself: KL 0, full agreement.
  "$CLI" perplexity -m "$M/gqa/gguf/model-bf16.gguf" --kl "$W/gqa_bf16.kl" --kv-type f32 > "$W/kl_self.txt" || fail "self"
  grep -q "^top-1 agreement = 100.0000%" "$W/kl_self.txt" || fail "self comparison: $(cat "$W/kl_self.txt")" ;;
perplexity_text)
  # Text through the real tokenizer (tok32), several windows.
  awk 'BEGIN { for (i = 0; i < 60; i++) print "The quick brown fox jumps over the lazy dog, number " i "." }' > "$W/text.txt"
  run "$CLI" perplexity -m "$M/tok32/gguf/model-bf16.gguf" -f "$W/text.txt" -c 128 > "$W/ppl_text.txt"
  cat "$W/ppl_text.txt"
  grep -q "^PPL = " "$W/ppl_text.txt" || fail "no PPL line" ;;
bad_input)
  # expect_err DESCRIPTION CMD...: non-zero exit, exactly one line on stderr.
  expect_err() {
    d=$1; shift
    "$@" > /dev/null 2> "$W/err.txt" && fail "$d: exited 0"
    [ "$(wc -l < "$W/err.txt")" -eq 1 ] || fail "$d: stderr is not one line: $(cat "$W/err.txt")"
    echo "ok: $d: $(cat "$W/err.txt")"
  }
  rm -f "$W/bad.gguf"
  expect_err "unknown type" "$CLI" convert "$M/gqa/hf" "$W/bad.gguf" --type q3_x $V
  expect_err "missing input" "$CLI" convert "$W/no-such-model" "$W/bad.gguf"
  expect_err "unwritable output" "$CLI" convert "$M/gqa/gguf/model-q4_0.gguf" /no-such-dir/out.gguf --type q4_0
  expect_err "no tokenizer" "$CLI" convert "$M/gqa/hf" "$W/bad.gguf"
  expect_err "missing OUT" "$CLI" convert "$M/gqa/hf"
  expect_err "unknown option" "$CLI" convert "$M/gqa/hf" "$W/bad.gguf" --bogus
  expect_err "quantize non-GGUF" "$CLI" quantize "$M/gqa/golden-bf16.safetensors" "$W/bad.gguf" q8_0
  expect_err "quantize folder" "$CLI" quantize "$M/gqa/hf" "$W/bad.gguf" q8_0
  expect_err "quantize missing" "$CLI" quantize "$W/no-such.gguf" "$W/bad.gguf" q8_0
  expect_err "quantize unknown type" "$CLI" quantize "$M/gqa/gguf/model-f32.gguf" "$W/bad.gguf" q9_9
  expect_err "quantize unwritable" "$CLI" quantize "$M/gqa/gguf/model-f32.gguf" /no-such-dir/x.gguf q8_0
  expect_err "perplexity no input" "$CLI" perplexity -m "$M/gqa/gguf/model-bf16.gguf"
  printf 'abc' > "$W/odd.i32"
  expect_err "perplexity bad ids" "$CLI" perplexity -m "$M/gqa/gguf/model-bf16.gguf" --ids "$W/odd.i32"
  expect_err "perplexity bad kl file" "$CLI" perplexity -m "$M/gqa/gguf/model-bf16.gguf" --kl "$W/odd.i32"
  printf '\001\000\000\000\002\000\000\000' > "$W/two.i32"
  expect_err "perplexity too short" "$CLI" perplexity -m "$M/gqa/gguf/model-bf16.gguf" --ids "$W/two.i32" -c 64
  expect_err "perplexity kl + kl-base" "$CLI" perplexity -m "$M/gqa/gguf/model-bf16.gguf" --ids "$W/two.i32" --kl a --kl-base b
  [ ! -e "$W/bad.gguf" ] || fail "a failed run left $W/bad.gguf behind"
  ls "$W" | grep -q "bad.gguf" && fail "a temporary file was left behind"
  "$CLI" convert --help | grep -q "^usage: llama3 convert" || fail "convert --help"
  "$CLI" quantize --help | grep -q "^usage: llama3 quantize" || fail "quantize --help"
  "$CLI" perplexity --help | grep -q "^usage: llama3 perplexity" || fail "perplexity --help"
  echo "ok: --help" ;;
*)
  fail "unknown case $case_name" ;;
esac
echo "ok: $case_name"
