#include "formats/safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_types.h"

/* The reference implementation refuses headers above 100 MB; so do we (it bounds the JSON
 * parser's memory before we trust anything in the file). */
#define ST_MAX_HEADER (100u * 1024 * 1024)

typedef struct { const char *name; int size; int l3type; } st_dtype;

static const st_dtype ST_DTYPES[] = {
    {"F64", 8, -1}, {"F32", 4, L3_F32}, {"F16", 2, L3_F16}, {"BF16", 2, L3_BF16},
    {"I64", 8, -1}, {"I32", 4, -1}, {"I16", 2, -1}, {"I8", 1, -1},
    {"U64", 8, -1}, {"U32", 4, -1}, {"U16", 2, -1}, {"U8", 1, -1},
    {"BOOL", 1, -1}, {"F8_E4M3", 1, -1}, {"F8_E5M2", 1, -1},
};

static const st_dtype *st_dtype_find(const char *name) {
    for (size_t i = 0; i < sizeof ST_DTYPES / sizeof ST_DTYPES[0]; i++)
        if (strcmp(ST_DTYPES[i].name, name) == 0) return &ST_DTYPES[i];
    return NULL;
}

void l3_st_close(l3_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    for (int i = 0; i < st->n_meta; i++) { free(st->meta_keys[i]); free(st->meta_vals[i]); }
    free(st->meta_keys);
    free(st->meta_vals);
    l3_unmap(&st->map);
    free(st);
}

/* A non-negative JSON integer (jansson stores integers as long long). */
static int st_get_u64(json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int st_read_metadata(l3_safetensors *st, json_t *meta, const char *path,
                            llama3_error *err) {
    if (!json_is_object(meta))
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: __metadata__ is not an object", path);
    size_t n = json_object_size(meta);
    st->meta_keys = calloc(n ? n : 1, sizeof(char *));
    st->meta_vals = calloc(n ? n : 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_vals)
        return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path);
    const char *key;
    json_t *val;
    json_object_foreach(meta, key, val) {
        if (!json_is_string(val))
            return l3_fail(err, LLAMA3_ERR_FORMAT,
                           "%s: __metadata__ value of \"%s\" is not a string", path, key);
        st->meta_keys[st->n_meta] = strdup(key);
        st->meta_vals[st->n_meta] = strdup(json_string_value(val));
        st->n_meta++;
        if (!st->meta_keys[st->n_meta - 1] || !st->meta_vals[st->n_meta - 1])
            return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path);
    }
    return 0;
}

/* One tensor entry: {"dtype": "...", "shape": [...], "data_offsets": [begin, end]}. */
static int st_read_tensor(l3_st_tensor *t, const char *name, json_t *entry, const uint8_t *data,
                          uint64_t data_size, const char *path, llama3_error *err) {
    if (!json_is_object(entry))
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: tensor %s: entry is not an object", path, name);
    json_t *jdtype = json_object_get(entry, "dtype");
    json_t *jshape = json_object_get(entry, "shape");
    json_t *joffs = json_object_get(entry, "data_offsets");
    if (!json_is_string(jdtype) || !json_is_array(jshape) || !json_is_array(joffs))
        return l3_fail(err, LLAMA3_ERR_FORMAT,
                       "%s: tensor %s: expected string dtype, array shape and array data_offsets",
                       path, name);
    const st_dtype *dt = st_dtype_find(json_string_value(jdtype));
    if (!dt)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: tensor %s: unknown dtype \"%s\"", path, name,
                       json_string_value(jdtype));
    strcpy(t->dtype, dt->name);
    t->l3type = dt->l3type;
    t->elem_size = dt->size;

    size_t nd = json_array_size(jshape);
    if (nd > L3_ST_MAX_DIMS)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: tensor %s: %zu dimensions (at most %d)", path,
                       name, nd, L3_ST_MAX_DIMS);
    t->n_dims = (int)nd;
    uint64_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        if (st_get_u64(json_array_get(jshape, i), &d) != 0 || d > INT64_MAX)
            return l3_fail(err, LLAMA3_ERR_FORMAT,
                           "%s: tensor %s: shape[%zu] is not a non-negative integer", path, name, i);
        t->shape[i] = (int64_t)d;
        if (!l3_mul_ok(numel, d, &numel))
            return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: tensor %s: shape product overflows", path, name);
    }
    uint64_t nbytes, begin, end;
    if (!l3_mul_ok(numel, (uint64_t)dt->size, &nbytes))
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: tensor %s: byte size overflows", path, name);
    if (json_array_size(joffs) != 2 || st_get_u64(json_array_get(joffs, 0), &begin) != 0 ||
        st_get_u64(json_array_get(joffs, 1), &end) != 0 || end < begin)
        return l3_fail(err, LLAMA3_ERR_FORMAT,
                       "%s: tensor %s: data_offsets must be [begin, end] with begin <= end", path, name);
    if (end > data_size)
        return l3_fail(err, LLAMA3_ERR_FORMAT,
                       "%s: tensor %s: data_offsets [%llu, %llu] outside the data section (%llu bytes)",
                       path, name, (unsigned long long)begin, (unsigned long long)end,
                       (unsigned long long)data_size);
    if (end - begin != nbytes)
        return l3_fail(err, LLAMA3_ERR_FORMAT,
                       "%s: tensor %s: data_offsets span %llu bytes, but dtype %s x shape needs %llu",
                       path, name, (unsigned long long)(end - begin), dt->name,
                       (unsigned long long)nbytes);
    t->data = data + begin;
    t->nbytes = nbytes;
    return 0;
}

