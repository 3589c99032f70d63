/* Per-tensor output types: llama.cpp's llama_tensor_get_type() rules for a Llama model,
 * restated (see quant_plan.h for the summary). */
#include "convert/quant_plan.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "tensor_types.h"

/* llama_ftype numbers (general.file_type) of the single types. */
static int ftype_of(uint32_t type) {
    switch (type) {
    case L3_F32: return 0;
    case L3_F16: return 1;
    case L3_Q4_0: return 2;
    case L3_Q4_1: return 3;
    case L3_Q8_0: return 7;
    case L3_Q5_0: return 8;
    case L3_Q5_1: return 9;
    case L3_Q2_K: return 10;
    case L3_Q3_K: return 12;  /* llama.cpp's "Q3_K" means Q3_K_M */
    case L3_Q4_K: return 15;  /* "Q4_K" = Q4_K_M */
    case L3_Q5_K: return 17;  /* "Q5_K" = Q5_K_M */
    case L3_Q6_K: return 18;
    case L3_BF16: return 32;
    default: return -1;
    }
}

static const struct { const char *name; l3_mix mix; uint32_t base; uint32_t ftype; } MIXES[] = {
    { "q4_k_s", L3_MIX_Q4_K_S, L3_Q4_K, 14 },
    { "q4_k_m", L3_MIX_Q4_K_M, L3_Q4_K, 15 },
    { "q5_k_s", L3_MIX_Q5_K_S, L3_Q5_K, 16 },
    { "q5_k_m", L3_MIX_Q5_K_M, L3_Q5_K, 17 },
};

/* A type we can write: in the table with a quantizer and a file type. */
static int writable(uint32_t t) {
    const l3_type_info *ti = l3_type_get(t);
    return ti && ti->from_float && ftype_of(t) >= 0;
}

int l3_qplan_parse(const char *name, l3_qplan *p) {
    memset(p, 0, sizeof *p);
    p->has_output = 1;
    for (size_t i = 0; i < sizeof MIXES / sizeof MIXES[0]; i++)
        if (!strcasecmp(name, MIXES[i].name)) {
            if (!writable(MIXES[i].base) || !writable(L3_Q6_K)) return -1;
            p->mix = MIXES[i].mix;
            p->base = MIXES[i].base;
            p->ftype = MIXES[i].ftype;
            return 0;
        }
    for (uint32_t t = 0; t < L3_TYPE_COUNT; t++)
        if (writable(t) && !strcasecmp(name, l3_type_name(t))) {
            p->mix = L3_MIX_PURE;
            p->base = t;
            p->ftype = (uint32_t)ftype_of(t);
            return 0;
        }
    return -1;
}

void l3_qplan_names(char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    for (uint32_t t = 0; t < L3_TYPE_COUNT && n < cap; t++)
        if (writable(t)) n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", l3_type_name(t));
    for (size_t i = 0; i < sizeof MIXES / sizeof MIXES[0] && n < cap; i++)
        if (writable(MIXES[i].base) && writable(L3_Q6_K))
            n += (size_t)snprintf(buf + n, cap - n, ", %s", MIXES[i].name);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

int l3_qplan_quantizable(const char *name, int n_dims) {
    /* llama.cpp: names ending in "weight", 2-D or more, never norms. */
    return n_dims >= 2 && ends_with(name, "weight") && !strstr(name, "_norm.weight");
}

/* llama.cpp's use_more_bits(): the first and last eighth of the layers and every third one
 * in between get more bits. */
static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static int layer_of(const char *name) {
    int l;
    return sscanf(name, "blk.%d.", &l) == 1 ? l : -1;
}

static uint32_t mix_type(const l3_qplan *p, const char *name, int64_t ne0) {
    uint32_t t = p->base;
    int n = p->n_layers, i = layer_of(name);
    if (!strcmp(name, "output.weight") || (!p->has_output && !strcmp(name, "token_embd.weight"))) {
        const l3_type_info *ti = l3_type_get(t);
        if (ne0 % ti->block) t = L3_Q8_0;
        else if (t != L3_Q8_0) t = L3_Q6_K;
    } else if (strstr(name, "attn_v.weight")) {
        if ((p->mix == L3_MIX_Q4_K_M || p->mix == L3_MIX_Q5_K_M) && use_more_bits(i, n)) t = L3_Q6_K;
        else if (p->mix == L3_MIX_Q4_K_S && i < 4) t = L3_Q5_K;
        if (n == 80 && t == L3_Q4_K) t = L3_Q5_K;  /* 70B: 8 heads share attn_v, cheap to widen */
    } else if (strstr(name, "ffn_down")) {
        if ((p->mix == L3_MIX_Q4_K_M || p->mix == L3_MIX_Q5_K_M) && use_more_bits(i, n)) t = L3_Q6_K;
        else if (p->mix == L3_MIX_Q4_K_S && i < n / 8) t = L3_Q5_K;
    }
    return t;
}

uint32_t l3_qplan_type(const l3_qplan *p, const char *name, int64_t ne0) {
    uint32_t t = p->mix == L3_MIX_PURE ? p->base : mix_type(p, name, ne0);
    const l3_type_info *ti = l3_type_get(t);
    if (ti && ne0 % ti->block == 0) return t;
    /* llama.cpp's fallback for rows the block does not divide. */
    switch (t) {
    case L3_Q4_K: t = L3_Q5_0; break;
    case L3_Q5_K: t = L3_Q5_1; break;
    case L3_Q6_K: t = L3_Q8_0; break;
    default: t = L3_F16; break;
    }
    ti = l3_type_get(t);
    if (!ti || !ti->from_float || ne0 % ti->block) t = L3_F16;
    return t;
}
