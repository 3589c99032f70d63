/* GGUF v3 writer: collects keys (in insertion order; setting a key again replaces its value in
 * place) and tensors (data referenced, not copied), then writes header, tensor infos and the
 * aligned data section in one pass. general.alignment (u32, power of two) is honoured when the
 * caller sets it; otherwise 32, GGUF's default. The setters return nothing: the first problem
 * (out of memory, a tensor whose size disagrees with its type and shape, a duplicate tensor
 * name, ...) is remembered and reported by l3_gguf_write, which then writes nothing.
 * The file is written to PATH.tmp-PID and renamed, so a failed write leaves no partial file. */
#include "formats/gguf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tensor_types.h"

#define GGUF_WRITER_DEFAULT_ALIGNMENT 32

typedef struct wbuf { uint8_t *p; size_t n, cap; } wbuf;

typedef struct wkv {
    char *key;
    wbuf val;           /* the encoded value: type tag + payload, exactly as in the file */
    uint32_t type;
    uint64_t scalar;    /* GGUF_U32 value, for general.alignment */
} wkv;

typedef struct wtensor {
    char *name;
    uint32_t type, n_dims;
    int64_t ne[4];
    const void *data;
    uint64_t nbytes;
    uint64_t offset;
} wtensor;

struct l3_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    int err_code;
    char err_msg[400];
};

static void w_fail(l3_gguf_writer *w, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void w_fail(l3_gguf_writer *w, int code, const char *fmt, ...) {
    if (w->err_code) return;  /* keep the first */
    w->err_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err_msg, sizeof w->err_msg, fmt, ap);
    va_end(ap);
}

static bool buf_put(wbuf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) return false;
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
    return true;
}
static bool buf_u32(wbuf *b, uint32_t v) { return buf_put(b, &v, 4); }
static bool buf_u64(wbuf *b, uint64_t v) { return buf_put(b, &v, 8); }
static bool buf_str(wbuf *b, const char *s, size_t n) { return buf_u64(b, n) && buf_put(b, s, n); }

l3_gguf_writer *l3_gguf_writer_new(void) { return calloc(1, sizeof(l3_gguf_writer)); }

void l3_gguf_writer_free(l3_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val.p);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* The slot for key: the existing one (its value cleared) or a new one at the end. */
static wkv *slot_for(l3_gguf_writer *w, const char *key, size_t klen) {
    if (w->err_code) return NULL;
    for (size_t i = 0; i < w->n_kv; i++)
        if (strlen(w->kv[i].key) == klen && memcmp(w->kv[i].key, key, klen) == 0) {
            w->kv[i].val.n = 0;
            return &w->kv[i];
        }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 32;
        wkv *k = realloc(w->kv, cap * sizeof *k);
        if (!k) { w_fail(w, LLAMA3_ERR_MEMORY, "out of memory"); return NULL; }
        w->kv = k;
        w->cap_kv = cap;
    }
    wkv *k = &w->kv[w->n_kv];
    memset(k, 0, sizeof *k);
    k->key = malloc(klen + 1);
    if (!k->key) { w_fail(w, LLAMA3_ERR_MEMORY, "out of memory"); return NULL; }
    memcpy(k->key, key, klen);
    k->key[klen] = 0;
    w->n_kv++;
    return k;
}

static void put_scalar(l3_gguf_writer *w, const char *key, uint32_t type, const void *v, size_t size) {
    wkv *k = slot_for(w, key, strlen(key));
    if (!k) return;
    k->type = type;
    k->scalar = 0;
    memcpy(&k->scalar, v, size);  /* little-endian hosts only, like the reader */
    if (!buf_u32(&k->val, type) || !buf_put(&k->val, v, size)) w_fail(w, LLAMA3_ERR_MEMORY, "out of memory");
}

void l3_gguf_w_u32(l3_gguf_writer *w, const char *key, uint32_t v) { put_scalar(w, key, GGUF_U32, &v, 4); }
void l3_gguf_w_i32(l3_gguf_writer *w, const char *key, int32_t v) { put_scalar(w, key, GGUF_I32, &v, 4); }
void l3_gguf_w_f32(l3_gguf_writer *w, const char *key, float v) { put_scalar(w, key, GGUF_F32, &v, 4); }
void l3_gguf_w_bool(l3_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    put_scalar(w, key, GGUF_BOOL, &b, 1);
}

void l3_gguf_w_str(l3_gguf_writer *w, const char *key, const char *v) {
    wkv *k = slot_for(w, key, strlen(key));
    if (!k) return;
    k->type = GGUF_STRING;
    if (!buf_u32(&k->val, GGUF_STRING) || !buf_str(&k->val, v, strlen(v)))
        w_fail(w, LLAMA3_ERR_MEMORY, "out of memory");
}