static int st_cmp_by_offset(const void *a, const void *b) {
    const l3_st_tensor *x = a, *y = b;
    uintptr_t px = (uintptr_t)x->data, py = (uintptr_t)y->data;
    return px < py ? -1 : px > py;
}

static int st_cmp_by_name(const void *a, const void *b) {
    return strcmp(((const l3_st_tensor *)a)->name, ((const l3_st_tensor *)b)->name);
}

/* Spans must not overlap (empty tensors occupy nothing); checked on offset order, then the
 * tensors are kept sorted by name for lookup. */
static int st_check_overlaps(l3_safetensors *st, const char *path, llama3_error *err) {
    qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, st_cmp_by_offset);
    const l3_st_tensor *prev = NULL;
    for (int i = 0; i < st->n_tensors; i++) {
        const l3_st_tensor *t = &st->tensors[i];
        if (t->nbytes == 0) continue;
        if (prev && (const uint8_t *)prev->data + prev->nbytes > (const uint8_t *)t->data)
            return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: tensors %s and %s overlap in the data section",
                           path, prev->name, t->name);
        prev = t;
    }
    qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, st_cmp_by_name);
    return 0;
}

static int st_parse(l3_safetensors *st, const char *path, llama3_error *err) {
    const uint8_t *p = st->map.data;
    uint64_t size = st->map.size;
    if (size < 8)
        return l3_fail(err, LLAMA3_ERR_FORMAT,
                       "%s: truncated safetensors header (%llu bytes, need at least 8)", path,
                       (unsigned long long)size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > size - 8)
        return l3_fail(err, LLAMA3_ERR_FORMAT,
                       "%s: header length %llu beyond the end of the file (%llu bytes)", path,
                       (unsigned long long)hlen, (unsigned long long)size);
    if (hlen > ST_MAX_HEADER)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: header length %llu above the 100 MB limit",
                       path, (unsigned long long)hlen);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: malformed JSON header at line %d column %d: %s",
                       path, jerr.line, jerr.column, jerr.text);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: JSON header is not an object", path);
        goto done;
    }
    size_t n = json_object_size(root);
    st->tensors = calloc(n ? n : 1, sizeof *st->tensors);
    if (!st->tensors) { rc = l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path); goto done; }
    const uint8_t *data = p + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((rc = st_read_metadata(st, val, path, err)) != 0) goto done;
            continue;
        }
        l3_st_tensor *t = &st->tensors[st->n_tensors];
        if (!(t->name = strdup(key))) { rc = l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path); goto done; }
        st->n_tensors++;
        if ((rc = st_read_tensor(t, key, val, data, data_size, path, err)) != 0) goto done;
    }
    rc = st_check_overlaps(st, path, err);
done:
    json_decref(root);
    return rc;
}

int l3_st_open(const char *path, l3_safetensors **out, llama3_error *err) {
    *out = NULL;
    l3_safetensors *st = calloc(1, sizeof *st);
    if (!st) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path);
    int rc = l3_map_file(path, &st->map, err);
    if (rc == 0) rc = st_parse(st, path, err);
    if (rc != 0) { l3_st_close(st); return rc; }
    *out = st;
    return 0;
}

const l3_st_tensor *l3_st_find(const l3_safetensors *st, const char *name) {
    l3_st_tensor key = { .name = (char *)name };
    return bsearch(&key, st->tensors, (size_t)st->n_tensors, sizeof key, st_cmp_by_name);
}

const char *l3_st_meta(const l3_safetensors *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_vals[i];
    return NULL;
}

int64_t l3_st_numel(const l3_st_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
}
