/* GGUF writer round trips.
 *   test_gguf_writer roundtrip OUTDIR          every key kind + tensors, read back, compared
 *   test_gguf_writer rewrite FIXTURE.gguf OUTDIR  copy a llama.cpp file key by key and tensor
 *                                              by tensor: same keys, byte-identical data
 *   test_gguf_writer errors OUTDIR             bad input is refused and leaves no file */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "tensor_types.h"

#include "check.h"

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Two keys are equal when type, value and (for arrays) every element match. */
static int kv_equal(const l3_gguf_kv *a, const l3_gguf_kv *b) {
    if (a->key.len != b->key.len || memcmp(a->key.p, b->key.p, a->key.len)) return 0;
    if (a->type != b->type) return 0;
    if (a->type == GGUF_STRING) return a->s.len == b->s.len && !memcmp(a->s.p, b->s.p, a->s.len);
    if (a->type == GGUF_ARRAY) {
        if (a->arr_type != b->arr_type || a->arr_n != b->arr_n) return 0;
        for (uint64_t i = 0; i < a->arr_n; i++) {
            if (a->arr_type == GGUF_STRING) {
                l3_gguf_str x = l3_gguf_arr_str(a, i), y = l3_gguf_arr_str(b, i);
                if (x.len != y.len || memcmp(x.p, y.p, x.len)) return 0;
            } else if (a->arr_type == GGUF_F32 || a->arr_type == GGUF_F64) {
                double x = l3_gguf_arr_float(a, i), y = l3_gguf_arr_float(b, i);
                if (memcmp(&x, &y, sizeof x)) return 0;
            } else if (l3_gguf_arr_int(a, i) != l3_gguf_arr_int(b, i)) {
                return 0;
            }
        }
        return 1;
    }
    return memcmp(&a->v, &b->v, sizeof a->v) == 0;
}

