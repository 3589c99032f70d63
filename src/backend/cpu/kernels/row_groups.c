/* The grouped layouts of row_groups.h: each type is a list of the fields of its block (offset,
 * length, and the unit the kernels load per row), and one pair of functions moves them. */
#include "backend/cpu/kernels/row_groups.h"

#include <string.h>

#include "tensor_types.h"

typedef struct field { int off, len, unit; } field;
typedef struct layout { int type, n_fields; field f[5]; } layout;

static const layout LAYOUTS[] = {
    { L3_Q8_0, 2, { { 0, 2, 2 }, { 2, 32, 4 } } },                                   /* d, qs */
    { L3_Q4_0, 2, { { 0, 2, 2 }, { 2, 16, 4 } } },                                   /* d, qs */
    { L3_Q4_K, 4, { { 0, 2, 2 }, { 2, 2, 2 }, { 4, 12, 1 }, { 16, 128, 4 } } },          /* d, dmin, scales, qs */
    { L3_Q5_K, 5, { { 0, 2, 2 }, { 2, 2, 2 }, { 4, 12, 1 }, { 16, 32, 4 }, { 48, 128, 4 } } },  /* + qh */
    { L3_Q6_K, 4, { { 0, 128, 4 }, { 128, 64, 4 }, { 192, 16, 1 }, { 208, 2, 2 } } },  /* ql, qh, scales, d */
};

static const layout *layout_of(int t) {
    for (size_t i = 0; i < sizeof LAYOUTS / sizeof LAYOUTS[0]; i++)
        if (LAYOUTS[i].type == t) return &LAYOUTS[i];
    return NULL;
}

/* one field's units of row r, in every block, into their places in the group (to_group) or
 * back into the row (the file's layout); UNIT a constant, so each copy is one load and store at
 * pointers that step through the field (prefill unpacks every row it uses: 2-3x faster than
 * moving each block's fields in turn with offsets computed per unit) */
static inline __attribute__((always_inline)) void move_field(const int UNIT, field f, int G, int r, int64_t nb,
                                                             size_t block_bytes, int to_group, const uint8_t *src,
                                                             uint8_t *dst) {
    const size_t in_group = (size_t)G * f.off + (size_t)UNIT * r, group_step = (size_t)G * UNIT;
    const size_t s0 = to_group ? (size_t)f.off : in_group, d0 = to_group ? in_group : (size_t)f.off;
    const size_t s_step = to_group ? (size_t)UNIT : group_step, d_step = to_group ? group_step : (size_t)UNIT;
    const size_t s_block = to_group ? block_bytes : G * block_bytes, d_block = to_group ? G * block_bytes : block_bytes;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *sp = src + b * s_block + s0;
        uint8_t *dp = dst + b * d_block + d0;
        for (int k = 0; k < f.len; k += UNIT, sp += s_step, dp += d_step) memcpy(dp, sp, (size_t)UNIT);
    }
}
/* row r (n values of type t) into its group (to_group), or back */
static void move_row(int t, int G, int r, int64_t n, int to_group, const uint8_t *src, uint8_t *dst) {
    const layout *L = layout_of(t);
    const l3_type_info *ti = l3_type_get((uint32_t)t);
    const int64_t nb = n / ti->block;
    for (int i = 0; i < L->n_fields; i++) {
        const field f = L->f[i];
        if (f.unit == 4) move_field(4, f, G, r, nb, ti->block_bytes, to_group, src, dst);
        else if (f.unit == 2) move_field(2, f, G, r, nb, ti->block_bytes, to_group, src, dst);
        else move_field(1, f, G, r, nb, ti->block_bytes, to_group, src, dst);
    }
}

int l3_row_groups_supported(int t) { return layout_of(t) != NULL; }

void l3_row_groups_pack(int t, int G, const void *rows, size_t row_bytes, int64_t n, void *out) {
    for (int r = 0; r < G; r++) move_row(t, G, r, n, 1, (const uint8_t *)rows + r * row_bytes, out);
}

void l3_row_groups_unpack(int t, int G, const void *group, int i, int64_t n, void *row) {
    move_row(t, G, i, n, 0, group, row);
}
