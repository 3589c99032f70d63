/* llama3 convert: any model the loader reads -> a GGUF file llama.cpp can run. */
#include <string.h>

#include "cli.h"

static const char *CONVERT_HELP =
    "usage: llama3 convert IN OUT.gguf [--type TYPE] [options]\n"
    "\n"
    "Writes IN (a GGUF file, Hugging Face folder or Meta folder) as GGUF v3 with the keys,\n"
    "tensor names and layout of llama.cpp's convert_hf_to_gguf.py for a Llama 3 model.\n"
    "Hugging Face q/k weights are permuted back to Meta's interleaved RoPE order; Llama 3.1\n"
    "scaling is stored as rope_freqs.weight; 1-D tensors (norms) are always f32.\n"
    "\n"
    "  --type TYPE       f32, f16, bf16 (default), q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k,\n"
    "                    q6_k, or the mixes q4_k_s, q4_k_m, q5_k_s, q5_k_m. A single type applies\n"
    "                    to every matrix, token_embd and output included (llama-quantize --pure);\n"
    "                    mixes follow llama-quantize's per-tensor rules\n"
    "  --name NAME       general.name (default: the source GGUF's, else IN's file name)\n"
    "  --vocab PATH      tokenizer to embed when IN has none: tokenizer.model, tokenizer.json or\n"
    "                    a GGUF file; a larger vocabulary is cut to the model's vocab_size\n"
    "  -v, --verbose     print each tensor's name, type and shape\n"
    "  -h, --help        this help\n";

int cmd_convert(int argc, char **argv) {
    const char *cmd = "convert", *pos[2] = { NULL, NULL };
    int n_pos = 0;
    llama3_convert_options o = { .type = "bf16" };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(CONVERT_HELP, stdout); return 0; }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) { o.verbose = true; continue; }
        if (a[0] == '-' && a[1]) {
            if (strcmp(a, "--type") && strcmp(a, "--name") && strcmp(a, "--vocab"))
                return cli_error(cmd, "unknown option '%s' (see llama3 convert --help)", a);
            if (!(v = cli_value(argc, argv, &i, cmd))) return 1;
            if (!strcmp(a, "--type")) o.type = v;
            else if (!strcmp(a, "--name")) o.name = v;
            else o.vocab_path = v;
            continue;
        }
        if (n_pos == 2) return cli_error(cmd, "unexpected argument '%s' (see llama3 convert --help)", a);
        pos[n_pos++] = a;
    }
    if (n_pos != 2) return cli_error(cmd, "need IN and OUT.gguf (see llama3 convert --help)");
    llama3_error err = { 0 };
    if (llama3_convert(pos[0], pos[1], &o, &err)) return cli_error(cmd, "%s", err.msg);
    fprintf(stderr, "llama3 convert: wrote %s\n", pos[1]);
    return 0;
}
