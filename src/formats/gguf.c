/* GGUF v2/v3 reader: parses the header of a memory-mapped file with bounds checks on every
 * read, then points tensor views straight into the map. */
#include "formats/gguf.h"

#include <stdlib.h>
#include <string.h>
#include "tensor_types.h"

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32
/* The smallest encodings the parser accepts: a key is its 8-byte length + 4-byte type + a
 * 1-byte value; a tensor info its 8-byte name length + n_dims (4) + one dimension (8) + type
 * (4) + offset (8). Counts are checked against these before anything is parsed. */
#define GGUF_MIN_KV_BYTES 13u
#define GGUF_MIN_TENSOR_BYTES 32u

/* The reader's private part: l3_gguf_open allocates this and hands out &full->g (the first
 * member), so l3_gguf stays as declared in gguf.h. The sorted indexes make each lookup
 * O(log n): a loader looks up ~10 tensors per layer, which was O(layers x tensors). They point
 * at each entry's first member, its name (l3_gguf_kv.key, l3_gguf_tensor.name), so one
 * comparison, sort and search serve both. */
typedef struct gguf_full {
    l3_gguf g;
    const l3_gguf_str **kv_sorted;   /* n_kv keys, by (length, bytes); unique */
    const l3_gguf_str **t_sorted;    /* n_tensors names, likewise */
} gguf_full;

static const gguf_full *full_of(const l3_gguf *g) { return (const gguf_full *)(const void *)g; }

typedef struct cursor {
    const uint8_t *p, *end;
    const char *path;
    llama3_error *err;
} cursor;

static int need(cursor *c, uint64_t n, const char *what) {
    if ((uint64_t)(c->end - c->p) < n)
        return l3_fail(c->err, LLAMA3_ERR_FORMAT, "%s: truncated GGUF header while reading %s", c->path, what);
    return 0;
}

#define READ_SCALAR(name, type)                                        \
    static int name(cursor *c, type *out, const char *what) {          \
        if (need(c, sizeof(type), what)) return LLAMA3_ERR_FORMAT;     \
        memcpy(out, c->p, sizeof(type));                               \
        c->p += sizeof(type);                                          \
        return 0;                                                      \
    }
READ_SCALAR(rd_u32, uint32_t)
READ_SCALAR(rd_u64, uint64_t)

static int rd_str(cursor *c, l3_gguf_str *s, const char *what) {
    uint64_t n;
    if (rd_u64(c, &n, what) || need(c, n, what)) return LLAMA3_ERR_FORMAT;
    s->p = (const char *)c->p;
    s->len = n;
    c->p += n;
    return 0;
}

size_t l3_gguf_scalar_size(uint32_t t) {
    switch (t) {
    case GGUF_U8: case GGUF_I8: case GGUF_BOOL: return 1;
    case GGUF_U16: case GGUF_I16: return 2;
    case GGUF_U32: case GGUF_I32: case GGUF_F32: return 4;
    case GGUF_U64: case GGUF_I64: case GGUF_F64: return 8;
    default: return 0;
    }
}

/* Decode one little-endian scalar of type t at p into the kv's union. */
static void load_scalar(uint32_t t, const uint8_t *p, l3_gguf_kv *kv) {
    switch (t) {
    case GGUF_U8: case GGUF_BOOL: kv->v.u = p[0]; break;
    case GGUF_I8: kv->v.i = (int8_t)p[0]; break;
    case GGUF_U16: { uint16_t x; memcpy(&x, p, 2); kv->v.u = x; break; }
    case GGUF_I16: { int16_t x; memcpy(&x, p, 2); kv->v.i = x; break; }
    case GGUF_U32: { uint32_t x; memcpy(&x, p, 4); kv->v.u = x; break; }
    case GGUF_I32: { int32_t x; memcpy(&x, p, 4); kv->v.i = x; break; }
    case GGUF_F32: { float x; memcpy(&x, p, 4); kv->v.f = x; break; }
    case GGUF_U64: { uint64_t x; memcpy(&x, p, 8); kv->v.u = x; break; }
    case GGUF_I64: { int64_t x; memcpy(&x, p, 8); kv->v.i = x; break; }
    case GGUF_F64: { double x; memcpy(&x, p, 8); kv->v.f = x; break; }
    }
}

