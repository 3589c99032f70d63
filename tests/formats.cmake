# Checkpoint formats: safetensors, zip + pickle (.pth), Hugging Face and Meta folders, and
# the loaders' strictness (test_formats_strict.c: GGUF, .pth zips, Meta shards).
# One program, one CTest test per case (label "formats"); bad inputs are generated at run time.
llama3_test(test_formats
  ${CMAKE_CURRENT_SOURCE_DIR}/test_formats.c
  ${CMAKE_CURRENT_SOURCE_DIR}/test_formats_good.c
  ${CMAKE_CURRENT_SOURCE_DIR}/test_formats_bad.c
  ${CMAKE_CURRENT_SOURCE_DIR}/test_formats_strict.c
  ${CMAKE_SOURCE_DIR}/fuzz/fuzz_common.c)
target_include_directories(test_formats PRIVATE ${CMAKE_SOURCE_DIR}/fuzz)
target_compile_definitions(test_formats PRIVATE LLAMA3_FIXTURES_DIR="${LLAMA3_FIXTURES}")
set(LLAMA3_FORMAT_CASES
  st_golden st_hf_matches_gguf pth_matches_gguf hf_gqa hf_mqa31_sharded hf_tok32_tied
  meta_gqa_matches_hf meta_mqa31_scaled meta2_merge loader_detects_folders
  st_truncated_header st_header_beyond_file st_offsets_overlap st_offsets_outside st_span_vs_shape
  st_shape_overflow st_unknown_dtype st_malformed_json st_negative_offset
  hf_shape_vs_config hf_dtype_vs_config hf_missing_shard hf_missing_weights hf_malformed_config_json
  hf_malformed_index_json hf_index_leaves_folder hf_missing_key hf_head_dim_mismatch
  hf_unsupported_rope_scaling hf_rope_parameters_v5
  meta_shard_gap meta_shard_missing_by_shape meta_shards_disagree meta_malformed_params_json
  pth_crafted_ok pth_noncontiguous pth_evil_global pth_unsupported_opcode pth_not_a_dict
  pth_compressed_entry pth_truncated_entry pth_truncated_file
  gguf_duplicate_key gguf_tensors_overlap gguf_last_tensor_past_end
  pth_crc_mismatch crc32_pieces pth_duplicate_entry pth_entry_overruns
  meta_shard_hardlink meta_shard_symlink meta_shard_copy)
foreach(case ${LLAMA3_FORMAT_CASES})
  add_test(NAME formats.${case} COMMAND test_formats ${case})
  set_tests_properties(formats.${case} PROPERTIES LABELS formats)
endforeach()

# Goldens through the HF and Meta readers (f32 KV cache, prefill + decode modes, greedy):
# the same bf16 weights as the GGUF files, so the same tolerances (relative L2 <= 1e-4, every
# argmax equal).
set(M ${LLAMA3_FIXTURES}/models)
foreach(model gqa/meta gqa/meta2 gqa/hf mqa31/meta mqa31/hf tok32/hf)
  string(REPLACE "/" "_" id ${model})
  string(REGEX REPLACE "/.*" "" family ${model})
  llama3_golden_test(golden_${id} ${M}/${model} ${M}/${family}/golden-bf16.safetensors --kv f32 --greedy)
  set_tests_properties(golden_${id} PROPERTIES LABELS "golden;formats")
endforeach()
