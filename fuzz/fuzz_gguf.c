/* GGUF: the header reader, the model loader (weights description + tokenizer from metadata),
 * a one-token forward pass for tiny shapes, and the tokenizer-only loader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "fuzz_common.h"

static volatile uint64_t g_sink;

static void touch(const void *p, uint64_t n) {
    const uint8_t *b = p;
    if (n) g_sink += b[0] + b[n - 1];
}

static void walk(const l3_gguf *g) {
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const l3_gguf_kv *kv = &g->kv[i];
        touch(kv->key.p, kv->key.len);
        if (kv->type == GGUF_STRING) touch(kv->s.p, kv->s.len);
        if (kv->type != GGUF_ARRAY) continue;
        for (uint64_t k = 0; k < kv->arr_n; k++) {
            if (kv->arr_type == GGUF_STRING) {
                l3_gguf_str s = l3_gguf_arr_str(kv, k);
                touch(s.p, s.len);
            } else if (kv->arr_type == GGUF_F32 || kv->arr_type == GGUF_F64) {
                g_sink += (uint64_t)(l3_gguf_arr_float(kv, k) != 0);
            } else {
                g_sink += (uint64_t)l3_gguf_arr_int(kv, k);
            }
        }
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const l3_gguf_tensor *t = &g->tensors[i];
        touch(t->name.p, t->name.len);
        touch(t->data, t->nbytes);
    }
    static const char *const keys[] = {
        "general.architecture", "llama.embedding_length", "llama.block_count", "llama.context_length",
        "llama.attention.layer_norm_rms_epsilon", "tokenizer.ggml.model", "tokenizer.chat_template",
        "general.alignment", "tokenizer.ggml.add_space_prefix",
    };
    llama3_error err;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        uint32_t u;
        float f;
        bool b;
        char *s = NULL;
        (void)l3_gguf_get_u32(g, keys[i], false, &u, &err);
        (void)l3_gguf_get_f32(g, keys[i], true, &f, &err);
        (void)l3_gguf_get_bool(g, keys[i], false, &b, &err);
        if (l3_gguf_get_str(g, keys[i], false, &s, &err) == 0) free(s);
    }
    (void)l3_gguf_find_tensor(g, "token_embd.weight");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[600];
    snprintf(path, sizeof path, "%s", fz_write(fz_scratch(), "input.gguf", data, size));
    llama3_error err = { 0 };
    l3_gguf *g = NULL;
    if (l3_gguf_open(path, &g, &err) == 0) {
        walk(g);
        l3_gguf_close(g);
    } else {
        fz_check_error(&err);
        if (size >= 4 && memcmp(data, "GGUF", 4) != 0) return 0;  /* nothing more will open it */
    }
    memset(&err, 0, sizeof err);
    llama3_model *m = llama3_model_load(path, NULL, &err);
    if (m) {
        fz_exercise_model(m);
        llama3_tokenizer *t = llama3_model_tokenizer(m);
        if (t) fz_exercise_tokenizer(t);
        llama3_model_free(m);
    } else {
        fz_check_error(&err);
    }
    memset(&err, 0, sizeof err);
    llama3_tokenizer *t = llama3_tokenizer_load(path, &err);
    if (t) {
        fz_exercise_tokenizer(t);
        llama3_tokenizer_free(t);
    } else {
        fz_check_error(&err);
    }
    return 0;
}
