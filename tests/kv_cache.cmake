# KV-cache types (label "kv"): names, bytes per token in the library and `llama3 info`, the Q8_0
# row layout, refusal of Q8_0 for head_dim not a multiple of 32. The Q8_0 cache's accuracy is
# in golden.cmake / kernels.cmake (golden_*_kvq8_0), batching in server.cmake.
llama3_test(test_kv_cache test_kv_cache.c)
add_test(NAME kv_cache COMMAND test_kv_cache $<TARGET_FILE:llama3-cli> ${LLAMA3_FIXTURES})
set_tests_properties(kv_cache PROPERTIES LABELS "kv")
