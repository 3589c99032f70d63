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

/* one field's units of row r to their places in a group's block (to_group), or back; UNIT a
 * constant, so each copy is one load and store (not a call: prefill unpacks every row it uses) */
static inline __attribute__((always_inline)) void move_units(const int UNIT, field f, int G, int r, int to_group,
                                                             const uint8_t *src, uint8_t *dst) {
    for (int k = 0; k < f.len; k += UNIT) {
        const size_t in_block = (size_t)(f.off + k), in_group = (size_t)G * in_block + (size_t)(UNIT * r);
        memcpy(dst + (to_group ? in_group : in_block), src + (to_group ? in_block : in_group), (size_t)UNIT);
    }
}
/* a block of row r to its place in a group's block (to_group), or back */
static void move_block(const layout *L, int G, int r, int to_group, const uint8_t *src, uint8_t *dst) {
    for (int i = 0; i < L->n_fields; i++) {
        const field f = L->f[i];
        if (f.unit == 4) move_units(4, f, G, r, to_group, src, dst);
        else if (f.unit == 2) move_units(2, f, G, r, to_group, src, dst);
        else move_units(1, f, G, r, to_group, src, dst);
    }
}

int l3_row_groups_supported(int t) { return layout_of(t) != NULL; }

void l3_row_groups_pack(int t, int G, const void *rows, size_t row_bytes, int64_t n, void *out) {
    const layout *L = layout_of(t);
    const l3_type_info *ti = l3_type_get((uint32_t)t);
    for (int64_t b = 0; b < n / ti->block; b++)
        for (int r = 0; r < G; r++)
            move_block(L, G, r, 1, (const uint8_t *)rows + r * row_bytes + b * ti->block_bytes,
                       (uint8_t *)out + b * G * ti->block_bytes);
}

void l3_row_groups_unpack(int t, int G, const void *group, int i, int64_t n, void *row) {
    const layout *L = layout_of(t);
    const l3_type_info *ti = l3_type_get((uint32_t)t);
    for (int64_t b = 0; b < n / ti->block; b++)
        move_block(L, G, i, 0, (const uint8_t *)group + b * G * ti->block_bytes, (uint8_t *)row + b * ti->block_bytes);
}
