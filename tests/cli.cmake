# Issue 19: the CLI as llama.cpp's and ollama's users type it (label "cli"): every llama.cpp
# alias, "unknown option X", --version, the progress lines' non-terminal form, and the chat
# REPL on a pseudo-terminal (line editing, history, multi-line input, Ctrl-C, Ctrl-D).
set(M ${LLAMA3_FIXTURES}/models)
add_test(NAME cli_flags
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_cli_flags.sh ${LLAMA3_CLI} ${M} ${CMAKE_SOURCE_DIR})
set_tests_properties(cli_flags PROPERTIES LABELS "cli" TIMEOUT 300)
if(LLAMA3_HAVE_LIBEDIT)
  add_executable(test_chat_pty test_chat_pty.c)
  target_link_libraries(test_chat_pty PRIVATE PkgConfig::JANSSON util)
  add_test(NAME cli_chat_pty
           COMMAND sh -c "d=$(mktemp -d) && $<TARGET_FILE:test_chat_pty> $<TARGET_FILE:llama3-cli> ${M}/tok32/gguf/model-bf16.gguf $d; r=$?; rm -rf $d; exit $r")
  set_tests_properties(cli_chat_pty PROPERTIES LABELS "cli" TIMEOUT 300)
endif()