void l3_gguf_w_arr_str(l3_gguf_writer *w, const char *key, const char *const *v, const size_t *lens, uint64_t n) {
    wkv *k = slot_for(w, key, strlen(key));
    if (!k) return;
    k->type = GGUF_ARRAY;
    bool ok = buf_u32(&k->val, GGUF_ARRAY) && buf_u32(&k->val, GGUF_STRING) && buf_u64(&k->val, n);
    for (uint64_t i = 0; ok && i < n; i++) ok = buf_str(&k->val, v[i], lens ? lens[i] : strlen(v[i]));
    if (!ok) w_fail(w, LLAMA3_ERR_MEMORY, "out of memory");
}


void l3_gguf_w_arr(l3_gguf_writer *w, const char *key, uint32_t elem_type, const void *v, uint64_t n) {
    size_t es = l3_gguf_scalar_size(elem_type);
    if (!es) {
        w_fail(w, LLAMA3_ERR_ARG, "key '%s': array element type %u is not a fixed-size scalar", key, elem_type);
        return;
    }
    wkv *k = slot_for(w, key, strlen(key));
    if (!k) return;
    k->type = GGUF_ARRAY;
    uint64_t bytes;
    if (!l3_mul_ok(n, es, &bytes) || bytes > SIZE_MAX) {
        w_fail(w, LLAMA3_ERR_ARG, "key '%s': array of %llu elements is too large", key, (unsigned long long)n);
        return;
    }
    if (!buf_u32(&k->val, GGUF_ARRAY) || !buf_u32(&k->val, elem_type) || !buf_u64(&k->val, n) ||
        !buf_put(&k->val, v, (size_t)bytes))
        w_fail(w, LLAMA3_ERR_MEMORY, "out of memory");
}

void l3_gguf_w_copy_kv(l3_gguf_writer *w, const l3_gguf_kv *kv) {
    if (w->err_code) return;
    int klen = kv->key.len > 200 ? 200 : (int)kv->key.len;
    wkv *k = slot_for(w, kv->key.p, kv->key.len);
    if (!k) return;
    k->type = kv->type;
    k->scalar = 0;
    bool ok = buf_u32(&k->val, kv->type);
    if (kv->type == GGUF_STRING) {
        ok = ok && buf_str(&k->val, kv->s.p, kv->s.len);
    } else if (kv->type == GGUF_ARRAY) {
        ok = ok && buf_u32(&k->val, kv->arr_type) && buf_u64(&k->val, kv->arr_n);
        if (kv->arr_type == GGUF_STRING) {
            for (uint64_t i = 0; ok && i < kv->arr_n; i++) {
                l3_gguf_str s = l3_gguf_arr_str(kv, i);
                ok = buf_str(&k->val, s.p, s.len);
            }
        } else {
            size_t es = l3_gguf_scalar_size(kv->arr_type);
            if (!es) {
                w_fail(w, LLAMA3_ERR_FORMAT, "key '%.*s': unsupported array element type %u", klen, kv->key.p,
                       kv->arr_type);
                return;
            }
            ok = ok && buf_put(&k->val, kv->arr_data, (size_t)(kv->arr_n * es));
        }
    } else {
        size_t es = l3_gguf_scalar_size(kv->type);
        if (!es) {
            w_fail(w, LLAMA3_ERR_FORMAT, "key '%.*s': unknown value type %u", klen, kv->key.p, kv->type);
            return;
        }
        /* Re-encode from the decoded union (little-endian: the low bytes are the value). */
        uint8_t tmp[8];
        if (kv->type == GGUF_F32) {
            float f = (float)kv->v.f;
            memcpy(tmp, &f, 4);
        } else if (kv->type == GGUF_F64) {
            memcpy(tmp, &kv->v.f, 8);
        } else {
            memcpy(tmp, &kv->v.u, 8);
        }
        ok = ok && buf_put(&k->val, tmp, es);
        memcpy(&k->scalar, tmp, es);
    }
    if (!ok) w_fail(w, LLAMA3_ERR_MEMORY, "out of memory");
}

