# Issue 19: `llama3 pull`, `-m hf:...`, `llama3 list` / `rm` against a local stand-in for the
# Hugging Face Hub (tests/hub_server.c on libmicrohttpd) that serves the fixture folders in the
# Hub's URL layout (label "hub").
if(LLAMA3_HAVE_HUB AND LLAMA3_HAVE_SERVER)
  add_executable(hub_server hub_server.c)
  target_link_libraries(hub_server PRIVATE PkgConfig::MHD PkgConfig::CRYPTO PkgConfig::JANSSON Threads::Threads)
  add_test(NAME hub_pull
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_hub_pull.sh ${LLAMA3_CLI} $<TARGET_FILE:hub_server>
                   ${LLAMA3_FIXTURES}/models)
  set_tests_properties(hub_pull PROPERTIES LABELS "hub" TIMEOUT 300)
endif()

# `llama3 pull` and `-m hf:` in a build without the client: the CLI's objects linked with the
# stand-in (llama3_hub_none), as a build without libcurl or libcrypto links them.
add_executable(llama3-nohub)
target_link_libraries(llama3-nohub PRIVATE llama3_tools llama3_server llama3_hub_none)
add_test(NAME hub_unavailable
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_hub_unavailable.sh $<TARGET_FILE:llama3-nohub>
                 ${CMAKE_CURRENT_SOURCE_DIR}/help_texts.sh)
set_tests_properties(hub_unavailable PROPERTIES LABELS "hub;core")
