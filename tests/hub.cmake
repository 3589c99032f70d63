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
