/* golden_ids GOLDEN.safetensors OUT.i32: writes the golden's `tokens` (int32 [T]) as raw
 * little-endian int32, the input `llama3 perplexity --ids` takes. */
#include <stdio.h>
#include <string.h>

#include "formats/safetensors.h"

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: golden_ids GOLDEN.safetensors OUT.i32\n"); return 2; }
    l3_safetensors *st;
    llama3_error err;
    if (l3_st_open(argv[1], &st, &err)) { fprintf(stderr, "golden_ids: %s\n", err.msg); return 2; }
    const l3_st_tensor *t = l3_st_find(st, "tokens");
    int rc = 0;
    if (!t || strcmp(t->dtype, "I32") || t->n_dims != 1) {
        fprintf(stderr, "golden_ids: %s: no int32 [T] tensor 'tokens'\n", argv[1]);
        rc = 2;
    } else {
        FILE *f = fopen(argv[2], "wb");
        if (!f || fwrite(t->data, 1, t->nbytes, f) != t->nbytes || fclose(f)) {
            fprintf(stderr, "golden_ids: cannot write %s\n", argv[2]);
            rc = 2;
        } else {
            printf("%s: %lld tokens\n", argv[2], (long long)t->shape[0]);
        }
    }
    l3_st_close(st);
    return rc;
}
