/* llama3 convert: any model the loader reads -> a GGUF file llama.cpp can run. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *CONVERT_HELP =
    "usage: llama3 convert IN OUT.gguf [--type TYPE] [options]\n"
    "(IN may be hf:OWNER/NAME[:QUANT], downloaded first: see llama3 pull --help)\n"
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
    "  -v, --verbose     print each tensor's name, type and shape (instead of the progress line)\n"
    "  --quiet           no progress line (on a terminal a line redrawn in place; otherwise a\n"
    "                    line per 10%)\n"
    "  -h, --help        this help\n";

enum { C_HELP = 1, C_VERBOSE, C_QUIET, C_TYPE, C_NAME, C_VOCAB };
static const cli_opt CONVERT_OPTS[] = {
    { C_HELP, "-h|--help", CLI_FLAG, NULL },
    { C_VERBOSE, "-v|--verbose", CLI_FLAG, NULL },
    { C_QUIET, "--quiet", CLI_FLAG, NULL },
    { C_TYPE, "--type", CLI_VALUE, NULL },
    { C_NAME, "--name", CLI_VALUE, NULL },
    { C_VOCAB, "--vocab", CLI_VALUE, NULL },
    { 0, NULL, 0, NULL },
};

int cmd_convert(int argc, char **argv) {
    const char *cmd = "convert", *pos[2] = { NULL, NULL };
    int n_pos = 0;
    llama3_convert_options o = { .type = "bf16" };
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        switch (cli_match(CONVERT_OPTS, argc, argv, &i, &v, cmd)) {
        case -1: return 1;
        case C_HELP: fputs(CONVERT_HELP, stdout); return 0;
        case C_VERBOSE: o.verbose = true; break;
        case C_QUIET: quiet = true; break;
        case C_TYPE: o.type = v; break;
        case C_NAME: o.name = v; break;
        case C_VOCAB: o.vocab_path = v; break;
        default:
            if ((a[0] == '-' && a[1]) || n_pos == 2) return cli_unknown(cmd, a);
            pos[n_pos++] = a;
        }
    }
    if (n_pos != 2) return cli_error(cmd, "need IN and OUT.gguf (see llama3 convert --help)");
    llama3_error err = { 0 };
    char *in = NULL;
    if (cli_resolve_model(pos[0], quiet, &in, cmd)) return 1;
    cli_progress pr;
    cli_progress_init(&pr, cmd, true, quiet || o.verbose);
    o.progress = cli_progress_cb;
    o.progress_data = &pr;
    int rc = llama3_convert(in, pos[1], &o, &err);
    cli_progress_end(&pr);
    free(in);
    if (rc) return cli_error(cmd, "%s", err.msg);
    fprintf(stderr, "llama3 convert: wrote %s\n", pos[1]);
    return 0;
}
