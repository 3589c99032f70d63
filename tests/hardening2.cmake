# Hardening, second audit (test_hardening2.c): tokenizer files that ask for huge tables or are
# too big, hash flooding of the vocabulary map, GGUF header counts, lookup time in GGUF and
# PyTorch readers, and Hugging Face alignment copies under max_alloc_bytes. Label "hardening".
llama3_test(test_hardening2 ${CMAKE_CURRENT_SOURCE_DIR}/test_hardening2.c ${CMAKE_SOURCE_DIR}/fuzz/fuzz_common.c)
target_include_directories(test_hardening2 PRIVATE ${CMAKE_SOURCE_DIR}/fuzz)
target_compile_definitions(test_hardening2 PRIVATE LLAMA3_FIXTURES_DIR="${LLAMA3_FIXTURES}")
add_test(NAME hardening.limits2 COMMAND test_hardening2 ${LLAMA3_FIXTURES})
set_tests_properties(hardening.limits2 PROPERTIES LABELS hardening TIMEOUT 120)