static int parse_kv(cursor *c, l3_gguf_kv *kv, uint64_t index) {
    char what[64];
    snprintf(what, sizeof what, "key #%llu", (unsigned long long)index);
    if (rd_str(c, &kv->key, what) || rd_u32(c, &kv->type, what)) return LLAMA3_ERR_FORMAT;
    int klen = kv->key.len > 200 ? 200 : (int)kv->key.len;
    if (kv->type == GGUF_STRING) return rd_str(c, &kv->s, what);
    if (kv->type == GGUF_ARRAY) {
        if (rd_u32(c, &kv->arr_type, what) || rd_u64(c, &kv->arr_n, what)) return LLAMA3_ERR_FORMAT;
        kv->arr_data = c->p;
        if (kv->arr_type == GGUF_STRING) {
            /* Each string needs at least its 8-byte length: bound n before allocating. */
            if (kv->arr_n > (uint64_t)(c->end - c->p) / 8)
                return l3_fail(c->err, LLAMA3_ERR_FORMAT, "%s: key '%.*s': array of %llu strings exceeds the file",
                               c->path, klen, kv->key.p, (unsigned long long)kv->arr_n);
            kv->arr_strs = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *kv->arr_strs);
            if (!kv->arr_strs) return l3_fail(c->err, LLAMA3_ERR_MEMORY, "%s: out of memory", c->path);
            for (uint64_t i = 0; i < kv->arr_n; i++)
                if (rd_str(c, &kv->arr_strs[i], what)) return LLAMA3_ERR_FORMAT;
            return 0;
        }
        size_t es = l3_gguf_scalar_size(kv->arr_type);
        if (!es)
            return l3_fail(c->err, LLAMA3_ERR_FORMAT, "%s: key '%.*s': unsupported array element type %u",
                           c->path, klen, kv->key.p, kv->arr_type);
        uint64_t bytes;
        if (!l3_mul_ok(kv->arr_n, es, &bytes) || need(c, bytes, what))
            return l3_fail(c->err, LLAMA3_ERR_FORMAT, "%s: key '%.*s': array of %llu elements exceeds the file",
                           c->path, klen, kv->key.p, (unsigned long long)kv->arr_n);
        c->p += bytes;
        return 0;
    }
    size_t es = l3_gguf_scalar_size(kv->type);
    if (!es)
        return l3_fail(c->err, LLAMA3_ERR_FORMAT, "%s: key '%.*s': unknown value type %u", c->path, klen,
                       kv->key.p, kv->type);
    if (need(c, es, what)) return LLAMA3_ERR_FORMAT;
    load_scalar(kv->type, c->p, kv);
    c->p += es;
    return 0;
}

static int parse_tensor_info(cursor *c, l3_gguf_tensor *t, uint64_t index) {
    char what[64];
    snprintf(what, sizeof what, "tensor info #%llu", (unsigned long long)index);
    if (rd_str(c, &t->name, what) || rd_u32(c, &t->n_dims, what)) return LLAMA3_ERR_FORMAT;
    int nlen = t->name.len > 200 ? 200 : (int)t->name.len;
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
        return l3_fail(c->err, LLAMA3_ERR_FORMAT, "%s: tensor '%.*s': %u dimensions (expected 1..4)", c->path,
                       nlen, t->name.p, t->n_dims);
    for (int d = 0; d < 4; d++) t->ne[d] = 1;
    uint64_t nel = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne;
        if (rd_u64(c, &ne, what)) return LLAMA3_ERR_FORMAT;
        if (ne == 0 || ne > INT64_MAX / 2 || !l3_mul_ok(nel, ne, &nel) || nel > (uint64_t)INT64_MAX / 2)
            return l3_fail(c->err, LLAMA3_ERR_FORMAT, "%s: tensor '%.*s': invalid dimension %llu", c->path, nlen,
                           t->name.p, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
    }
    if (rd_u32(c, &t->type, what) || rd_u64(c, &t->offset, what)) return LLAMA3_ERR_FORMAT;
    const l3_type_info *ti = l3_type_get(t->type);
    if (!ti)
        return l3_fail(c->err, LLAMA3_ERR_UNSUPPORTED, "%s: tensor '%.*s': unknown or unsupported tensor type %u",
                       c->path, nlen, t->name.p, t->type);
    if (t->ne[0] % ti->block != 0)
        return l3_fail(c->err, LLAMA3_ERR_FORMAT, "%s: tensor '%.*s': row of %lld elements is not a multiple of %s's block %d",
                       c->path, nlen, t->name.p, (long long)t->ne[0], ti->name, ti->block);
    uint64_t blocks = nel / (uint64_t)ti->block;
    if (!l3_mul_ok(blocks, ti->block_bytes, &t->nbytes))
        return l3_fail(c->err, LLAMA3_ERR_FORMAT, "%s: tensor '%.*s': size overflows", c->path, nlen, t->name.p);
    return 0;
}

