# Core engine: sampling, bad input through the CLI, seeded runs.
llama3_test(test_sampler test_sampler.c)
add_test(NAME sampler COMMAND test_sampler)
llama3_test(test_bad_input test_bad_input.c)
add_test(NAME bad_input COMMAND test_bad_input $<TARGET_FILE:llama3-cli> ${LLAMA3_FIXTURES})
# --seed: two sampled runs give the same text; another seed gives another text.
add_test(NAME seeded_runs_repeat
         COMMAND ${CMAKE_SOURCE_DIR}/tests/seeded_runs.sh $<TARGET_FILE:llama3-cli> ${LLAMA3_FIXTURES}/stories260K/stories260K.gguf)
# --help is there for the tool and every subcommand.
add_test(NAME help_texts COMMAND ${CMAKE_SOURCE_DIR}/tests/help_texts.sh $<TARGET_FILE:llama3-cli>)
set_tests_properties(sampler bad_input seeded_runs_repeat help_texts PROPERTIES LABELS "core")
llama3_test(test_threads test_threads.c)
add_test(NAME threads COMMAND test_threads)
set_tests_properties(threads PROPERTIES LABELS "core")
# The rooms keep to their doors: forward.c sees only the backend door, only the CPU backend's
# folder includes its headers, tools/ only include/ (tests/check_layout.sh).
add_test(NAME layout COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/check_layout.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(layout PROPERTIES LABELS "core")
# Structured output: the JSON matcher, refused schemas, and constrained replies from random
# logits that must parse and validate.
llama3_test(test_json_constraint test_json_constraint.c)
add_test(NAME json_constraint COMMAND test_json_constraint ${LLAMA3_FIXTURES}/models/tok32/gguf/model-bf16.gguf)
set_tests_properties(json_constraint PROPERTIES LABELS "core;server" TIMEOUT 300)
