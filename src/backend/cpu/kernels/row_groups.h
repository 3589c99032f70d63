/* Weight rows interleaved in groups (kernels.h: group_rows, dotn_q8_groups): the layout a kernel
 * set may ask the CPU backend to rewrite a matrix into at load, so that a vector lane holds one
 * weight row and a decode step reads one sequential stream per group instead of G row streams.
 * The layout is the same for every set, only G differs; a group takes G * row_bytes bytes.
 * Per block: the block's fields in its own order, each cut into the units a kernel loads per
 * row (2 bytes for an fp16, 1 for a packed scale, 4 of packed values) with unit k of every row
 * side by side: unit k of row r of a field at byte offset `off` is at G * (off + k unit) +
 * unit r of the group's block.
 *
 * Q8_0, per block of 32 values: the G fp16 scales (2G bytes), then for each c = 0..7 the 4 bytes
 * qs[4c..4c+3] of every row (4G bytes), values 4c..4c+3.
 *
 * Q4_0, per block of 32 values: the G fp16 scales (2G bytes), then for each c = 0..3 the 4 bytes
 * qs[4c..4c+3] of every row (4G bytes): the low nibbles of those bytes are values 4c..4c+3, the
 * high nibbles values 16+4c..16+4c+3.
 *
 * Q4_K, per super-block of 256 values: the G fp16 d, the G fp16 dmin, then for each k = 0..11
 * byte k of every row's packed 6-bit scales and mins (G bytes), then for each c = 0..31 the 4
 * bytes qs[4c..4c+3] of every row (4G bytes): chunks 8p..8p+7 hold sub-block 2p in their low
 * nibbles and 2p + 1 in their high nibbles, values 4(c - 8p)..+3 of each.
 *
 * Q5_K: as Q4_K with, between the scales and the nibbles, for each c = 0..7 the 4 bytes
 * qh[4c..4c+3] of every row (4G bytes): bit i of byte l is the fifth bit of value l of
 * sub-block i.
 *
 * Q6_K, per super-block of 256 values: for each c = 0..31 the 4 bytes ql[4c..4c+3] of every row
 * (4G bytes), then for each c = 0..15 the 4 bytes qh[4c..4c+3] of every row, then for each
 * k = 0..15 the int8 scale k of every row (G bytes), then the G fp16 d. */
#ifndef LLAMA3_ROW_GROUPS_H
#define LLAMA3_ROW_GROUPS_H

#include <stddef.h>
#include <stdint.h>

/* bytes of a block of a group of GR rows: Q8_0, Q4_0 (32 values), Q4_K, Q5_K, Q6_K (256) */
#define Q80_BLOCK(GR) (34 * (GR))
#define Q40_BLOCK(GR) (18 * (GR))
#define Q4K_BLOCK(GR) (144 * (GR))
#define Q5K_BLOCK(GR) (176 * (GR))
#define Q6K_BLOCK(GR) (210 * (GR))

/* whether type t has a grouped layout */
int l3_row_groups_supported(int t);
/* G rows of n values of type t (row i at rows + i*row_bytes) into out (G * row_bytes bytes) */
void l3_row_groups_pack(int t, int G, const void *rows, size_t row_bytes, int64_t n, void *out);
/* row i of a group back in the file's layout (row_bytes bytes) */
void l3_row_groups_unpack(int t, int G, const void *group, int i, int64_t n, void *row);

#endif
