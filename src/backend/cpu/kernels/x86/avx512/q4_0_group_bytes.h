/* A Q4_0 block of a row group (row_groups.h) as bytes in the layout both the AVX-512 prompt
 * panel (panel_pack16) and AMX's second operand take: 8 rows of 64 bytes, row c the values
 * 4c..4c+3 of 16 weight rows side by side, [value / 4][row][value % 4]. A group's 4-byte chunk
 * of 16 rows is already such a row: its low nibbles are values 4c.., its high ones 16 + 4c..
 * Needs AVX-512BW. */
#ifndef LLAMA3_X86_AVX512_Q4_0_GROUP_BYTES_H
#define LLAMA3_X86_AVX512_Q4_0_GROUP_BYTES_H

#include <immintrin.h>
#include <stdint.h>

/* rows r0..r0 + 15 (r0 0 or 16) of the block at g of a group of 32 rows, into out (512 bytes) */
static inline void q4_0_group_bytes(const uint8_t *g, int r0, uint8_t *out) {
    const __m512i m15 = _mm512_set1_epi8(15);
    for (int c = 0; c < 4; c++) {
        const __m512i v = _mm512_loadu_si512(g + 2 * 32 + 4 * 32 * c + 4 * r0);
        _mm512_storeu_si512(out + 64 * c, _mm512_and_si512(v, m15));
        _mm512_storeu_si512(out + 64 * (4 + c), _mm512_and_si512(_mm512_srli_epi16(v, 4), m15));
    }
}

#endif
