# Tooling: the GGUF writer, `llama3 synth` and `llama3 bench` (label "tools"). No timed
# assertions: the bench test only checks that the JSON is well formed and the speeds positive.
llama3_test(test_gguf_writer ${CMAKE_CURRENT_SOURCE_DIR}/test_gguf_writer.c)
set(LLAMA3_TOOLS_TMP ${CMAKE_CURRENT_BINARY_DIR}/tools_tmp)
file(MAKE_DIRECTORY ${LLAMA3_TOOLS_TMP})
add_test(NAME tools.gguf_writer_roundtrip COMMAND test_gguf_writer roundtrip ${LLAMA3_TOOLS_TMP})
add_test(NAME tools.gguf_writer_errors COMMAND test_gguf_writer errors ${LLAMA3_TOOLS_TMP})
add_test(NAME tools.gguf_writer_rewrite_q8_0
         COMMAND test_gguf_writer rewrite ${LLAMA3_FIXTURES}/models/gqa/gguf/model-q8_0.gguf ${LLAMA3_TOOLS_TMP})
set_tests_properties(tools.gguf_writer_roundtrip tools.gguf_writer_errors tools.gguf_writer_rewrite_q8_0
                     PROPERTIES LABELS tools)

# `llama3 synth`, `llama3 info`, `llama3 bench` through the command line.
llama3_test(test_bench_cli ${CMAKE_CURRENT_SOURCE_DIR}/test_bench_cli.c)
target_link_libraries(test_bench_cli PRIVATE PkgConfig::JANSSON)
add_test(NAME tools.synth_info_bench
         COMMAND test_bench_cli ${LLAMA3_CLI} ${LLAMA3_TOOLS_TMP}
                 ${LLAMA3_FIXTURES}/models/tok32/gguf/model-bf16.gguf)
set_tests_properties(tools.synth_info_bench PROPERTIES LABELS tools TIMEOUT 600)

# bench/bandwidth: runs front to back and in the decode kernels' row pattern; rejects a row
# size that is not whole cache lines.
add_test(NAME tools.bandwidth_patterns
         COMMAND sh -c "$0 --size 16 --passes 1 --threads 1,2 | grep -q 'bandwidth threads=2 best' && $0 --size 16 --passes 1 --threads 2 --rows 6 --prefetch rows | grep -q 'prefetch per row' && $0 --size 16 --passes 1 --threads 1 --rows 4 --row-bytes 2176 | grep -q 'prefetch ordered'"
                 $<TARGET_FILE:bandwidth>)
set_tests_properties(tools.bandwidth_patterns PROPERTIES LABELS tools)
add_test(NAME tools.bandwidth_bad_rows COMMAND $<TARGET_FILE:bandwidth> --size 16 --rows 6 --row-bytes 100)
set_tests_properties(tools.bandwidth_bad_rows PROPERTIES LABELS tools WILL_FAIL TRUE)

# The op profiler (bench --profile, LLAMA3_PROFILE=1): exact op counts per pass, the serial
# fraction table, and the same logits with it on.
add_test(NAME tools.profile
         COMMAND sh -c "d=$(mktemp -d) && bash $0 $1 $2 $d; r=$?; rm -rf $d; exit $r"
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_profile.sh ${LLAMA3_CLI}
                 ${LLAMA3_FIXTURES}/models/gqa/gguf/model-q8_0.gguf)
set_tests_properties(tools.profile PROPERTIES LABELS tools TIMEOUT 300)
