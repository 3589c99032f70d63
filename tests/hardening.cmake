# Hardening (issue 7): mutation tests of every model / tokenizer format through the CLI,
# replay of the fuzz corpora (seeds + regressions) through the harness code in every build,
# and valgrind runs of short generations. Labels: "hardening", "valgrind".
# The libFuzzer harnesses themselves are built by fuzz/CMakeLists.txt (LLAMA3_FUZZ=ON, clang).

set(LLAMA3_FUZZ_DIR ${CMAKE_SOURCE_DIR}/fuzz)
set(LLAMA3_SEEDS_DIR ${CMAKE_BINARY_DIR}/fuzz-seeds CACHE INTERNAL "generated fuzz seeds")

# Seed corpora, generated from the fixtures and tiny models written on the fly (a fixture
# shared by the replay tests here and the fuzz-smoke tests).
llama3_test(gen_seeds ${LLAMA3_FUZZ_DIR}/gen_seeds.c ${LLAMA3_FUZZ_DIR}/fuzz_common.c)
target_include_directories(gen_seeds PRIVATE ${LLAMA3_FUZZ_DIR})
target_compile_definitions(gen_seeds PRIVATE LLAMA3_FIXTURES_DIR="${LLAMA3_FIXTURES}")
add_test(NAME hardening.seeds COMMAND gen_seeds ${LLAMA3_SEEDS_DIR} ${LLAMA3_FIXTURES})
set_tests_properties(hardening.seeds PROPERTIES FIXTURES_SETUP llama3_seeds LABELS hardening)

# Every harness, linked with a plain main() instead of libFuzzer, replays its regression corpus,
# its committed seeds and the generated seeds: crashes found once stay fixed in every build
# (gcc, ASan, ...), not only in clang fuzz builds.
set(LLAMA3_REPLAY_HARNESSES gguf safetensors json_config pth tokenizer chat tokenizer_file)
if(LLAMA3_HAVE_SERVER)  # the server's request handling
  list(APPEND LLAMA3_REPLAY_HARNESSES http)
endif()
foreach(name ${LLAMA3_REPLAY_HARNESSES})
  llama3_test(replay_${name} ${LLAMA3_FUZZ_DIR}/fuzz_${name}.c ${LLAMA3_FUZZ_DIR}/fuzz_common.c
              ${LLAMA3_FUZZ_DIR}/replay_main.c)
  target_include_directories(replay_${name} PRIVATE ${LLAMA3_FUZZ_DIR})
  target_compile_definitions(replay_${name} PRIVATE LLAMA3_FIXTURES_DIR="${LLAMA3_FIXTURES}")
  if(name STREQUAL "http")  # the server's request/response code (not http.c: no sockets)
    target_sources(replay_${name} PRIVATE ${CMAKE_SOURCE_DIR}/src/server/api.c ${CMAKE_SOURCE_DIR}/src/server/text.c
                   ${CMAKE_SOURCE_DIR}/src/server/tools.c ${CMAKE_SOURCE_DIR}/src/server/engine.c)
  endif()
  add_test(NAME hardening.replay_${name}
           COMMAND replay_${name} ${LLAMA3_FUZZ_DIR}/regressions/${name} ${LLAMA3_FUZZ_DIR}/corpus/${name}
                   ${LLAMA3_SEEDS_DIR}/${name})
  set_tests_properties(hardening.replay_${name} PROPERTIES LABELS hardening TIMEOUT 300
                       FIXTURES_REQUIRED llama3_seeds ENVIRONMENT "LLAMA3_FIXTURES=${LLAMA3_FIXTURES}")
endforeach()

# Mutation tests: 1000 mutated copies of each format (bit flips, truncations, length / count /
# dimension / offset fields set to boundary values) through `llama3 info` and `llama3 logits`
# (tokenizer files: `llama3 tokenize` / `detokenize`); each run must exit 0 or non-zero with a
# one-line message on stderr, never die of a signal or hang (10 s limit). Deterministic.
# Sanitizer builds run 200 per format (each run is ~10x slower); the environment variable
# LLAMA3_MUTATIONS=N overrides the count at run time.
if(LLAMA3_SANITIZE)
  set(LLAMA3_MUTATION_COUNT 200)
