/* Tokenizer files: Meta's tokenizer.model (tiktoken text), Hugging Face tokenizer.json (with an
 * optional tokenizer_config.json: the part after the fz_split separator) and GGUF vocabularies,
 * through llama3_tokenizer_load, which detects the format from the content. A tokenizer that
 * loads is exercised (encode, decode, streaming detokenizer, chat). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static char g_dir[400];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_dir[0]) snprintf(g_dir, sizeof g_dir, "%s", fz_dir("tok"));
    const uint8_t *parts[2];
    size_t lens[2];
    int n = fz_split(data, size, parts, lens, 2);
    char path[600];
    snprintf(path, sizeof path, "%s", fz_write(g_dir, "tokenizer.input", parts[0], lens[0]));
    if (n > 1) fz_write(g_dir, "tokenizer_config.json", parts[1], lens[1]);
    else fz_unlink(g_dir, "tokenizer_config.json");
    llama3_error err = { 0 };
    llama3_tokenizer *t = llama3_tokenizer_load(path, &err);
    if (!t) {
        if (err.code >= 0 || !err.msg[0] || strchr(err.msg, '\n')) abort();
        return 0;
    }
    fz_exercise_tokenizer(t);
    llama3_tokenizer_free(t);
    return 0;
}
