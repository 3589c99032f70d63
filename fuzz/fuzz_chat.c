/* Meta's chat format with the real Llama 3 tokenizer: the input, split at NUL bytes, is a list
 * of (role, content) strings (at most 16 messages); both the whole-dialog encoder and the
 * per-message pieces are run, with the "call again with a bigger buffer" convention checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "tokenizer/tokenizer.h"

static llama3_tokenizer *g_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    g_tok = fz_llama3_tokenizer("fuzz_chat");
    return 0;
}

typedef int (*enc_fn)(const void *ctx, int32_t *ids, int cap, llama3_error *err);

/* Runs an encoder with cap 0, then with exactly the size it asked for; checks the ids. */
static void run(enc_fn fn, const void *ctx) {
    llama3_error err = { 0 };
    int n = fn(ctx, NULL, 0, &err);
    if (n < 0) {
        if (!err.msg[0]) abort();
        return;
    }
    int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (!ids) return;
    if (fn(ctx, ids, n, &err) != n) abort();
    int nv = llama3_tokenizer_n_vocab(g_tok);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= nv) abort();
    free(ids);
}

typedef struct dialog { llama3_message msgs[16]; int n; } dialog;

static int enc_dialog(const void *ctx, int32_t *ids, int cap, llama3_error *err) {
    const dialog *d = ctx;
    return llama3_chat_encode(g_tok, d->msgs, d->n, ids, cap, err);
}
static int enc_message(const void *ctx, int32_t *ids, int cap, llama3_error *err) {
    const llama3_message *m = ctx;
    return l3_chat_encode_message(g_tok, m->role, m->content, ids, cap, err);
}
static int enc_header(const void *ctx, int32_t *ids, int cap, llama3_error *err) {
    (void)ctx;
    return l3_chat_encode_assistant_header(g_tok, ids, cap, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_tok) LLVMFuzzerInitialize(NULL, NULL);
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    const char *strs[32];
    int ns = 0;
    for (char *p = buf; ns < 32;) {
        strs[ns++] = p;
        char *z = memchr(p, 0, (size_t)(buf + size - p));
        if (!z || z == buf + size) break;
        p = z + 1;
    }
    dialog d = { .n = 0 };
    for (int i = 0; i + 1 < ns; i += 2) {
        d.msgs[d.n].role = strs[i];
        d.msgs[d.n].content = strs[i + 1];
        d.n++;
    }
    run(enc_dialog, &d);
    for (int i = 0; i < d.n; i++) run(enc_message, &d.msgs[i]);
    run(enc_header, NULL);
    free(buf);
    return 0;
}