static int roundtrip(const char *outdir) {
    char *path = join(outdir, "writer_roundtrip.gguf");
    l3_gguf_writer *w = l3_gguf_writer_new();
    l3_gguf_w_str(w, "general.architecture", "llama");
    l3_gguf_w_u32(w, "a.u32", 7);
    l3_gguf_w_i32(w, "a.i32", -123456);
    l3_gguf_w_f32(w, "a.f32", 1e-5f);
    l3_gguf_w_bool(w, "a.bool", true);
    l3_gguf_w_u32(w, "a.replaced", 1);
    const char *strs[] = { "hello", "", "wi\0th nul", "\xc4\xa0 unicode" };
    size_t lens[] = { 5, 0, 9, 10 };
    l3_gguf_w_arr_str(w, "a.strs", strs, lens, 4);
    const char *strs2[] = { "x", "yy" };
    l3_gguf_w_arr_str(w, "a.strs_z", strs2, NULL, 2);
    int32_t ints[5] = { 1, -2, 3, -4, 2147483647 };
    l3_gguf_w_arr(w, "a.ints", GGUF_I32, ints, 5);
    float fl[3] = { 0.5f, -1.25f, 3e10f };
    l3_gguf_w_arr(w, "a.floats", GGUF_F32, fl, 3);
    uint8_t bytes[3] = { 0, 255, 7 };
    l3_gguf_w_arr(w, "a.u8", GGUF_U8, bytes, 3);
    l3_gguf_w_arr(w, "a.empty", GGUF_I32, NULL, 0);
    l3_gguf_w_u32(w, "a.replaced", 42);  /* replaced in place: stays 6th */
    l3_gguf_w_u32(w, "general.alignment", 64);

    /* tensors: f32 [5] (odd size: padding), f16 [3 x 2], q8_0 [64 x 3] */
    float t0[5] = { 1, 2, 3, 4, 5 };
    int64_t ne0[1] = { 5 };
    l3_gguf_w_tensor(w, "t.f32", L3_F32, 1, ne0, t0, sizeof t0);
    uint16_t t1[6];
    for (int i = 0; i < 6; i++) t1[i] = l3_f32_to_f16((float)i * 0.25f);
    int64_t ne1[2] = { 3, 2 };
    l3_gguf_w_tensor(w, "t.f16", L3_F16, 2, ne1, t1, sizeof t1);
    float src[192];
    for (int i = 0; i < 192; i++) src[i] = sinf((float)i);
    size_t qb = l3_row_bytes(L3_Q8_0, 64) * 3;
    void *t2 = malloc(qb);
    l3_type_get(L3_Q8_0)->from_float(src, t2, 192);
    int64_t ne2[2] = { 64, 3 };
    l3_gguf_w_tensor(w, "t.q8_0", L3_Q8_0, 2, ne2, t2, qb);

    llama3_error err = { 0 };
    int rc = l3_gguf_write(w, path, &err);
    CHECK(rc == 0, "write: %s", err.msg);
    l3_gguf_writer_free(w);

    l3_gguf *g = NULL;
    rc = l3_gguf_open(path, &g, &err);
    CHECK(rc == 0, "open: %s", err.msg);
    if (rc) return 1;
    CHECK(g->version == 3, "version %u", g->version);
    CHECK(g->alignment == 64, "alignment %llu", (unsigned long long)g->alignment);
    CHECK(g->n_kv == 13, "n_kv %llu", (unsigned long long)g->n_kv);
    const char *order[] = { "general.architecture", "a.u32", "a.i32", "a.f32", "a.bool", "a.replaced", "a.strs",
                            "a.strs_z", "a.ints", "a.floats", "a.u8", "a.empty", "general.alignment" };
    for (uint64_t i = 0; i < g->n_kv && i < 13; i++)
        CHECK(l3_gguf_str_eq(g->kv[i].key, order[i]), "key %llu is '%.*s', expected %s", (unsigned long long)i,
              (int)g->kv[i].key.len, g->kv[i].key.p, order[i]);
    uint32_t u = 0;
    float f = 0;
    bool b = false;
    char *s = NULL;
    CHECK(l3_gguf_get_u32(g, "a.u32", true, &u, &err) == 0 && u == 7, "a.u32");
    CHECK(l3_gguf_get_u32(g, "a.replaced", true, &u, &err) == 0 && u == 42, "a.replaced");
    CHECK(l3_gguf_find(g, "a.i32")->type == GGUF_I32 && l3_gguf_find(g, "a.i32")->v.i == -123456, "a.i32");
    CHECK(l3_gguf_get_f32(g, "a.f32", true, &f, &err) == 0 && f == 1e-5f, "a.f32");
    CHECK(l3_gguf_get_bool(g, "a.bool", true, &b, &err) == 0 && b, "a.bool");
    CHECK(l3_gguf_get_str(g, "general.architecture", true, &s, &err) == 0 && !strcmp(s, "llama"), "arch");
    free(s);
    const l3_gguf_kv *kv = l3_gguf_find(g, "a.strs");
    CHECK(kv && kv->type == GGUF_ARRAY && kv->arr_type == GGUF_STRING && kv->arr_n == 4, "a.strs shape");
    for (int i = 0; kv && i < 4; i++) {
        l3_gguf_str x = l3_gguf_arr_str(kv, (uint64_t)i);
        CHECK(x.len == lens[i] && !memcmp(x.p, strs[i], lens[i]), "a.strs[%d]", i);
    }
    kv = l3_gguf_find(g, "a.strs_z");
    CHECK(kv && kv->arr_n == 2 && l3_gguf_arr_str(kv, 1).len == 2, "a.strs_z");
    kv = l3_gguf_find(g, "a.ints");
    CHECK(kv && kv->arr_type == GGUF_I32 && kv->arr_n == 5, "a.ints shape");
    for (int i = 0; kv && i < 5; i++) CHECK(l3_gguf_arr_int(kv, (uint64_t)i) == ints[i], "a.ints[%d]", i);
    kv = l3_gguf_find(g, "a.floats");
    for (int i = 0; kv && i < 3; i++) CHECK(l3_gguf_arr_float(kv, (uint64_t)i) == fl[i], "a.floats[%d]", i);
    kv = l3_gguf_find(g, "a.u8");
    CHECK(kv && kv->arr_type == GGUF_U8 && l3_gguf_arr_int(kv, 1) == 255, "a.u8");
    kv = l3_gguf_find(g, "a.empty");
    CHECK(kv && kv->arr_n == 0, "a.empty");

    CHECK(g->n_tensors == 3, "n_tensors %llu", (unsigned long long)g->n_tensors);
    const l3_gguf_tensor *t = l3_gguf_find_tensor(g, "t.f32");
    CHECK(t && t->n_dims == 1 && t->ne[0] == 5 && t->type == L3_F32 && !memcmp(t->data, t0, sizeof t0), "t.f32");
    t = l3_gguf_find_tensor(g, "t.f16");
    CHECK(t && t->n_dims == 2 && t->ne[0] == 3 && t->ne[1] == 2 && !memcmp(t->data, t1, sizeof t1), "t.f16");
    t = l3_gguf_find_tensor(g, "t.q8_0");
    CHECK(t && t->type == L3_Q8_0 && t->ne[0] == 64 && t->ne[1] == 3 && t->nbytes == qb && !memcmp(t->data, t2, qb),
          "t.q8_0");
    for (uint64_t i = 0; i < g->n_tensors; i++)
        CHECK(((uintptr_t)g->tensors[i].data - (uintptr_t)g->map.data) % 64 == 0, "tensor %llu not aligned",
              (unsigned long long)i);

    /* copy_kv of every kind of key (bool, i32, f32, string arrays, empty array, ...) */
    char *path2 = join(outdir, "writer_roundtrip_copy.gguf");
    w = l3_gguf_writer_new();
    for (uint64_t i = 0; i < g->n_kv; i++) l3_gguf_w_copy_kv(w, &g->kv[i]);
    CHECK(l3_gguf_write(w, path2, &err) == 0, "copy write: %s", err.msg);
    l3_gguf_writer_free(w);
    l3_gguf *g2 = NULL;
    CHECK(l3_gguf_open(path2, &g2, &err) == 0, "copy open: %s", err.msg);
    if (g2) {
        CHECK(g2->n_kv == g->n_kv, "copy n_kv");
        for (uint64_t i = 0; i < g->n_kv && i < g2->n_kv; i++)
            CHECK(kv_equal(&g->kv[i], &g2->kv[i]), "copied key #%llu '%.*s' differs", (unsigned long long)i,
                  (int)g->kv[i].key.len, g->kv[i].key.p);
        l3_gguf_close(g2);
    }
    unlink(path2);
    free(path2);
    l3_gguf_close(g);
    free(t2);
    unlink(path);
    free(path);
    return 0;
}

