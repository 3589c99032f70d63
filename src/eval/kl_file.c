/* Reading and writing the --kl-base file (layout in llama3_tools.h). */
#include "llama3_tools.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

static const char MAGIC[8] = { 'L', '3', 'K', 'L', 'B', 'A', 'S', 'E' };
#define KL_HEADER_BYTES 32

int llama3_kl_write_begin(FILE *f, const llama3_kl_header *h, const int32_t *tokens, const char *path, llama3_error *err) {
    uint32_t w[6] = { 1, h->n_vocab, h->n_ctx, h->n_tokens, h->n_pos, 0 };
    if (fwrite(MAGIC, 1, 8, f) != 8 || fwrite(w, 4, 6, f) != 6 ||
        fwrite(tokens, 4, h->n_tokens, f) != h->n_tokens)
        return l3_fail(err, LLAMA3_ERR_IO, "%s: write failed", path);
    return 0;
}

int llama3_kl_write_row(FILE *f, const float *logprob, uint32_t n_vocab, const char *path, llama3_error *err) {
    if (fwrite(logprob, 4, n_vocab, f) != n_vocab) return l3_fail(err, LLAMA3_ERR_IO, "%s: write failed", path);
    return 0;
}

int llama3_kl_read_begin(FILE *f, llama3_kl_header *h, int32_t **tokens, const char *path, llama3_error *err) {
    char magic[8];
    uint32_t r[6];
    *tokens = NULL;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, MAGIC, 8) || fread(r, 4, 6, f) != 6)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: not a llama3 --kl-base file (bad magic)", path);
    if (r[0] != 1) return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: --kl-base file version %u (expected 1)", path, r[0]);
    h->n_vocab = r[1];
    h->n_ctx = r[2];
    h->n_tokens = r[3];
    h->n_pos = r[4];
    struct stat st;
    uint64_t rows, need;
    if (fstat(fileno(f), &st) || h->n_vocab == 0 || h->n_ctx < 2 || h->n_tokens < h->n_ctx ||
        !l3_mul_ok((uint64_t)h->n_pos, (uint64_t)h->n_vocab * 4, &rows) ||
        !l3_add_ok(rows, KL_HEADER_BYTES + 4ull * h->n_tokens, &need) || (uint64_t)st.st_size != need)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: header (vocab %u, ctx %u, %u tokens, %u positions) does not match the file size",
                       path, h->n_vocab, h->n_ctx, h->n_tokens, h->n_pos);
    *tokens = malloc((size_t)h->n_tokens * 4);
    if (!*tokens) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    if (fread(*tokens, 4, h->n_tokens, f) != h->n_tokens) {
        free(*tokens);
        *tokens = NULL;
        return l3_fail(err, LLAMA3_ERR_IO, "%s: read failed", path);
    }
    return 0;
}

int llama3_kl_read_row(FILE *f, float *logprob, uint32_t n_vocab, const char *path, llama3_error *err) {
    if (fread(logprob, 4, n_vocab, f) != n_vocab) return l3_fail(err, LLAMA3_ERR_IO, "%s: truncated", path);
    return 0;
}
