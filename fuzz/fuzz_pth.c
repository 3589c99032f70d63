/* PyTorch checkpoints: the zip reader, the pickle machine (inputs starting with PROTO 0x80 are
 * fed to it directly, resolving storages in the tiny checkpoint's zip), l3_pth_open, and a Meta
 * folder whose consolidated.00.pth is the input (a second part after the fz_split separator
 * becomes consolidated.01.pth, exercising the shard merge). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/torch_pth.h"
#include "formats/zip.h"
#include "fuzz_common.h"

static volatile uint64_t g_sink;
static char g_meta[400];
static fz_buf g_tiny;
static l3_zip g_tiny_zip;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    snprintf(g_meta, sizeof g_meta, "%s", fz_dir("meta"));
    fz_write(g_meta, "params.json", FZ_META_PARAMS, strlen(FZ_META_PARAMS));
    fz_tiny_pth(&g_tiny);
    if (l3_zip_open(&g_tiny_zip, g_tiny.p, g_tiny.n, "tiny.pth", NULL) != 0) abort();
    return 0;
}

static void walk(const l3_pth *p) {
    for (int i = 0; i < p->n_tensors; i++) {
        const l3_pth_tensor *t = &p->tensors[i];
        if (!l3_pth_find(p, t->name)) abort();
        uint64_t numel = 1;
        for (int d = 0; d < t->n_dims; d++) numel *= (uint64_t)t->shape[d];
        if (numel * (uint64_t)t->elem_size != t->nbytes) abort();  /* the reader's promise */
        if (t->nbytes) g_sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_meta[0]) LLVMFuzzerInitialize(NULL, NULL);
    llama3_error err = { 0 };
    if (size > 0 && data[0] == 0x80) {
        l3_pth *p = calloc(1, sizeof *p);
        if (!p) return 0;
        if (l3_pth_parse_pickle(p, data, size, &g_tiny_zip, "tiny", &err) == 0) walk(p);
        else fz_check_error(&err);
        l3_pth_close(p);
        return 0;
    }
    const uint8_t *parts[2];
    size_t lens[2];
    int n = fz_split(data, size, parts, lens, 2);

    l3_zip z;
    if (l3_zip_open(&z, parts[0], lens[0], "input.pth", &err) == 0) {
        for (uint64_t i = 0; i < z.n_entries; i++) {
            const uint8_t *p;
            uint64_t len;
            if (l3_zip_find(&z, z.entries[i].name) == NULL) abort();
            if (l3_zip_entry_data(&z, &z.entries[i], &p, &len, &err) == 0 && len)
                g_sink += p[0] + p[len - 1];
        }
        l3_zip_close(&z);
    } else {
        fz_check_error(&err);
    }

    char path[600];
    snprintf(path, sizeof path, "%s", fz_write(g_meta, "consolidated.00.pth", parts[0], lens[0]));
    if (n > 1) fz_write(g_meta, "consolidated.01.pth", parts[1], lens[1]);
    else fz_unlink(g_meta, "consolidated.01.pth");
    l3_pth *p = NULL;
    memset(&err, 0, sizeof err);
    if (l3_pth_open(path, &p, &err) == 0) {
        walk(p);
        l3_pth_close(p);
    } else {
        fz_check_error(&err);
    }
    memset(&err, 0, sizeof err);
    llama3_model *m = llama3_model_load(g_meta, NULL, &err);
    if (m) {
        fz_exercise_model(m);
        llama3_model_free(m);
    } else {
        fz_check_error(&err);
    }
    return 0;
}
