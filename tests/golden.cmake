# Goldens: every model under ../shared/fixtures/models against the logits of Meta's model.py.
llama3_test(test_golden test_golden.c)

set(M ${LLAMA3_FIXTURES}/models)
# Unquantized weights: relative L2 <= 1e-4, every argmax equal, greedy reproduces the tokens.
foreach(t f32 bf16)
  llama3_golden_test(golden_gqa_${t} ${M}/gqa/gguf/model-${t}.gguf ${M}/gqa/golden-bf16.safetensors --greedy)
endforeach()
llama3_golden_test(golden_gqa_f16 ${M}/gqa/gguf/model-f16.gguf ${M}/gqa/golden-f16.safetensors --greedy)
llama3_golden_test(golden_mqa31_f32 ${M}/mqa31/gguf/model-f32.gguf ${M}/mqa31/golden-bf16.safetensors --greedy)
llama3_golden_test(golden_tok32_bf16 ${M}/tok32/gguf/model-bf16.gguf ${M}/tok32/golden-bf16.safetensors --greedy)
# The f16 KV cache (the default) stays close too.
llama3_golden_test(golden_gqa_bf16_kvf16 ${M}/gqa/gguf/model-bf16.gguf ${M}/gqa/golden-bf16.safetensors
                   --kv f16 --rel 2e-3 --argmax 0.95)
# The Q8_0 KV cache (8-bit keys and values; head_dim 64 and 128). Measured relative L2, prefill
# and decode alike, on scalar, AVX2 and AVX-512: gqa bf16 4.2e-3, mqa31 f32 2.4e-3 (the f16 KV
# cache: 1.6e-4), every argmax equal. Bounds ~1.7x that: a biased (truncating instead of
# rounding) quantizer measures 9.3e-3 and 5.8e-3 and must fail. No --greedy: gqa's smallest
# top-2 margin (7e-3) is within reach of 8-bit keys, so the exact continuation is not a
# property of this cache type (it does reproduce today).
llama3_golden_test(golden_gqa_bf16_kvq8_0 ${M}/gqa/gguf/model-bf16.gguf ${M}/gqa/golden-bf16.safetensors
                   --kv q8_0 --rel 7e-3 --argmax 0.95)
llama3_golden_test(golden_mqa31_f32_kvq8_0 ${M}/mqa31/gguf/model-f32.gguf ${M}/mqa31/golden-bf16.safetensors
                   --kv q8_0 --rel 4e-3 --argmax 0.95)
# Quantized weights against the golden of their own (dequantized) weights: the issue's bound
# in prefill (prompt tokens take one 8-bit activation level by default: measured 1.28e-2 on
# gqa, 1.07e-2 mqa31, 1.01e-2 tok32, llama.cpp's 1.3e-2; argmax agreement gqa q8_0 79/80, q4_0
# 76/80 (AVX2 77/80), mqa31 251/256, tok32 46/48, llama.cpp's 95-99%); decode, and prompts
# with --prompt-int8 2, must stay under 5e-3 (measured ~5e-5, every argmax equal).
foreach(q q8_0 q4_0)
  llama3_golden_test(golden_gqa_${q} ${M}/gqa/gguf/model-${q}.gguf ${M}/gqa/golden-${q}.safetensors
                     --modes prefill --rel 2e-2 --argmax 0.95)
  llama3_golden_test(golden_gqa_${q}_decode ${M}/gqa/gguf/model-${q}.gguf ${M}/gqa/golden-${q}.safetensors
                     --modes decode --rel 5e-3 --argmax 0.95)
  llama3_golden_test(golden_gqa_${q}_prompt2 ${M}/gqa/gguf/model-${q}.gguf ${M}/gqa/golden-${q}.safetensors
                     --modes prefill --prompt-int8 2 --rel 5e-3 --argmax 0.95)
endforeach()
foreach(m mqa31 tok32)
  llama3_golden_test(golden_${m}_q8_0 ${M}/${m}/gguf/model-q8_0.gguf ${M}/${m}/golden-q8_0.safetensors
                     --modes prefill --rel 2e-2 --argmax 0.95)
  llama3_golden_test(golden_${m}_q8_0_decode ${M}/${m}/gguf/model-q8_0.gguf ${M}/${m}/golden-q8_0.safetensors
                     --modes decode --rel 5e-3 --argmax 0.95)
endforeach()

# Karpathy's trained stories260K: greedy from BOS reproduces the known 256 ids.
llama3_test(test_stories test_stories.c)
add_test(NAME stories260K_greedy COMMAND test_stories $<TARGET_FILE:llama3-cli> ${LLAMA3_FIXTURES}/stories260K)
set_tests_properties(stories260K_greedy PROPERTIES LABELS "golden")
