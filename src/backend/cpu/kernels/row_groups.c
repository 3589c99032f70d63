/* The grouped layouts of row_groups.h, one pair of functions per type. */
#include "backend/cpu/kernels/row_groups.h"

#include <string.h>

#include "quants/quants.h"
#include "tensor_types.h"

static void pack_q4_0(int G, const void *rows, size_t row_bytes, int64_t n, void *out) {
    const uint8_t *src = rows;
    uint8_t *o = out;
    for (int64_t b = 0; b < n / 32; b++, o += 18 * G)
        for (int r = 0; r < G; r++) {
            const l3_block_q4_0 *blk = (const l3_block_q4_0 *)(src + r * row_bytes) + b;
            memcpy(o + 2 * r, &blk->d, 2);
            for (int c = 0; c < 4; c++) memcpy(o + 2 * G + 4 * G * c + 4 * r, blk->qs + 4 * c, 4);
        }
}

static void unpack_q4_0(int G, const void *group, int i, int64_t n, void *row) {
    const uint8_t *g = group;
    l3_block_q4_0 *blk = row;
    for (int64_t b = 0; b < n / 32; b++, g += 18 * G) {
        memcpy(&blk[b].d, g + 2 * i, 2);
        for (int c = 0; c < 4; c++) memcpy(blk[b].qs + 4 * c, g + 2 * G + 4 * G * c + 4 * i, 4);
    }
}

/* one Q4_K super-block of a row to its place in a group (to = 1), or back (to = 0) */
static void move_q4_K(int G, l3_block_q4_K *blk, uint8_t *o, int r, int to) {
#define MOVE(dst_in_group, field, bytes) \
    (to ? memcpy(dst_in_group, field, bytes) : memcpy(field, dst_in_group, bytes))
    MOVE(o + 2 * r, &blk->d, 2);
    MOVE(o + 2 * G + 2 * r, &blk->dmin, 2);
    for (int k = 0; k < 12; k++) MOVE(o + 4 * G + G * k + r, blk->scales + k, 1);
    for (int c = 0; c < 32; c++) MOVE(o + 16 * G + 4 * G * c + 4 * r, blk->qs + 4 * c, 4);
#undef MOVE
}

static void pack_q4_K(int G, const void *rows, size_t row_bytes, int64_t n, void *out) {
    uint8_t *o = out;
    for (int64_t b = 0; b < n / 256; b++, o += 144 * G)
        for (int r = 0; r < G; r++) move_q4_K(G, (l3_block_q4_K *)((uint8_t *)rows + r * row_bytes) + b, o, r, 1);
}

static void unpack_q4_K(int G, const void *group, int i, int64_t n, void *row) {
    const uint8_t *g = group;
    for (int64_t b = 0; b < n / 256; b++, g += 144 * G) move_q4_K(G, (l3_block_q4_K *)row + b, (uint8_t *)g, i, 0);
}

/* one Q6_K super-block of a row to its place in a group (to = 1), or back (to = 0) */
static void move_q6_K(int G, l3_block_q6_K *blk, uint8_t *o, int r, int to) {
#define MOVE(dst_in_group, field, bytes) \
    (to ? memcpy(dst_in_group, field, bytes) : memcpy(field, dst_in_group, bytes))
    MOVE(o + 2 * r, &blk->d, 2);
    for (int k = 0; k < 16; k++) MOVE(o + 2 * G + G * k + r, blk->scales + k, 1);
    for (int c = 0; c < 32; c++) MOVE(o + 18 * G + 4 * G * c + 4 * r, blk->ql + 4 * c, 4);
    for (int c = 0; c < 16; c++) MOVE(o + 146 * G + 4 * G * c + 4 * r, blk->qh + 4 * c, 4);
#undef MOVE
}

static void pack_q6_K(int G, const void *rows, size_t row_bytes, int64_t n, void *out) {
    uint8_t *o = out;
    for (int64_t b = 0; b < n / 256; b++, o += 210 * G)
        for (int r = 0; r < G; r++) move_q6_K(G, (l3_block_q6_K *)((uint8_t *)rows + r * row_bytes) + b, o, r, 1);
}

static void unpack_q6_K(int G, const void *group, int i, int64_t n, void *row) {
    const uint8_t *g = group;
    for (int64_t b = 0; b < n / 256; b++, g += 210 * G) move_q6_K(G, (l3_block_q6_K *)row + b, (uint8_t *)g, i, 0);
}

/* one Q5_K super-block of a row to its place in a group (to = 1), or back (to = 0) */
static void move_q5_K(int G, l3_block_q5_K *blk, uint8_t *o, int r, int to) {
#define MOVE(dst_in_group, field, bytes) \
    (to ? memcpy(dst_in_group, field, bytes) : memcpy(field, dst_in_group, bytes))
    MOVE(o + 2 * r, &blk->d, 2);
    MOVE(o + 2 * G + 2 * r, &blk->dmin, 2);
    for (int k = 0; k < 12; k++) MOVE(o + 4 * G + G * k + r, blk->scales + k, 1);
    for (int c = 0; c < 8; c++) MOVE(o + 16 * G + 4 * G * c + 4 * r, blk->qh + 4 * c, 4);
    for (int c = 0; c < 32; c++) MOVE(o + 48 * G + 4 * G * c + 4 * r, blk->qs + 4 * c, 4);
#undef MOVE
}

static void pack_q5_K(int G, const void *rows, size_t row_bytes, int64_t n, void *out) {
    uint8_t *o = out;
    for (int64_t b = 0; b < n / 256; b++, o += 176 * G)
        for (int r = 0; r < G; r++) move_q5_K(G, (l3_block_q5_K *)((uint8_t *)rows + r * row_bytes) + b, o, r, 1);
}

static void unpack_q5_K(int G, const void *group, int i, int64_t n, void *row) {
    const uint8_t *g = group;
    for (int64_t b = 0; b < n / 256; b++, g += 176 * G) move_q5_K(G, (l3_block_q5_K *)row + b, (uint8_t *)g, i, 0);
}

int l3_row_groups_supported(int t) { return t == L3_Q4_0 || t == L3_Q4_K || t == L3_Q5_K || t == L3_Q6_K; }

void l3_row_groups_pack(int t, int G, const void *rows, size_t row_bytes, int64_t n, void *out) {
    if (t == L3_Q4_0) pack_q4_0(G, rows, row_bytes, n, out);
    else if (t == L3_Q4_K) pack_q4_K(G, rows, row_bytes, n, out);
    else if (t == L3_Q5_K) pack_q5_K(G, rows, row_bytes, n, out);
    else if (t == L3_Q6_K) pack_q6_K(G, rows, row_bytes, n, out);
}

void l3_row_groups_unpack(int t, int G, const void *group, int i, int64_t n, void *row) {
    if (t == L3_Q4_0) unpack_q4_0(G, group, i, n, row);
    else if (t == L3_Q4_K) unpack_q4_K(G, group, i, n, row);
    else if (t == L3_Q5_K) unpack_q5_K(G, group, i, n, row);
    else if (t == L3_Q6_K) unpack_q6_K(G, group, i, n, row);
}
