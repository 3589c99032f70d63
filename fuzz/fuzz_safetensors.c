/* safetensors: the file reader alone, a Hugging Face folder whose model.safetensors is the
 * input (with a valid tiny config.json), and, for inputs starting with '{', a sharded folder
 * whose model.safetensors.index.json is the input (with two valid tiny shards). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "fuzz_common.h"

static volatile uint64_t g_sink;
static char g_single[400], g_sharded[400];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    snprintf(g_single, sizeof g_single, "%s", fz_dir("hf_single"));
    fz_write(g_single, "config.json", FZ_HF_CONFIG, strlen(FZ_HF_CONFIG));
    snprintf(g_sharded, sizeof g_sharded, "%s", fz_dir("hf_sharded"));
    fz_write(g_sharded, "config.json", FZ_HF_CONFIG, strlen(FZ_HF_CONFIG));
    for (int s = 0; s < 2; s++) {
        fz_buf b = { 0 };
        fz_tiny_safetensors(&b, s);
        fz_write(g_sharded, FZ_HF_SHARD_NAMES[s], b.p, b.n);
        fz_free(&b);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_single[0]) LLVMFuzzerInitialize(NULL, NULL);
    if (size > 0 && data[0] == '{') {
        fz_write(g_sharded, "model.safetensors.index.json", data, size);
        fz_load_model(g_sharded);
        return 0;
    }
    char path[600];
    snprintf(path, sizeof path, "%s", fz_write(g_single, "model.safetensors", data, size));
    llama3_error err = { 0 };
    l3_safetensors *st = NULL;
    if (l3_st_open(path, &st, &err) != 0) {
        fz_check_error(&err);
        return 0;
    }
    for (int i = 0; i < st->n_tensors; i++) {
        const l3_st_tensor *t = &st->tensors[i];
        if (l3_st_find(st, t->name) == NULL) abort();
        int64_t n = l3_st_numel(t);
        if ((uint64_t)n * (uint64_t)t->elem_size != t->nbytes) abort();  /* the reader's promise */
        if (t->nbytes) g_sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    for (int i = 0; i < st->n_meta; i++) g_sink += strlen(l3_st_meta(st, st->meta_keys[i]));
    l3_st_close(st);
    fz_load_model(g_single);
    return 0;
}
