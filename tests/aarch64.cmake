# Cross builds for aarch64 (scripts/build-aarch64.sh, label "aarch64"): programs run under the
# toolchain's emulator (qemu-aarch64). The op harness and the kernel tests for every ARM kernel
# set, the thread pool, and the goldens through the emulated CLI (test_golden runs emulated
# too; the CLI it starts goes through llama3-emu, a script that calls the emulator).
set(_emu ${CMAKE_CROSSCOMPILING_EMULATOR})
string(REPLACE ";" " " _emu "${_emu}")
file(WRITE ${CMAKE_BINARY_DIR}/llama3-emu "#!/bin/sh\nexec ${_emu} ${CMAKE_BINARY_DIR}/llama3 \"$@\"\n")
execute_process(COMMAND chmod +x ${CMAKE_BINARY_DIR}/llama3-emu)
set(_cli ${CMAKE_BINARY_DIR}/llama3-emu)
set(_M ${LLAMA3_FIXTURES}/models)

llama3_test(test_backend_ops test_backend_ops.c op_reference.c)
llama3_test(test_kernels test_kernels.c)
llama3_test(test_threads test_threads.c)
llama3_test(test_golden test_golden.c)
llama3_test(test_stories test_stories.c)
add_test(NAME aarch64.backend_ops COMMAND test_backend_ops)
add_test(NAME aarch64.kernels COMMAND test_kernels)
add_test(NAME aarch64.threads COMMAND test_threads)
add_test(NAME aarch64.stories260K_greedy COMMAND test_stories ${_cli} ${LLAMA3_FIXTURES}/stories260K)
set(_tests aarch64.backend_ops aarch64.kernels aarch64.threads aarch64.stories260K_greedy)
function(aarch64_golden name model golden)
  add_test(NAME aarch64.${name} COMMAND test_golden ${_cli} ${model} ${golden} ${ARGN})
  set(_tests ${_tests} aarch64.${name} PARENT_SCOPE)
endfunction()
aarch64_golden(golden_gqa_f32 ${_M}/gqa/gguf/model-f32.gguf ${_M}/gqa/golden-bf16.safetensors --greedy)
aarch64_golden(golden_gqa_f16 ${_M}/gqa/gguf/model-f16.gguf ${_M}/gqa/golden-f16.safetensors --greedy)
aarch64_golden(golden_gqa_bf16_kvf16 ${_M}/gqa/gguf/model-bf16.gguf ${_M}/gqa/golden-bf16.safetensors
               --kv f16 --rel 2e-3 --argmax 0.95)
aarch64_golden(golden_gqa_bf16_kvq8_0 ${_M}/gqa/gguf/model-bf16.gguf ${_M}/gqa/golden-bf16.safetensors
               --kv q8_0 --rel 7e-3 --argmax 0.95)
foreach(q q8_0 q4_0)
  aarch64_golden(golden_gqa_${q} ${_M}/gqa/gguf/model-${q}.gguf ${_M}/gqa/golden-${q}.safetensors
                 --modes prefill --rel 2e-2 --argmax 0.95)
  aarch64_golden(golden_gqa_${q}_decode ${_M}/gqa/gguf/model-${q}.gguf ${_M}/gqa/golden-${q}.safetensors
                 --modes decode --rel 5e-3 --argmax 0.95)
endforeach()
aarch64_golden(golden_mqa31_f32 ${_M}/mqa31/gguf/model-f32.gguf ${_M}/mqa31/golden-bf16.safetensors --greedy)
aarch64_golden(golden_tok32_bf16 ${_M}/tok32/gguf/model-bf16.gguf ${_M}/tok32/golden-bf16.safetensors --greedy)
foreach(model gqa/hf gqa/meta gqa/meta2 mqa31/hf)
  string(REPLACE "/" "_" id ${model})
  string(REGEX REPLACE "/.*" "" family ${model})
  aarch64_golden(golden_${id} ${_M}/${model} ${_M}/${family}/golden-bf16.safetensors --kv f32 --greedy)
endforeach()
set_tests_properties(${_tests} PROPERTIES LABELS aarch64 TIMEOUT 900)
