# Kernels: every kernel set this CPU supports against the scalar reference.
llama3_test(test_kernels test_kernels.c)
add_test(NAME kernels COMMAND test_kernels)
set_tests_properties(kernels PROPERTIES LABELS "kernels")

# The goldens once per instruction-set level this build machine supports (LLAMA3_ISA forces
# a kernel set; an unsupported name falls back to the best set, so only register real ones).
set(_isas scalar)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  # Probe the host like dispatch.c does at run time.
  # (AVX-VNNI through cpuid: __builtin_cpu_supports does not know it everywhere)
  # (AMX-INT8: cpuid, then Linux's grant of the tile state, as features.c asks for it)
  file(WRITE ${CMAKE_BINARY_DIR}/isa_probe.c
       "#include <cpuid.h>\n#ifdef __linux__\n#include <sys/syscall.h>\n#include <unistd.h>\n#endif\nint main(void){unsigned a=0,b,c,d,a7=0,b7,c7,d7=0;int vnni=__get_cpuid_count(7,1,&a,&b,&c,&d)&&(a&16);int amx=__get_cpuid_count(7,0,&a7,&b7,&c7,&d7)&&((d7>>24)&3)==3;\n#ifdef __linux__\namx=amx&&syscall(SYS_arch_prctl,0x1023,18)==0;\n#else\namx=0;\n#endif\n__builtin_cpu_init();return (__builtin_cpu_supports(\"avx2\")&&__builtin_cpu_supports(\"fma\")&&__builtin_cpu_supports(\"f16c\")?1:0)|(__builtin_cpu_supports(\"avx512f\")&&__builtin_cpu_supports(\"avx512bw\")&&__builtin_cpu_supports(\"avx512vl\")&&__builtin_cpu_supports(\"avx512dq\")?2:0)|(vnni?4:0)|(amx?8:0);}")
  try_run(_isa_rc _isa_built ${CMAKE_BINARY_DIR}/isa_probe ${CMAKE_BINARY_DIR}/isa_probe.c)
  if(_isa_built AND _isa_rc GREATER_EQUAL 1)
    math(EXPR _has_avx2 "${_isa_rc} & 1")
    math(EXPR _has_avx512 "${_isa_rc} & 2")
    math(EXPR _has_avxvnni "${_isa_rc} & 4")
    math(EXPR _has_amx "${_isa_rc} & 8")
    if(_has_avx2)
      list(APPEND _isas avx2)
    endif()
    if(_has_avx2 AND _has_avxvnni)
      list(APPEND _isas avx2vnni)
    endif()
    if(_has_avx512 AND _has_avx2)
      list(APPEND _isas avx512)
    endif()
    if(_has_avx512 AND _has_avx2 AND _has_amx)  # (the amx set also needs AVX512-VNNI: every AMX CPU has it)
      list(APPEND _isas amx)
    endif()
  endif()
endif()

set(_M ${LLAMA3_FIXTURES}/models)
foreach(isa ${_isas})
  llama3_golden_test(golden_${isa}_gqa_f32 ${_M}/gqa/gguf/model-f32.gguf ${_M}/gqa/golden-bf16.safetensors --greedy)
  llama3_golden_test(golden_${isa}_gqa_f16 ${_M}/gqa/gguf/model-f16.gguf ${_M}/gqa/golden-f16.safetensors --greedy)
  llama3_golden_test(golden_${isa}_gqa_bf16_kvf16 ${_M}/gqa/gguf/model-bf16.gguf ${_M}/gqa/golden-bf16.safetensors
                     --kv f16 --rel 2e-3 --argmax 0.95)
  # the Q8_0 KV cache: dot[L3_Q8_0] for keys, axpy_q8_0 for values (bound: tests/golden.cmake)
  llama3_golden_test(golden_${isa}_gqa_bf16_kvq8_0 ${_M}/gqa/gguf/model-bf16.gguf ${_M}/gqa/golden-bf16.safetensors
                     --kv q8_0 --rel 7e-3 --argmax 0.95)
  set(_tests golden_${isa}_gqa_f32 golden_${isa}_gqa_f16 golden_${isa}_gqa_bf16_kvf16 golden_${isa}_gqa_bf16_kvq8_0)
  foreach(q q8_0 q4_0)
    llama3_golden_test(golden_${isa}_gqa_${q} ${_M}/gqa/gguf/model-${q}.gguf ${_M}/gqa/golden-${q}.safetensors
                       --modes prefill --rel 2e-2 --argmax 0.95)
    llama3_golden_test(golden_${isa}_gqa_${q}_decode ${_M}/gqa/gguf/model-${q}.gguf ${_M}/gqa/golden-${q}.safetensors
                       --modes decode --rel 5e-3 --argmax 0.95)
    # prompts with two 8-bit levels (--prompt-int8 2): decode's bound
    llama3_golden_test(golden_${isa}_gqa_${q}_prompt2 ${_M}/gqa/gguf/model-${q}.gguf ${_M}/gqa/golden-${q}.safetensors
                       --modes prefill --prompt-int8 2 --rel 5e-3 --argmax 0.95)
    list(APPEND _tests golden_${isa}_gqa_${q} golden_${isa}_gqa_${q}_decode golden_${isa}_gqa_${q}_prompt2)
  endforeach()
  add_test(NAME stories260K_greedy_${isa} COMMAND test_stories $<TARGET_FILE:llama3-cli> ${LLAMA3_FIXTURES}/stories260K)
  list(APPEND _tests stories260K_greedy_${isa})
  # batched ids (greedy and seeded) equal each sequence's alone, per kernel set, through the
  # 8-bit tile products (Q8_0's on plain AVX2 with signed bytes)
  add_test(NAME batch_${isa}_mqa31_q8_0 COMMAND test_batch ${_M}/mqa31/gguf/model-q8_0.gguf)
  add_test(NAME batch_${isa}_gqa_q4_0 COMMAND test_batch ${_M}/gqa/gguf/model-q4_0.gguf)
  list(APPEND _tests batch_${isa}_mqa31_q8_0 batch_${isa}_gqa_q4_0)
  set_tests_properties(${_tests} PROPERTIES ENVIRONMENT LLAMA3_ISA=${isa} LABELS "kernels;golden")
endforeach()