/* Names order by length, then bytes (cheaper than lexicographic, and any total order works). */
static int cmp_str(l3_gguf_str x, const char *y, uint64_t ylen) {
    if (x.len != ylen) return x.len < ylen ? -1 : 1;
    return ylen ? memcmp(x.p, y, ylen) : 0;
}

static int cmp_name(const void *a, const void *b) {
    const l3_gguf_str *x = *(const l3_gguf_str *const *)a, *y = *(const l3_gguf_str *const *)b;
    return cmp_str(*x, y->p, y->len);
}

/* Sorts pointers to the names of the n entries (elem bytes each) at base into *out and refuses
 * a name that appears twice: a repeated key or tensor means different things to readers that
 * take the first or the last one. Sorting finds repeats in n log n (a crafted 8 MB header
 * holds 200,000 tensor infos). */
static int index_unique(const void *base, size_t elem, uint64_t n, const l3_gguf_str ***out, const char *what,
                        const char *path, llama3_error *err) {
    if (n == 0) return 0;
    const l3_gguf_str **idx = malloc(n * sizeof *idx);
    if (!idx) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path);
    for (uint64_t i = 0; i < n; i++) idx[i] = (const l3_gguf_str *)(const void *)((const char *)base + i * elem);
    qsort(idx, n, sizeof *idx, cmp_name);
    *out = idx;
    for (uint64_t i = 1; i < n; i++)
        if (cmp_name(&idx[i - 1], &idx[i]) == 0) {
            int len = idx[i]->len > 200 ? 200 : (int)idx[i]->len;
            return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: %s '%.*s' appears twice", path, what, len, idx[i]->p);
        }
    return 0;
}

static int cmp_offset(const void *a, const void *b) {
    const l3_gguf_tensor *x = *(const l3_gguf_tensor *const *)a, *y = *(const l3_gguf_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return (x > y) - (x < y);  /* file order: the same message on every libc */
}

/* Every tensor owns its bytes, as GGUF writers lay them out: two tensors over the same bytes
 * (a crafted or corrupt file) are refused. Sorted by offset, each must end at or before the
 * next one starts. Offsets and sizes were checked against the file before, so no overflow. */
static int check_overlaps(const l3_gguf *g, const char *path, llama3_error *err) {
    if (g->n_tensors < 2) return 0;
    const l3_gguf_tensor **by_off = malloc(g->n_tensors * sizeof *by_off);
    if (!by_off) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path);
    for (uint64_t i = 0; i < g->n_tensors; i++) by_off[i] = &g->tensors[i];
    qsort(by_off, g->n_tensors, sizeof *by_off, cmp_offset);
    int rc = 0;
    for (uint64_t i = 1; i < g->n_tensors && !rc; i++) {
        const l3_gguf_tensor *a = by_off[i - 1], *b = by_off[i];
        if (a->offset + a->nbytes > b->offset) {
            int alen = a->name.len > 200 ? 200 : (int)a->name.len, blen = b->name.len > 200 ? 200 : (int)b->name.len;
            rc = l3_fail(err, LLAMA3_ERR_FORMAT,
                         "%s: tensor '%.*s' (offset %llu, %llu bytes) overlaps tensor '%.*s' (offset %llu): tensor data must not overlap",
                         path, alen, a->name.p, (unsigned long long)a->offset, (unsigned long long)a->nbytes, blen,
                         b->name.p, (unsigned long long)b->offset);
        }
    }
    free(by_off);
    return rc;
}

/* Makes room for entry `need` - 1 of an array that grows as entries are parsed, so memory
 * follows the bytes actually read, not the counts the header claims. New entries are zeroed. */