void l3_gguf_w_tensor(l3_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                      const void *data, uint64_t nbytes) {
    if (w->err_code) return;
    if (n_dims < 1 || n_dims > 4) {
        w_fail(w, LLAMA3_ERR_ARG, "tensor '%s': %u dimensions (expected 1..4)", name, n_dims);
        return;
    }
    uint64_t nel = 1;
    for (uint32_t d = 0; d < n_dims; d++)
        if (ne[d] <= 0 || !l3_mul_ok(nel, (uint64_t)ne[d], &nel)) {
            w_fail(w, LLAMA3_ERR_ARG, "tensor '%s': invalid dimension %lld", name, (long long)ne[d]);
            return;
        }
    /* Check the size against the type where we know the type (others are copied as given). */
    const l3_type_info *ti = l3_type_get(type);
    if (ti) {
        uint64_t expect;
        if (ne[0] % ti->block != 0 || !l3_mul_ok(nel / (uint64_t)ti->block, ti->block_bytes, &expect) ||
            expect != nbytes) {
            w_fail(w, LLAMA3_ERR_ARG, "tensor '%s': %llu bytes do not match type %s and shape (%lld x ...)", name,
                   (unsigned long long)nbytes, ti->name, (long long)ne[0]);
            return;
        }
    } else if (type >= L3_TYPE_COUNT) {
        w_fail(w, LLAMA3_ERR_ARG, "tensor '%s': unknown tensor type %u", name, type);
        return;
    }
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) {
            w_fail(w, LLAMA3_ERR_ARG, "tensor '%s' added twice", name);
            return;
        }
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t) { w_fail(w, LLAMA3_ERR_MEMORY, "out of memory"); return; }
        w->t = t;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) { w_fail(w, LLAMA3_ERR_MEMORY, "out of memory"); return; }
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < 4; d++) t->ne[d] = d < (int)n_dims ? ne[d] : 1;
    t->data = data;
    t->nbytes = nbytes;
    w->n_t++;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static bool write_zeros(FILE *f, uint64_t n) {
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t k = n > sizeof zeros ? sizeof zeros : (size_t)n;
        if (fwrite(zeros, 1, k, f) != k) return false;
        n -= k;
    }
    return true;
}

/* The temporary file beside path that l3_gguf_write fills and renames (malloc'd). */
static char *tmp_name(const char *path) {
    size_t plen = strlen(path) + 32;
    char *tmp = malloc(plen);
    if (tmp) snprintf(tmp, plen, "%s.tmp-%ld", path, (long)getpid());
    return tmp;
}

int l3_gguf_check_writable(const char *path, llama3_error *err) {
    char *tmp = tmp_name(path);
    if (!tmp) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    FILE *f = fopen(tmp, "wb");
    int rc = f ? 0 : l3_fail(err, LLAMA3_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    if (f) {
        fclose(f);
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

int l3_gguf_write(l3_gguf_writer *w, const char *path, llama3_error *err) {
    if (w->err_code) return l3_fail(err, w->err_code, "%s: %s", path, w->err_msg);
    uint64_t alignment = GGUF_WRITER_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, "general.alignment")) {
            if (w->kv[i].type != GGUF_U32 || w->kv[i].scalar == 0 || (w->kv[i].scalar & (w->kv[i].scalar - 1)))
                return l3_fail(err, LLAMA3_ERR_ARG, "%s: general.alignment must be a power-of-two u32", path);
            alignment = w->kv[i].scalar;
        }

    /* Header: magic, version, counts, keys, tensor infos; offsets assigned in order. */
    wbuf h = { 0 };
    bool ok = buf_put(&h, "GGUF", 4) && buf_u32(&h, 3) && buf_u64(&h, w->n_t) && buf_u64(&h, w->n_kv);
    for (size_t i = 0; ok && i < w->n_kv; i++)
        ok = buf_str(&h, w->kv[i].key, strlen(w->kv[i].key)) && buf_put(&h, w->kv[i].val.p, w->kv[i].val.n);
    uint64_t off = 0;
    for (size_t i = 0; ok && i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        t->offset = off;
        ok = buf_str(&h, t->name, strlen(t->name)) && buf_u32(&h, t->n_dims);
        for (uint32_t d = 0; ok && d < t->n_dims; d++) ok = buf_u64(&h, (uint64_t)t->ne[d]);
        ok = ok && buf_u32(&h, t->type) && buf_u64(&h, t->offset);
        off = align_up(off + t->nbytes, alignment);
    }
    if (!ok) {
        free(h.p);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path);
    }

    char *tmp = tmp_name(path);
    if (!tmp) { free(h.p); return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int rc = l3_fail(err, LLAMA3_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        free(h.p);
        free(tmp);
        return rc;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    ok = fwrite(h.p, 1, h.n, f) == h.n && write_zeros(f, align_up(h.n, alignment) - h.n);
    for (size_t i = 0; ok && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        ok = (t->nbytes == 0 || fwrite(t->data, 1, (size_t)t->nbytes, f) == t->nbytes);
        /* Pad every tensor (the last too, as llama.cpp does) to the alignment. */
        ok = ok && write_zeros(f, align_up(t->nbytes, alignment) - t->nbytes);
    }
    int saved = errno;
    if (fclose(f) != 0 && ok) { ok = false; saved = errno; }
    free(h.p);
    if (!ok) {
        unlink(tmp);
        free(tmp);
        return l3_fail(err, LLAMA3_ERR_IO, "%s: write failed: %s", path, strerror(saved));
    }
    if (rename(tmp, path) != 0) {
        int rc = l3_fail(err, LLAMA3_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    return 0;
}
