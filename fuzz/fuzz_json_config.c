/* config.json / params.json: the typed JSON readers, then a Hugging Face folder and a Meta
 * folder whose configuration is the input (their weights are a valid tiny model). An optional
 * second part (after the fz_split separator) becomes the HF folder's generation_config.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/json_config.h"
#include "fuzz_common.h"

static char g_hf[400], g_meta[400];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    fz_buf b = { 0 };
    snprintf(g_hf, sizeof g_hf, "%s", fz_dir("hf"));
    fz_tiny_safetensors(&b, -1);
    fz_write(g_hf, "model.safetensors", b.p, b.n);
    fz_free(&b);
    snprintf(g_meta, sizeof g_meta, "%s", fz_dir("meta"));
    fz_tiny_pth(&b);
    fz_write(g_meta, "consolidated.00.pth", b.p, b.n);
    fz_free(&b);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_hf[0]) LLVMFuzzerInitialize(NULL, NULL);
    const uint8_t *parts[2];
    size_t lens[2];
    int n = fz_split(data, size, parts, lens, 2);

    char path[600];
    snprintf(path, sizeof path, "%s", fz_write(g_hf, "config.json", parts[0], lens[0]));
    json_t *root = NULL;
    llama3_error err = { 0 };
    if (l3_json_load(path, &root, &err) == 0) {
        static const char *const keys[] = { "hidden_size", "vocab_size", "rope_theta", "dim", "norm_eps",
                                            "tie_word_embeddings", "use_scaled_rope", "rope_scaling", "nope" };
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            int iv;
            float fv;
            bool bv;
            (void)l3_json_int(root, keys[i], i % 2, &iv, path, &err);
            (void)l3_json_float(root, keys[i], i % 3 == 0, &fv, path, &err);
            (void)l3_json_bool(root, keys[i], false, &bv, path, &err);
        }
        json_decref(root);
    } else {
        fz_check_error(&err);
    }
    if (n > 1) fz_write(g_hf, "generation_config.json", parts[1], lens[1]);
    else fz_unlink(g_hf, "generation_config.json");
    fz_load_model(g_hf);
    fz_write(g_meta, "params.json", parts[0], lens[0]);
    fz_load_model(g_meta);
    return 0;
}