static int grow(void **arr, uint64_t *cap, uint64_t need, uint64_t max, size_t elem) {
    if (need <= *cap) return 0;
    uint64_t nc = *cap ? *cap * 2 : 64;
    if (nc > max) nc = max;
    void *p = realloc(*arr, nc * elem);
    if (!p) return -1;
    memset((char *)p + *cap * elem, 0, (nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

int l3_gguf_open(const char *path, l3_gguf **out, llama3_error *err) {
    *out = NULL;
    gguf_full *f = calloc(1, sizeof *f);
    if (!f) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    l3_gguf *g = &f->g;
    uint64_t kv_cap = 0, t_cap = 0;
    int rc = l3_map_file(path, &g->map, err);
    if (rc) { free(f); return rc; }
    cursor c = { g->map.data, g->map.data + g->map.size, path, err };
    uint32_t magic;
    if (g->map.size < 4 || memcmp(g->map.data, "GGUF", 4) != 0) {
        rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: not a GGUF file (bad magic)", path);
        goto fail;
    }
    rd_u32(&c, &magic, "magic");
    if ((rc = rd_u32(&c, &g->version, "version"))) goto fail;
    if (g->version != 2 && g->version != 3) {
        rc = l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: GGUF version %u not supported (expected 2 or 3)", path, g->version);
        goto fail;
    }
    if ((rc = rd_u64(&c, &g->n_tensors, "tensor count")) || (rc = rd_u64(&c, &g->n_kv, "key count"))) goto fail;
    /* hardening: bound the counts by the smallest encodings before parsing anything (a size/8
     * bound let a header reserve ~20x the file's size), and grow the arrays as entries are
     * parsed, so a header that claims more than it holds costs only what it holds. */
    uint64_t min_kv, min_t, min_all;
    if (!l3_mul_ok(g->n_kv, GGUF_MIN_KV_BYTES, &min_kv) || !l3_mul_ok(g->n_tensors, GGUF_MIN_TENSOR_BYTES, &min_t) ||
        !l3_add_ok(min_kv, min_t, &min_all) || min_all > (uint64_t)(c.end - c.p)) {
        rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: truncated or corrupt header: it claims %llu keys and %llu tensors, more than the file can hold",
                     path, (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors);
        goto fail;
    }
    for (uint64_t i = 0; i < g->n_kv; i++) {
        if (grow((void **)&g->kv, &kv_cap, i + 1, g->n_kv, sizeof *g->kv)) goto oom;
        if ((rc = parse_kv(&c, &g->kv[i], i))) goto fail;
    }
    if ((rc = index_unique(g->kv, sizeof *g->kv, g->n_kv, &f->kv_sorted, "metadata key", path, err))) goto fail;

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const l3_gguf_kv *al = l3_gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != GGUF_U32 || al->v.u == 0 || (al->v.u & (al->v.u - 1)) != 0) {
            rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: general.alignment must be a power-of-two u32", path);
            goto fail;
        }
        g->alignment = al->v.u;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        if (grow((void **)&g->tensors, &t_cap, i + 1, g->n_tensors, sizeof *g->tensors)) goto oom;
        if ((rc = parse_tensor_info(&c, &g->tensors[i], i))) goto fail;
    }

    uint64_t hdr = (uint64_t)(c.p - g->map.data);
    g->data_offset = (hdr + g->alignment - 1) / g->alignment * g->alignment;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        l3_gguf_tensor *t = &g->tensors[i];
        int nlen = t->name.len > 200 ? 200 : (int)t->name.len;
        uint64_t start, end;
        if (t->offset % g->alignment != 0) {
            rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: tensor '%.*s': offset %llu not aligned to %llu", path, nlen,
                         t->name.p, (unsigned long long)t->offset, (unsigned long long)g->alignment);
            goto fail;
        }
        if (!l3_add_ok(g->data_offset, t->offset, &start) || !l3_add_ok(start, t->nbytes, &end) || end > g->map.size) {
            rc = l3_fail(err, LLAMA3_ERR_FORMAT,
                         "%s: tensor '%.*s': data (offset %llu, %llu bytes) lies beyond the end of the file (%zu bytes): truncated?",
                         path, nlen, t->name.p, (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                         g->map.size);
            goto fail;
        }
        t->data = g->map.data + start;
    }
    if ((rc = index_unique(g->tensors, sizeof *g->tensors, g->n_tensors, &f->t_sorted, "tensor", path, err)) ||
        (rc = check_overlaps(g, path, err)))
        goto fail;
    *out = g;
    return 0;
oom:
    rc = l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path);
fail:
    /* Only the first kv_cap entries exist (the rest were never allocated). */
    if (g->n_kv > kv_cap) g->n_kv = kv_cap;
    l3_gguf_close(g);
    return rc;
}

void l3_gguf_close(l3_gguf *g) {
    if (!g) return;
    gguf_full *f = (gguf_full *)(void *)g;
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++) free(g->kv[i].arr_strs);
    free(g->kv);
    free(g->tensors);
    free(f->kv_sorted);
    free(f->t_sorted);
    l3_unmap(&g->map);
    free(f);
}

bool l3_gguf_str_eq(l3_gguf_str s, const char *z) {
    size_t n = strlen(z);
    return s.len == n && memcmp(s.p, z, n) == 0;
}

