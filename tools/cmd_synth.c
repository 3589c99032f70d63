/* llama3 synth: writes a random-weight model of a real Llama 3 shape as GGUF, for benchmarks
 * (llama3c and llama.cpp load the same file). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *SYNTH_HELP =
    "usage: llama3 synth --shape SHAPE --type TYPE -o OUT.gguf [--seed S] [--vocab GGUF] [-t N]\n"
    "\n"
    "Writes a model of a real Llama 3 shape with random weights ~ N(0, 0.02) (deterministic\n"
    "from the seed, independent of the thread count) and RMSNorm weights 1, as a GGUF file that\n"
    "both llama3c and llama.cpp load. For benchmarks: the outputs are meaningless.\n"
    "\n"
    "  --shape SHAPE   llama3.2-1b  (dim 2048, 16 layers, 32/8 heads, ffn 8192, tied embeddings)\n"
    "                  llama3.2-3b  (dim 3072, 28 layers, 24/8 heads, ffn 8192, tied embeddings)\n"
    "                  llama3-8b    (dim 4096, 32 layers, 32/8 heads, ffn 14336, own output)\n"
    "                  tiny         (dim 256, 2 layers, 4/2 heads, ffn 512, tied; for tests)\n"
    "                  All use the real vocabulary size 128256 and rope theta 500000; the 3.2\n"
    "                  shapes and tiny add Llama 3.1 rope scaling (factor 32, low 1, high 4,\n"
    "                  original context 8192) as rope_freqs.weight, like llama.cpp's converter.\n"
    "  --type TYPE     f32, f16, bf16, q8_0, q4_0, ... (any type of the type table): every weight\n"
    "                  matrix in TYPE (like llama-quantize --pure); or q4_k_s, q4_k_m, q5_k_s,\n"
    "                  q5_k_m: llama.cpp's mixes (see below). Norms and rope_freqs stay f32.\n"
    "  -o, --output    file to write\n"
    "  --seed S        random seed (default 1)\n"
    "  --vocab GGUF    copy the tokenizer keys (tokenizer.*) from this GGUF file (its vocabulary\n"
    "                  must have 128256 tokens, e.g. the tok32 fixture). Without it a placeholder\n"
    "                  byte-level vocabulary is written: 256 byte tokens, fillers '[N]' and the\n"
    "                  Llama 3.1 special tokens at 128000.., no merges.\n"
    "  -t, --threads N threads for generation and quantization (default: physical cores)\n"
    "  --quiet         no progress line (on a terminal a line redrawn in place; otherwise a\n"
    "                  line per 10%)\n"
    "\n"
    "q4_k_m follows llama.cpp's llama_tensor_get_type for LLAMA_FTYPE_MOSTLY_Q4_K_M on a dense\n"
    "llama model: output.weight (and token_embd.weight when the embeddings are tied) -> q6_k;\n"
    "attn_v and ffn_down of layer i -> q6_k when use_more_bits(i, n_layers), i.e.\n"
    "i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2; every other matrix (untied token_embd included)\n"
    "-> q4_k. q5_k_m: the same with q5_k as the base; q4_k_s: q5_k for attn_v of layers < 4 and\n"
    "ffn_down of layers < n/8. A matrix whose rows are not a multiple of 256 falls back as\n"
    "llama.cpp does (q4_k -> q5_0, q5_k -> q5_1, q6_k -> q8_0). The rules are the ones\n"
    "`llama3 quantize` uses (src/convert/quant_plan.c).\n";

enum { Y_HELP = 1, Y_SHAPE, Y_TYPE, Y_OUT, Y_VOCAB, Y_SEED, Y_THREADS, Y_QUIET };
static const cli_opt SYNTH_OPTS[] = {
    { Y_HELP, "-h|--help", CLI_FLAG, NULL },
    { Y_SHAPE, "--shape", CLI_VALUE, NULL },
    { Y_TYPE, "--type", CLI_VALUE, NULL },
    { Y_OUT, "-o|--output", CLI_VALUE, NULL },
    { Y_VOCAB, "--vocab", CLI_VALUE, NULL },
    { Y_SEED, "-s|--seed", CLI_VALUE, NULL },
    { Y_THREADS, "-t|--threads", CLI_VALUE, NULL },
    { Y_QUIET, "--quiet", CLI_FLAG, NULL },
    { 0, NULL, 0, NULL },
};

int cmd_synth(int argc, char **argv) {
    const char *cmd = "synth";
    llama3_synth_options o = { .seed = 1 };
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        switch (cli_match(SYNTH_OPTS, argc, argv, &i, &v, cmd)) {
        case -1: return 1;
        case 0: return cli_unknown(cmd, a);
        case Y_HELP: fputs(SYNTH_HELP, stdout); return 0;
        case Y_SHAPE: o.shape = v; break;
        case Y_TYPE: o.type = v; break;
        case Y_OUT: o.out = v; break;
        case Y_VOCAB: o.vocab_path = v; break;
        case Y_QUIET: quiet = true; break;
        case Y_SEED: {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (!*v || *end || *v == '-' || errno) return cli_error(cmd, "invalid seed '%s' (expected a non-negative integer)", v);
            o.seed = s;
            break;
        }
        case Y_THREADS:
            if (!cli_parse_int(v, 1, 256, &n)) return cli_error(cmd, "invalid thread count '%s'", v);
            o.n_threads = (int)n;
            break;
        }
    }
    if (!o.shape) return cli_error(cmd, "no shape given (--shape llama3.2-1b|llama3.2-3b|llama3-8b|tiny)");
    if (!o.type) return cli_error(cmd, "no type given (--type f32|f16|bf16|q8_0|q4_0|q4_k_m|...)");
    if (!o.out) return cli_error(cmd, "no output file given (-o OUT.gguf)");
    llama3_synth_report rep;
    llama3_error err = { 0 };
    cli_progress pr;
    cli_progress_init(&pr, cmd, true, quiet);
    o.progress = cli_progress_cb;
    o.progress_data = &pr;
    int rc = llama3_synth(&o, &rep, &err);
    cli_progress_end(&pr);
    if (rc) return cli_error(cmd, "%s", err.msg);
    fprintf(stderr,
            "llama3 synth: wrote %s: %s, %d tensors (%s), %.1f MiB of weights; generated in %.1f s with %d threads, "
            "written in %.1f s\n",
            o.out, rep.title, rep.n_tensors, rep.types, rep.weight_bytes / 1048576.0, rep.generate_s, rep.n_threads,
            rep.write_s);
    return 0;
}
