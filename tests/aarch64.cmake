# Cross builds for aarch64 (scripts/build-aarch64.sh, label "aarch64"): programs run under the
# toolchain's emulator (qemu-aarch64) with QEMU_CPU=max, a CPU with DotProd, I8MM and FP16, so
# that every ARM kernel set runs. The kernel tests (every set against the scalar reference),
# the op harness (every set), the thread pool, batching (ids equal alone) and the goldens
# through the emulated CLI once per ARM kernel set (LLAMA3_ISA; test_golden runs emulated too, the CLI it starts goes
# through llama3-emu, a script that calls the emulator); the loaders' goldens once, with the
# best set.
set(_emu ${CMAKE_CROSSCOMPILING_EMULATOR})
string(REPLACE ";" " " _emu "${_emu}")
file(WRITE ${CMAKE_BINARY_DIR}/llama3-emu "#!/bin/sh\nexec ${_emu} ${CMAKE_BINARY_DIR}/llama3 \"$@\"\n")
execute_process(COMMAND chmod +x ${CMAKE_BINARY_DIR}/llama3-emu)
set(_cli ${CMAKE_BINARY_DIR}/llama3-emu)
set(_M ${LLAMA3_FIXTURES}/models)
set(_arm_sets neon dotprod i8mm)

llama3_test(test_backend_ops test_backend_ops.c op_reference.c)
llama3_test(test_kernels test_kernels.c)
llama3_test(test_threads test_threads.c)
llama3_test(test_golden test_golden.c)
llama3_test(test_stories test_stories.c)
llama3_test(test_batch test_batch.c)
add_test(NAME aarch64.backend_ops COMMAND test_backend_ops)
add_test(NAME aarch64.kernels COMMAND test_kernels)
set_tests_properties(aarch64.kernels PROPERTIES ENVIRONMENT "QEMU_CPU=max;LLAMA3_EXPECT_SETS=scalar neon dotprod i8mm")
add_test(NAME aarch64.threads COMMAND test_threads)
set(_tests aarch64.backend_ops aarch64.kernels aarch64.threads)
function(aarch64_golden name model golden)
  add_test(NAME aarch64.${name} COMMAND test_golden ${_cli} ${model} ${golden} ${ARGN})
  set(_tests ${_tests} aarch64.${name} PARENT_SCOPE)
endfunction()

# Per ARM kernel set: the goldens that go through its kernels (float and 8-bit matrix
# products, prompts with one and two 8-bit levels, decode, the f16 and Q8_0 KV caches), and
# a check that LLAMA3_ISA really selected the set (an unknown name falls back to the best).
foreach(isa ${_arm_sets})
  set(_set_tests)
  add_test(NAME aarch64.${isa}_selected COMMAND ${_cli} info -m ${_M}/gqa/gguf/model-q4_0.gguf)
  set_tests_properties(aarch64.${isa}_selected PROPERTIES PASS_REGULAR_EXPRESSION "in use: ${isa};")
  add_test(NAME aarch64.${isa}_stories260K_greedy COMMAND test_stories ${_cli} ${LLAMA3_FIXTURES}/stories260K)
  # batched ids (greedy and seeded) equal each sequence's alone, through Q8_0's decode kernels
  # (its prompts take f32 in neon and dotprod, usmmla in i8mm); 25-50 s each under qemu
  add_test(NAME aarch64.${isa}_batch_mqa31_q8_0 COMMAND test_batch ${_M}/mqa31/gguf/model-q8_0.gguf)
  list(APPEND _set_tests aarch64.${isa}_selected aarch64.${isa}_stories260K_greedy aarch64.${isa}_batch_mqa31_q8_0)
  set(_before ${_tests})
  set(_tests)
  aarch64_golden(${isa}_golden_gqa_f32 ${_M}/gqa/gguf/model-f32.gguf ${_M}/gqa/golden-bf16.safetensors --greedy)
  aarch64_golden(${isa}_golden_gqa_f16 ${_M}/gqa/gguf/model-f16.gguf ${_M}/gqa/golden-f16.safetensors --greedy)
  aarch64_golden(${isa}_golden_gqa_bf16_kvf16 ${_M}/gqa/gguf/model-bf16.gguf ${_M}/gqa/golden-bf16.safetensors
                 --kv f16 --rel 2e-3 --argmax 0.95)
  aarch64_golden(${isa}_golden_gqa_bf16_kvq8_0 ${_M}/gqa/gguf/model-bf16.gguf ${_M}/gqa/golden-bf16.safetensors
                 --kv q8_0 --rel 7e-3 --argmax 0.95)
  foreach(q q8_0 q4_0)
    aarch64_golden(${isa}_golden_gqa_${q} ${_M}/gqa/gguf/model-${q}.gguf ${_M}/gqa/golden-${q}.safetensors
                   --modes prefill --rel 2e-2 --argmax 0.95)
    aarch64_golden(${isa}_golden_gqa_${q}_decode ${_M}/gqa/gguf/model-${q}.gguf ${_M}/gqa/golden-${q}.safetensors
                   --modes decode --rel 5e-3 --argmax 0.95)
    aarch64_golden(${isa}_golden_gqa_${q}_prompt2 ${_M}/gqa/gguf/model-${q}.gguf ${_M}/gqa/golden-${q}.safetensors
                   --modes prefill --prompt-int8 2 --rel 5e-3 --argmax 0.95)
  endforeach()
  list(APPEND _set_tests ${_tests})
  set(_tests ${_before} ${_set_tests})
  set_tests_properties(${_set_tests} PROPERTIES ENVIRONMENT "QEMU_CPU=max;LLAMA3_ISA=${isa}")
endforeach()

# The loaders' goldens (other shapes and formats), once with the best set.
set(_best_tests)
set(_before ${_tests})
set(_tests)
aarch64_golden(golden_mqa31_f32 ${_M}/mqa31/gguf/model-f32.gguf ${_M}/mqa31/golden-bf16.safetensors --greedy)
aarch64_golden(golden_tok32_bf16 ${_M}/tok32/gguf/model-bf16.gguf ${_M}/tok32/golden-bf16.safetensors --greedy)
foreach(model gqa/hf gqa/meta gqa/meta2 mqa31/hf)
  string(REPLACE "/" "_" id ${model})
  string(REGEX REPLACE "/.*" "" family ${model})
  aarch64_golden(golden_${id} ${_M}/${model} ${_M}/${family}/golden-bf16.safetensors --kv f32 --greedy)
endforeach()
set_tests_properties(${_tests} PROPERTIES ENVIRONMENT "QEMU_CPU=max")
set(_tests ${_before} ${_tests})
set_tests_properties(${_tests} PROPERTIES LABELS aarch64 TIMEOUT 900)
