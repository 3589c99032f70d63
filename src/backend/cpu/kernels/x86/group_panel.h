/* Prompt panels straight from the row groups (kernels.h panel_from_group), shared by the x86
 * sets after group_tiles.h: a group vector's 4-byte chunk of LANES rows is already a row of the
 * packed panel ([n/4][LANES rows][4 values]: avx512.c's panel of 16 rows, either half of
 * avx2.c's), so a panel is the group tiles' block values stored as they come out
 * (b32_group_values, k45_group_values, q6k_group_values), and its lane scales and mins' terms
 * are the group tiles' products, so no row is unpacked, widened and rearranged per product. The
 * bytes and floats are those to_panel and the set's panel_pack make of the unpacked rows
 * (test_kernels compares the products bit for bit). Besides group_tiles.h's primitives, the
 * includer's group_lanes.h defines
 *   gi_st(p, v)              stores LANES * 4 bytes at p
 *   gi_max_u8(a, b)          bytewise unsigned maximum
 *   gf_differ(a, b)          whether any lane of a and b differs (NaN differs) */
#ifndef LLAMA3_X86_GROUP_PANEL_H
#define LLAMA3_X86_GROUP_PANEL_H

/* 8 chunk vectors of a block: panel rows w[c] = wv[c], *umax their bytewise maximum */
static inline __attribute__((always_inline)) void put_values(uint8_t *w, const gi *wv, gi *umax) {
    L3_UNROLL for (int c = 0; c < 8; c++) gi_st(w + 4 * LANES * c, wv[c]), *umax = gi_max_u8(*umax, wv[c]);
}

/* The LANES rows of vector v of a group of type T (L3_Q8_0, L3_Q4_0, L3_Q4_K, L3_Q5_K or L3_Q6_K)
 * at g, n values each, in columns c0..c1 (multiples of the type's block): their values at w,
 * their lane scales and mins' terms in the first LANES lanes of sc16 and mn16 ([n/16][16 rows]:
 * sixteen h's for the panel's row r at 16 h + r), each where the whole panel has it.
 * Returns the values' bytewise maximum; *same32: whether both sixteens of every block share
 * their scale. The group is prefetched AHEAD_BYTES ahead as the decode tiles do it, into L2
 * where l2 (Intel CPUs: at pp16-pp32, 2 threads, AMX Q4_0 1.03-1.06x over no prefetch and
 * 1.03-1.07x over L1; AVX2 + VNNI 0.99-1.04x), else into L1. */
static inline __attribute__((always_inline)) gi group_panel(const int T, const uint8_t *g, int v, int64_t c0, int64_t c1,
                                                            uint8_t *w, float *sc16, float *mn16, int *same32, int l2) {
    gi umax = gi_set1_8(0);
    *same32 = 1;
    if (T == L3_Q8_0 || T == L3_Q4_0) {
        const int Q8 = T == L3_Q8_0, blk = Q8 ? Q80_BLOCK(LANES) : Q40_BLOCK(LANES * G_VECS_Q4_0);
        const gf off = gf_set1(Q8 ? 128.0f : 8.0f);
        g += c0 / 32 * blk;
        for (int64_t b = c0 / 32; b < c1 / 32; b++, g += blk) {
            seq_prefetch_to(l2, g + AHEAD_BYTES, blk);
            const gf d = gf_h16(g + 2 * LANES * v), dm = gf_mul(off, d);
            gf_store(sc16 + 16 * (2 * b), d), gf_store(sc16 + 16 * (2 * b + 1), d);
            gf_store(mn16 + 16 * (2 * b), dm), gf_store(mn16 + 16 * (2 * b + 1), dm);
            gi wv[8];
            b32_group_values(Q8, g, v, wv);
            put_values(w + 4 * LANES * 8 * b, wv, &umax);
        }
    } else if (T == L3_Q4_K || T == L3_Q5_K) {
        const int Q5 = T == L3_Q5_K, bytes = Q5 ? Q5K_BLOCK(LANES) : Q4K_BLOCK(LANES);
        g += c0 / 256 * bytes;
        for (int64_t sb = c0 / 256; sb < c1 / 256; sb++, g += bytes) {
            gf dsc[8], dmn[8];
            k45_group_scales(g, dsc, dmn);
            for (int i = 0; i < 8; i++) {
                seq_prefetch_to(l2, g + AHEAD_BYTES + bytes / 8 * i, bytes / 8);
                const int64_t h = 16 * sb + 2 * i;  /* the sub-block's two sixteens */
                gf_store(sc16 + 16 * h, dsc[i]), gf_store(sc16 + 16 * (h + 1), dsc[i]);
                gf_store(mn16 + 16 * h, dmn[i]), gf_store(mn16 + 16 * (h + 1), dmn[i]);
                gi wv[8];
                k45_group_values(Q5, g, i, wv);
                put_values(w + 4 * LANES * 8 * (8 * sb + i), wv, &umax);
            }
        }
    } else {  /* Q6_K: a scale per sixteen, and 32 times it */
        const gf f32 = gf_set1(32.0f);
        g += c0 / 256 * Q6K_BLOCK(LANES);
        for (int64_t sb = c0 / 256; sb < c1 / 256; sb++, g += Q6K_BLOCK(LANES)) {
            const gf dw = gf_h16(g + 208 * LANES);
            gf prev = dw;
            for (int k = 0; k < 16; k++) {
                const gf ds = gf_mul(dw, gf_cvt(gi_s8(g + 192 * LANES + LANES * k)));
                gf_store(sc16 + 16 * (16 * sb + k), ds), gf_store(mn16 + 16 * (16 * sb + k), gf_mul(f32, ds));
                if (k % 2 && gf_differ(ds, prev)) *same32 = 0;
                prev = ds;
            }
            for (int h = 0; h < 2; h++)
                for (int qq = 0; qq < 4; qq++) {
                    seq_prefetch_to(l2, g + AHEAD_BYTES + Q6K_BLOCK(LANES) / 8 * (4 * h + qq), Q6K_BLOCK(LANES) / 8);
                    gi wv[8];
                    q6k_group_values(g, h, qq, wv);
                    put_values(w + 4 * LANES * 8 * (8 * sb + 4 * h + qq), wv, &umax);
                }
        }
    }
    return umax;
}

#endif