else()
  set(LLAMA3_MUTATION_COUNT 1000)
endif()
llama3_test(test_mutations ${CMAKE_CURRENT_SOURCE_DIR}/test_mutations.c ${LLAMA3_FUZZ_DIR}/fuzz_common.c)
target_include_directories(test_mutations PRIVATE ${LLAMA3_FUZZ_DIR})
set(LLAMA3_MUTATION_FORMATS gguf hf meta tokenizer_model tokenizer_json)
foreach(fmt ${LLAMA3_MUTATION_FORMATS})
  add_test(NAME hardening.mutations_${fmt}
           COMMAND test_mutations $<TARGET_FILE:llama3-cli> ${LLAMA3_FIXTURES} ${CMAKE_CURRENT_BINARY_DIR}/mutations ${fmt}
                   ${LLAMA3_MUTATION_COUNT})
  set_tests_properties(hardening.mutations_${fmt} PROPERTIES LABELS hardening TIMEOUT 600)
endforeach()

# valgrind: short greedy generations must be free of memory errors and leaks. Skipped (exit 77)
# when valgrind is missing or in sanitizer builds (ASan and valgrind do not mix).
set(LLAMA3_VALGRIND_CMD valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --error-exitcode=99 --track-origins=no)
set(_vg_wrapper "if [ -n \"$LLAMA3_SANITIZED\" ]; then echo 'skipped: sanitizer build'; exit 77; fi; command -v valgrind >/dev/null 2>&1 || { echo 'skipped: valgrind not installed'; exit 77; }; exec \"$@\"")
if(LLAMA3_SANITIZE)
  set(_vg_env "LLAMA3_SANITIZED=1")
else()
  set(_vg_env "LLAMA3_SANITIZED=")
endif()
add_test(NAME valgrind.run_stories260K
         COMMAND sh -c "${_vg_wrapper}" sh ${LLAMA3_VALGRIND_CMD} $<TARGET_FILE:llama3-cli> run
                 -m ${LLAMA3_FIXTURES}/stories260K/stories260K.gguf --prompt-ids 1 -n 8 --temp 0 -t 2)
add_test(NAME valgrind.run_tok32_text
         COMMAND sh -c "${_vg_wrapper}" sh ${LLAMA3_VALGRIND_CMD} $<TARGET_FILE:llama3-cli> run
                 -m ${LLAMA3_FIXTURES}/models/tok32/gguf/model-q8_0.gguf -p Hello -n 4 --temp 0 -t 2)
add_test(NAME valgrind.replay_pth
         COMMAND sh -c "${_vg_wrapper}" sh ${LLAMA3_VALGRIND_CMD} $<TARGET_FILE:replay_pth>
                 ${LLAMA3_FUZZ_DIR}/regressions/pth ${LLAMA3_SEEDS_DIR}/pth)
set_tests_properties(valgrind.replay_pth PROPERTIES FIXTURES_REQUIRED llama3_seeds)
foreach(t valgrind.run_stories260K valgrind.run_tok32_text valgrind.replay_pth)
  set_tests_properties(${t} PROPERTIES LABELS valgrind SKIP_RETURN_CODE 77 TIMEOUT 600 ENVIRONMENT "${_vg_env}")
endforeach()

# The allocation cap (helper arithmetic, loads refused cleanly under a small cap) and the
# limits against crafted headers: quadratic-time lookups and memory amplification.
llama3_test(test_alloc_limit ${CMAKE_CURRENT_SOURCE_DIR}/test_alloc_limit.c ${LLAMA3_FUZZ_DIR}/fuzz_common.c)
target_include_directories(test_alloc_limit PRIVATE ${LLAMA3_FUZZ_DIR})
add_test(NAME hardening.alloc_limit COMMAND test_alloc_limit ${LLAMA3_FIXTURES})
set_tests_properties(hardening.alloc_limit PROPERTIES LABELS hardening TIMEOUT 60)
