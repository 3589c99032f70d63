/* llama3 quantize: re-encode the weights of a GGUF file. */
#include <string.h>

#include "cli.h"

static const char *QUANTIZE_HELP =
    "usage: llama3 quantize IN.gguf OUT.gguf TYPE [-v]\n"
    "\n"
    "Re-encodes every 2-D weight of IN.gguf as TYPE with ggml's reference quantizers (the\n"
    "bytes llama-quantize writes), copies all metadata and updates general.file_type.\n"
    "Norms and other 1-D tensors are copied unchanged.\n"
    "\n"
    "  TYPE          f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k: every matrix,\n"
    "                token_embd and output included (llama-quantize --pure); or a mix,\n"
    "                q4_k_s, q4_k_m, q5_k_s, q5_k_m, with llama-quantize's per-tensor choices\n"
    "                (output q6_k, more bits for some attn_v / ffn_down layers). Rows a block\n"
    "                type cannot divide fall back as llama.cpp does (q4_k -> q5_0, q6_k -> q8_0,\n"
    "                ..., then f16)\n"
    "  -v, --verbose print each tensor's old and new type (instead of the progress line)\n"
    "  --quiet       no progress line (on a terminal a line redrawn in place; otherwise a line\n"
    "                per 10%)\n"
    "  -h, --help    this help\n";

int cmd_quantize(int argc, char **argv) {
    const char *cmd = "quantize", *pos[3] = { NULL, NULL, NULL };
    int n_pos = 0;
    llama3_convert_options o = { 0 };
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(QUANTIZE_HELP, stdout); return 0; }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) { o.verbose = true; continue; }
        if (!strcmp(a, "--quiet")) { quiet = true; continue; }
        if ((a[0] == '-' && a[1]) || n_pos == 3) return cli_unknown(cmd, a);
        pos[n_pos++] = a;
    }
    if (n_pos != 3) return cli_error(cmd, "need IN.gguf OUT.gguf TYPE (see llama3 quantize --help)");
    o.type = pos[2];
    llama3_error err = { 0 };
    cli_progress pr;
    cli_progress_init(&pr, cmd, true, quiet || o.verbose);
    o.progress = cli_progress_cb;
    o.progress_data = &pr;
    int rc = llama3_quantize(pos[0], pos[1], &o, &err);
    cli_progress_end(&pr);
    if (rc) return cli_error(cmd, "%s", err.msg);
    fprintf(stderr, "llama3 quantize: wrote %s\n", pos[1]);
    return 0;
}