static int rewrite(const char *fixture, const char *outdir) {
    char *path = join(outdir, "writer_rewrite.gguf");
    l3_gguf *src = NULL, *dst = NULL;
    llama3_error err = { 0 };
    if (l3_gguf_open(fixture, &src, &err)) {
        fprintf(stderr, "cannot open fixture: %s\n", err.msg);
        return 1;
    }
    l3_gguf_writer *w = l3_gguf_writer_new();
    for (uint64_t i = 0; i < src->n_kv; i++) l3_gguf_w_copy_kv(w, &src->kv[i]);
    for (uint64_t i = 0; i < src->n_tensors; i++) {
        const l3_gguf_tensor *t = &src->tensors[i];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.p);
        l3_gguf_w_tensor(w, name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    int rc = l3_gguf_write(w, path, &err);
    CHECK(rc == 0, "write: %s", err.msg);
    l3_gguf_writer_free(w);
    rc = l3_gguf_open(path, &dst, &err);
    CHECK(rc == 0, "reopen: %s", err.msg);
    if (rc) { l3_gguf_close(src); return 1; }
    CHECK(dst->n_kv == src->n_kv, "n_kv %llu vs %llu", (unsigned long long)dst->n_kv, (unsigned long long)src->n_kv);
    CHECK(dst->n_tensors == src->n_tensors, "n_tensors");
    CHECK(dst->alignment == src->alignment, "alignment");
    for (uint64_t i = 0; i < src->n_kv && i < dst->n_kv; i++)
        CHECK(kv_equal(&src->kv[i], &dst->kv[i]), "key #%llu '%.*s' differs", (unsigned long long)i,
              (int)src->kv[i].key.len, src->kv[i].key.p);
    for (uint64_t i = 0; i < src->n_tensors && i < dst->n_tensors; i++) {
        const l3_gguf_tensor *a = &src->tensors[i], *b = &dst->tensors[i];
        CHECK(a->name.len == b->name.len && !memcmp(a->name.p, b->name.p, a->name.len), "tensor #%llu name",
              (unsigned long long)i);
        CHECK(a->type == b->type && a->n_dims == b->n_dims && !memcmp(a->ne, b->ne, sizeof a->ne), "tensor '%.*s' shape",
              (int)a->name.len, a->name.p);
        CHECK(a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes), "tensor '%.*s' data",
              (int)a->name.len, a->name.p);
    }
    /* Same layout rules as llama.cpp's writer: the whole file comes out byte-identical. */
    CHECK(src->map.size == dst->map.size && !memcmp(src->map.data, dst->map.data, src->map.size),
          "file not byte-identical (%zu vs %zu bytes)", src->map.size, dst->map.size);
    l3_gguf_close(src);
    l3_gguf_close(dst);
    unlink(path);
    free(path);
    return 0;
}

