# Model parallelism under mpirun (label "mpi"): 2 processes against 1 (logits, greedy ids, a
# chat through the server), the goldens through mpirun, each rank of a 2-shard Meta folder on its
# own shard, two hosts (network namespaces) over TCP, and the failures: a split that does not
# divide, a column slice off its blocks, different models per rank, a rank killed mid-run.
# Without MPI in the build, one test says so and is skipped.
if(NOT LLAMA3_HAVE_MPI)
  add_test(NAME mpi.not_built COMMAND sh -c "echo 'skipped: built without MPI (install libopenmpi-dev)'; exit 77")
  set_tests_properties(mpi.not_built PROPERTIES LABELS mpi SKIP_RETURN_CODE 77)
  return()
endif()
llama3_test(f32_compare f32_compare.c)
set(_mpi_run ${CMAKE_CURRENT_SOURCE_DIR}/mpi_run.sh)
# the CLI under mpirun with 2 processes, as one program (for test_golden and the server test)
file(WRITE ${CMAKE_BINARY_DIR}/llama3-mpi2 "#!/bin/sh\nexec sh ${_mpi_run} -np 2 ${CMAKE_BINARY_DIR}/llama3 \"$@\"\n")
execute_process(COMMAND chmod +x ${CMAKE_BINARY_DIR}/llama3-mpi2)
set(_M ${LLAMA3_FIXTURES}/models)
set(_tests)
foreach(c same_logits greedy bad_split block mismatch killed)
  add_test(NAME mpi.${c} COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_mpi.sh ${c} ${LLAMA3_CLI}
           $<TARGET_FILE:f32_compare> ${LLAMA3_FIXTURES})
  list(APPEND _tests mpi.${c})
endforeach()
foreach(model gqa/gguf/model-f32.gguf gqa/hf gqa/meta gqa/meta2)
  string(REGEX REPLACE "/gguf/model-|/" "_" id ${model})
  string(REPLACE ".gguf" "" id ${id})
  add_test(NAME mpi.golden_${id} COMMAND test_golden ${CMAKE_BINARY_DIR}/llama3-mpi2 ${_M}/${model}
           ${_M}/gqa/golden-bf16.safetensors --kv f32 --greedy)
  list(APPEND _tests mpi.golden_${id})
endforeach()
add_test(NAME mpi.golden_gqa_q8_0 COMMAND test_golden ${CMAKE_BINARY_DIR}/llama3-mpi2 ${_M}/gqa/gguf/model-q8_0.gguf
         ${_M}/gqa/golden-q8_0.safetensors --modes prefill --rel 2e-2 --argmax 0.95)
add_test(NAME mpi.golden_gqa_q8_0_decode COMMAND test_golden ${CMAKE_BINARY_DIR}/llama3-mpi2
         ${_M}/gqa/gguf/model-q8_0.gguf ${_M}/gqa/golden-q8_0.safetensors --modes decode --rel 5e-3 --argmax 0.95)
list(APPEND _tests mpi.golden_gqa_q8_0 mpi.golden_gqa_q8_0_decode)
if(LLAMA3_HAVE_SERVER)
  add_test(NAME mpi.serve COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_mpi_serve.sh ${LLAMA3_CLI}
           ${CMAKE_BINARY_DIR}/llama3-mpi2 ${_M}/tok32/gguf/model-bf16.gguf)
  set_tests_properties(mpi.serve PROPERTIES RESOURCE_LOCK llama3_server)
  list(APPEND _tests mpi.serve)
endif()
add_test(NAME mpi.two_hosts COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_mpi_netns.sh ${LLAMA3_CLI}
         $<TARGET_FILE:f32_compare> ${LLAMA3_FIXTURES})
set_tests_properties(mpi.two_hosts PROPERTIES SKIP_RETURN_CODE 77)
list(APPEND _tests mpi.two_hosts)
# (mpirun runs its processes on the 2 cores: one test at a time)
set_tests_properties(${_tests} PROPERTIES LABELS mpi TIMEOUT 300 RESOURCE_LOCK llama3_mpi)
