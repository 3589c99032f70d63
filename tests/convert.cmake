# convert / quantize / perplexity (label "convert"): GGUF output bit-identical with the
# fixtures llama.cpp wrote, the converted files pass the goldens, KL divergence ordering of
# quantized weights, and bad input.
#
# The commands run through the llama3 binary once tools/llama3.c dispatches them; until then
# through a stand-in dispatcher built from the same tools/cmd_*.c files.
file(READ ${CMAKE_SOURCE_DIR}/tools/llama3.c _l3_dispatch)
string(FIND "${_l3_dispatch}" "cmd_perplexity" _l3_has_ppl)
string(FIND "${_l3_dispatch}" "cmd_convert" _l3_has_convert)
if(_l3_has_ppl GREATER -1 AND _l3_has_convert GREATER -1)
  set(CONVERT_CLI $<TARGET_FILE:llama3-cli>)
else()
  llama3_test(test_convert_tool test_convert_tool.c ${CMAKE_SOURCE_DIR}/tools/cmd_convert.c
              ${CMAKE_SOURCE_DIR}/tools/cmd_quantize.c ${CMAKE_SOURCE_DIR}/tools/cmd_perplexity.c
              ${CMAKE_SOURCE_DIR}/tools/cli.c)
  target_include_directories(test_convert_tool PRIVATE ${CMAKE_SOURCE_DIR}/tools)
  set(CONVERT_CLI $<TARGET_FILE:test_convert_tool>)
endif()
llama3_test(gguf_cmp test_convert_cmp.c)
llama3_test(golden_ids test_convert_ids.c)

set(_M ${LLAMA3_FIXTURES}/models)
set(_W ${CMAKE_BINARY_DIR}/convert-work)
file(MAKE_DIRECTORY ${_W})
set(_SH ${CMAKE_CURRENT_SOURCE_DIR}/test_convert.sh)
set(_ENV CLI=${CONVERT_CLI} L3CLI=$<TARGET_FILE:llama3-cli> CMP=$<TARGET_FILE:gguf_cmp>
         IDS=$<TARGET_FILE:golden_ids> GOLDEN=$<TARGET_FILE:test_golden> M=${_M}
         TOK=${LLAMA3_FIXTURES}/tokenizer W=${_W})

function(convert_test name)
  add_test(NAME convert_${name} COMMAND env ${_ENV} sh ${_SH} ${name})
  set_tests_properties(convert_${name} PROPERTIES LABELS "convert" ${ARGN})
endfunction()

# HF and Meta folders -> bf16 / q8_0 / q4_0, compared tensor by tensor with the fixtures.
foreach(src hf meta meta2)
  foreach(t bf16 q8_0 q4_0)
    convert_test(gqa_${src}_${t} FIXTURES_SETUP conv_gqa_${src}_${t})
  endforeach()
endforeach()
convert_test(gqa_hf_f32)
convert_test(gqa_hf_f16)
convert_test(gqa_hf_kv)                 # the whole metadata too, with the vocabulary
convert_test(mqa31_hf_f32)              # rope_freqs (Llama 3.1 scaling), 2 shards
convert_test(mqa31_meta_q8_0)
convert_test(tok32_hf_bf16)             # tied embeddings, real tokenizer.json, chat template
convert_test(tok32_hf_kv)
convert_test(tok32_gguf_q8_0)           # GGUF input
# The converted files pass the goldens.
foreach(src hf meta)
  add_test(NAME convert_golden_gqa_${src}_bf16
           COMMAND test_golden $<TARGET_FILE:llama3-cli> ${_W}/gqa_${src}_bf16.gguf ${_M}/gqa/golden-bf16.safetensors --greedy)
  set_tests_properties(convert_golden_gqa_${src}_bf16 PROPERTIES LABELS "convert" FIXTURES_REQUIRED conv_gqa_${src}_bf16)
  foreach(q q8_0 q4_0)
    add_test(NAME convert_golden_gqa_${src}_${q}
             COMMAND test_golden $<TARGET_FILE:llama3-cli> ${_W}/gqa_${src}_${q}.gguf ${_M}/gqa/golden-${q}.safetensors
                     --modes prefill --rel 2e-2 --argmax 0.95)
    set_tests_properties(convert_golden_gqa_${src}_${q} PROPERTIES LABELS "convert" FIXTURES_REQUIRED conv_gqa_${src}_${q})
  endforeach()
endforeach()
# quantize: f32 / bf16 fixtures -> q8_0 / q4_0 fixtures; k-quants and mixes run and load.
foreach(c f32_q8_0 f32_q4_0 bf16_q8_0 bf16_q4_0 mqa31_q8_0 tok32_q8_0 kquants mixes same_type)
  convert_test(quantize_${c})
endforeach()
# perplexity: KL of q8_0 and q4_0 against bf16 on the golden sequence.
convert_test(perplexity_kl)
convert_test(perplexity_text)
# Bad input: one-line errors, non-zero exit, no output file left behind.
convert_test(bad_input)