static int errors(const char *outdir) {
    char *path = join(outdir, "writer_errors.gguf");
    unlink(path);
    llama3_error err = { 0 };
    /* size that does not match the type */
    l3_gguf_writer *w = l3_gguf_writer_new();
    float x[32] = { 0 };
    int64_t ne[1] = { 32 };
    l3_gguf_w_tensor(w, "bad", L3_Q8_0, 1, ne, x, sizeof x);
    CHECK(l3_gguf_write(w, path, &err) == LLAMA3_ERR_ARG && strstr(err.msg, "bad"), "size mismatch: %s", err.msg);
    CHECK(access(path, F_OK) != 0, "file left behind");
    l3_gguf_writer_free(w);
    /* duplicate tensor */
    w = l3_gguf_writer_new();
    l3_gguf_w_tensor(w, "t", L3_F32, 1, ne, x, sizeof x);
    l3_gguf_w_tensor(w, "t", L3_F32, 1, ne, x, sizeof x);
    CHECK(l3_gguf_write(w, path, &err) != 0 && strstr(err.msg, "twice"), "duplicate: %s", err.msg);
    l3_gguf_writer_free(w);
    /* bad alignment */
    w = l3_gguf_writer_new();
    l3_gguf_w_u32(w, "general.alignment", 24);
    CHECK(l3_gguf_write(w, path, &err) != 0 && strstr(err.msg, "alignment"), "alignment: %s", err.msg);
    l3_gguf_writer_free(w);
    /* unwritable path */
    w = l3_gguf_writer_new();
    CHECK(l3_gguf_write(w, "/nonexistent-dir/x.gguf", &err) == LLAMA3_ERR_IO, "io: %s", err.msg);
    l3_gguf_writer_free(w);
    /* an empty writer makes a valid empty file */
    w = l3_gguf_writer_new();
    CHECK(l3_gguf_write(w, path, &err) == 0, "empty: %s", err.msg);
    l3_gguf_writer_free(w);
    l3_gguf *g = NULL;
    CHECK(l3_gguf_open(path, &g, &err) == 0 && g->n_kv == 0 && g->n_tensors == 0, "empty reopen: %s", err.msg);
    l3_gguf_close(g);
    unlink(path);
    free(path);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "roundtrip")) roundtrip(argv[2]);
    else if (argc == 4 && !strcmp(argv[1], "rewrite")) rewrite(argv[2], argv[3]);
    else if (argc == 3 && !strcmp(argv[1], "errors")) errors(argv[2]);
    else {
        fprintf(stderr, "usage: test_gguf_writer roundtrip DIR | rewrite FILE DIR | errors DIR\n");
        return 2;
    }
    if (check_failures) fprintf(stderr, "%d check(s) failed\n", check_failures);
    else printf("ok\n");
    return check_failures ? 1 : 0;
}
