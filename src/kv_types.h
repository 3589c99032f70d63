/* KV-cache element types (llama3_kv_type): f32, f16, or Q8_0 blocks (per 32 values an f16
 * scale and 32 int8, as the weights' l3_block_q8_0; a head never shares a block with the
 * next one). */
#ifndef LLAMA3_KV_TYPES_H
#define LLAMA3_KV_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include "llama3.h"

/* Bytes of n elements of type t: 0 when n does not fill whole blocks (q8_0: multiples of 32). */
size_t l3_kv_type_bytes(llama3_kv_type t, int64_t n);

/* 0, or LLAMA3_ERR_ARG when type is unknown or needs whole blocks per head (q8_0: head_dim
 * a multiple of 32). */
int l3_kv_check_type(llama3_kv_type type, int head_dim, llama3_error *err);

#endif
