# Issue 6: continuous batching, `llama3 chat` and `llama3 serve` (label "server").
set(M ${LLAMA3_FIXTURES}/models)

# Batched greedy (and seeded) ids equal each sequence run alone.
llama3_test(test_batch test_batch.c)
foreach(m tok32/gguf/model-bf16 gqa/gguf/model-q8_0 gqa/gguf/model-bf16)
  string(REPLACE "/gguf/model-" "_" tname "batch_${m}")
  add_test(NAME ${tname} COMMAND test_batch ${M}/${m}.gguf)
  set_tests_properties(${tname} PROPERTIES LABELS "server" TIMEOUT 300)
endforeach()
