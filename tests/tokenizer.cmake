# Tokenizer (issue 3): the Llama 3 tokenizer from tokenizer.model, tokenizer.json and GGUF,
# SentencePiece from GGUF, chat format, streaming decoder. Label "tokenizer".
# test_tokenizer checks against the fixtures; test_tokenizer_props runs seeded property tests.
llama3_test(test_tokenizer ${CMAKE_CURRENT_SOURCE_DIR}/test_tokenizer.c)
llama3_test(test_tokenizer_props ${CMAKE_CURRENT_SOURCE_DIR}/test_tokenizer_props.c)
set(LLAMA3_TOKENIZER_CASES
  ggml_vocab_tiktoken ggml_vocab_hf_json ggml_vocab_gguf
  crosscheck_tiktoken crosscheck_hf_json crosscheck_gguf
  chat specials spm_stories errors hf_json_merges contractions)
foreach(case ${LLAMA3_TOKENIZER_CASES})
  add_test(NAME tokenizer.${case} COMMAND test_tokenizer ${LLAMA3_FIXTURES} ${case})
  set_tests_properties(tokenizer.${case} PROPERTIES LABELS tokenizer)
endforeach()
set(LLAMA3_TOKENIZER_PROP_CASES random_bytes random_unicode invalid_utf8_rule bpe_scan_vs_heap
  long_inputs meta_chunking detok_stream)
foreach(case ${LLAMA3_TOKENIZER_PROP_CASES})
  add_test(NAME tokenizer.${case} COMMAND test_tokenizer_props ${LLAMA3_FIXTURES} ${case})
  set_tests_properties(tokenizer.${case} PROPERTIES LABELS tokenizer)
endforeach()
# The CLI: ids of a known string, and back.
add_test(NAME tokenizer.cli_tokenize
  COMMAND ${LLAMA3_CLI} tokenize -m ${LLAMA3_FIXTURES}/tokenizer/tokenizer.model -p "Hello, world!")
set_tests_properties(tokenizer.cli_tokenize PROPERTIES LABELS tokenizer
  PASS_REGULAR_EXPRESSION "^9906 11 1917 0\n$")
add_test(NAME tokenizer.cli_detokenize
  COMMAND ${LLAMA3_CLI} detokenize -m ${LLAMA3_FIXTURES}/models/tok32/gguf/model-bf16.gguf 9906 11 1917 0)
set_tests_properties(tokenizer.cli_detokenize PROPERTIES LABELS tokenizer
  PASS_REGULAR_EXPRESSION "^Hello, world!\n$")
add_test(NAME tokenizer.cli_pieces
  COMMAND ${LLAMA3_CLI} tokenize -m ${LLAMA3_FIXTURES}/models/tok32/hf --special --bos --pieces -p "<|eot_id|>Hi\n")
set_tests_properties(tokenizer.cli_pieces PROPERTIES LABELS tokenizer
  PASS_REGULAR_EXPRESSION "^128000\t'<\\|begin_of_text\\|>'\n128009\t'<\\|eot_id\\|>'\n13347\t'Hi'\n")
# Errors: exit status 1 and one line "llama3 tokenize: <msg>" on stderr.
add_test(NAME tokenizer.cli_error
  COMMAND sh -c "out=$(\"$0\" tokenize -m /nonexistent.model -p x 2>&1); rc=$?; echo \"$out\"; [ $rc -eq 1 ] && [ \"$out\" = 'llama3 tokenize: /nonexistent.model: no such file' ]"
          ${LLAMA3_CLI})
set_tests_properties(tokenizer.cli_error PROPERTIES LABELS tokenizer)