/* Binary search of an index built by l3_gguf_open: the entry whose name is z, or NULL. */
static const void *find_name(const l3_gguf_str *const *idx, uint64_t n, const char *z) {
    uint64_t len = strlen(z), lo = 0, hi = idx ? n : 0;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (cmp_str(*idx[mid], z, len) < 0) lo = mid + 1;
        else hi = mid;
    }
    return idx && lo < n && cmp_str(*idx[lo], z, len) == 0 ? idx[lo] : NULL;
}

const l3_gguf_kv *l3_gguf_find(const l3_gguf *g, const char *key) {
    return find_name(full_of(g)->kv_sorted, g->n_kv, key);
}

const l3_gguf_tensor *l3_gguf_find_tensor(const l3_gguf *g, const char *name) {
    return find_name(full_of(g)->t_sorted, g->n_tensors, name);
}

static int missing(const l3_gguf *g, const char *key, bool required, llama3_error *err) {
    if (!required) return 1;
    return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: required key '%s' is missing", g->map.path, key);
}

static bool is_int_type(uint32_t t) {
    return t == GGUF_U8 || t == GGUF_I8 || t == GGUF_U16 || t == GGUF_I16 || t == GGUF_U32 ||
           t == GGUF_I32 || t == GGUF_U64 || t == GGUF_I64;
}
static bool is_signed(uint32_t t) { return t == GGUF_I8 || t == GGUF_I16 || t == GGUF_I32 || t == GGUF_I64; }

/* Returns 0 ok, 1 absent-and-optional, <0 error. */
int l3_gguf_get_u32(const l3_gguf *g, const char *key, bool required, uint32_t *out, llama3_error *err) {
    const l3_gguf_kv *kv = l3_gguf_find(g, key);
    if (!kv) return missing(g, key, required, err);
    if (!is_int_type(kv->type) || (is_signed(kv->type) && kv->v.i < 0) ||
        (!is_signed(kv->type) && kv->v.u > UINT32_MAX) || (is_signed(kv->type) && kv->v.i > (int64_t)UINT32_MAX))
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: key '%s' must be a non-negative 32-bit integer", g->map.path, key);
    *out = (uint32_t)(is_signed(kv->type) ? (uint64_t)kv->v.i : kv->v.u);
    return 0;
}

int l3_gguf_get_f32(const l3_gguf *g, const char *key, bool required, float *out, llama3_error *err) {
    const l3_gguf_kv *kv = l3_gguf_find(g, key);
    if (!kv) return missing(g, key, required, err);
    if (kv->type != GGUF_F32 && kv->type != GGUF_F64)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: key '%s' must be a float", g->map.path, key);
    *out = (float)kv->v.f;
    return 0;
}

int l3_gguf_get_bool(const l3_gguf *g, const char *key, bool required, bool *out, llama3_error *err) {
    const l3_gguf_kv *kv = l3_gguf_find(g, key);
    if (!kv) return missing(g, key, required, err);
    if (kv->type != GGUF_BOOL) return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: key '%s' must be a bool", g->map.path, key);
    *out = kv->v.u != 0;
    return 0;
}

int l3_gguf_get_str(const l3_gguf *g, const char *key, bool required, char **out, llama3_error *err) {
    const l3_gguf_kv *kv = l3_gguf_find(g, key);
    if (!kv) return missing(g, key, required, err);
    if (kv->type != GGUF_STRING || memchr(kv->s.p, 0, kv->s.len))
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: key '%s' must be a string", g->map.path, key);
    *out = malloc(kv->s.len + 1);
    if (!*out) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    memcpy(*out, kv->s.p, kv->s.len);
    (*out)[kv->s.len] = 0;
    return 0;
}

l3_gguf_str l3_gguf_arr_str(const l3_gguf_kv *kv, uint64_t i) {
    return kv->arr_strs[i];
}

int64_t l3_gguf_arr_int(const l3_gguf_kv *kv, uint64_t i) {
    l3_gguf_kv tmp;
    load_scalar(kv->arr_type, kv->arr_data + i * l3_gguf_scalar_size(kv->arr_type), &tmp);
    return is_signed(kv->arr_type) ? tmp.v.i : (int64_t)tmp.v.u;
}

double l3_gguf_arr_float(const l3_gguf_kv *kv, uint64_t i) {
    l3_gguf_kv tmp;
    load_scalar(kv->arr_type, kv->arr_data + i * l3_gguf_scalar_size(kv->arr_type), &tmp);
    if (kv->arr_type == GGUF_F32 || kv->arr_type == GGUF_F64) return tmp.v.f;
    return is_signed(kv->arr_type) ? (double)tmp.v.i : (double)tmp.v.u;
}
