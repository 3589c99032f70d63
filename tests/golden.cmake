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
# Quantized weights against the golden of their own (dequantized) weights: the issue's bound
# in prefill; decode must stay under 5e-3.
foreach(q q8_0 q4_0)
  llama3_golden_test(golden_gqa_${q} ${M}/gqa/gguf/model-${q}.gguf ${M}/gqa/golden-${q}.safetensors
                     --modes prefill --rel 2e-2 --argmax 0.95)
  llama3_golden_test(golden_gqa_${q}_decode ${M}/gqa/gguf/model-${q}.gguf ${M}/gqa/golden-${q}.safetensors
                     --modes decode --rel 5e-3 --argmax 0.95)
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
