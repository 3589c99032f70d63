# Issue 6: continuous batching, `llama3 chat` and `llama3 serve` (label "server").
set(M ${LLAMA3_FIXTURES}/models)

# Batched greedy (and seeded) ids equal each sequence run alone.
llama3_test(test_batch test_batch.c)
foreach(m tok32/gguf/model-bf16 gqa/gguf/model-q8_0 gqa/gguf/model-bf16)
  string(REPLACE "/gguf/model-" "_" tname "batch_${m}")
  add_test(NAME ${tname} COMMAND test_batch ${M}/${m}.gguf)
  set_tests_properties(${tname} PROPERTIES LABELS "server" TIMEOUT 300)
endforeach()
# ... with the Q8_0 KV cache (the store quantizes each row on its own, so still exact)
add_test(NAME batch_gqa_bf16_kvq8_0 COMMAND test_batch ${M}/gqa/gguf/model-bf16.gguf q8_0)
set_tests_properties(batch_gqa_bf16_kvq8_0 PROPERTIES LABELS "server;kv" TIMEOUT 300)

# Tool calls read from a reply (one or several) and written back (src/server/tools.c).
if(LLAMA3_HAVE_SERVER)
  llama3_test(test_server_tools test_server_tools.c)
  target_link_libraries(test_server_tools PRIVATE llama3_server)
  add_test(NAME server_tools COMMAND test_server_tools)
  set_tests_properties(server_tools PROPERTIES LABELS "server")
endif()

# CLI-level tests: chat through a pipe, and (in a build with the server) the HTTP server driven
# by curl, by the official `openai` npm client, by 8 concurrent clients and by 200 bad
# requests. They need bash, curl, jq and (for the client test) node + npm.
set(TOK32 ${M}/tok32/gguf/model-bf16.gguf)
add_test(NAME server_chat_format COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_server_chat.sh ${LLAMA3_CLI} ${TOK32})
if(LLAMA3_HAVE_SERVER)
  add_test(NAME server_http COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_server_http.sh ${LLAMA3_CLI} ${TOK32})
  add_test(NAME server_concurrent COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_server_concurrent.sh ${LLAMA3_CLI} ${TOK32})
  add_test(NAME server_robust COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_server_robust.sh ${LLAMA3_CLI} ${TOK32})
  add_test(NAME server_openai COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_server_openai.sh ${LLAMA3_CLI} ${TOK32}
           ${CMAKE_BINARY_DIR}/node)
  # Issue 18: logprobs, logit_bias, penalties, structured output, echo, prompt cache, refused
  # fields, through the openai client.
  add_test(NAME server_features COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_server_features.sh ${LLAMA3_CLI} ${TOK32}
           ${CMAKE_BINARY_DIR}/node)
  # n choices (each on its own slot), through the openai client and curl.
  add_test(NAME server_choices COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_server_choices.sh ${LLAMA3_CLI} ${TOK32}
           ${CMAKE_BINARY_DIR}/node)
  # Half-closed clients get their reply; closed ones free their slot (node sockets).
  add_test(NAME server_halfclose COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_server_halfclose.sh ${LLAMA3_CLI} ${TOK32})
  # --api-key, --cors, /metrics, /props, /slots, /v1/models/{id}, the request log; 72 slow
  # clients and 100 disconnects (node).
  add_test(NAME server_ops COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_server_ops.sh ${LLAMA3_CLI} ${TOK32})
  # The chat page at / in headless Chromium (Debian chromium + playwright-core).
  add_test(NAME server_webui COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_server_webui.sh ${LLAMA3_CLI} ${TOK32}
           ${CMAKE_BINARY_DIR}/node)
  set_tests_properties(server_http server_concurrent server_robust server_openai server_features server_choices server_halfclose
                       server_ops server_webui PROPERTIES LABELS "server" TIMEOUT 600)
  set_tests_properties(server_openai server_features server_choices server_halfclose server_webui
                       PROPERTIES SKIP_RETURN_CODE 77)
  # Servers bind random ports; running them one at a time keeps the 2-core machine responsive.
  set_tests_properties(server_http server_concurrent server_robust server_openai server_features server_choices
                       server_halfclose server_ops server_webui PROPERTIES RESOURCE_LOCK llama3_server)
endif()
set_tests_properties(server_chat_format PROPERTIES LABELS "server" TIMEOUT 600)

# `llama3 serve` in a build without the server: the CLI's objects linked with the stand-in
# (llama3_server_none), as a build without libmicrohttpd links them.
add_executable(llama3-noserver)
target_link_libraries(llama3-noserver PRIVATE llama3_tools llama3_server_none llama3_hub)
add_test(NAME server_unavailable
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_server_unavailable.sh $<TARGET_FILE:llama3-noserver>
                 ${CMAKE_CURRENT_SOURCE_DIR}/help_texts.sh)
set_tests_properties(server_unavailable PROPERTIES LABELS "server;core")
