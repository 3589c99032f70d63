/* llama3 logits: raw logits for a sequence of ids, for checking against reference outputs. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *LOGITS_HELP =
    "usage: llama3 logits -m MODEL --ids IN.i32 -o OUT.f32 [--mode prefill|decode] [options]\n"
    "\n"
    "Writes the logits of every position: IN holds little-endian int32 token ids; OUT receives\n"
    "little-endian float32 [T x vocab], row i after token i.\n"
    "  --ids FILE            input ids (raw int32)\n"
    "  -o, --output FILE     output logits (raw float32)\n"
    "  --mode prefill        feed all ids in one batched pass (default)\n"
    "  --mode decode         feed them one at a time through the KV cache\n"
    "Model:\n" CLI_MODEL_OPTS_HELP
    "  -h, --help            this help\n";

enum { L_HELP = 1, L_IDS, L_OUT, L_MODE };
static const cli_opt LOGITS_OPTS[] = {
    { L_HELP, "-h|--help", CLI_FLAG, NULL },
    { L_IDS, "--ids", CLI_VALUE, NULL },
    { L_OUT, "-o|--output", CLI_VALUE, NULL },
    { L_MODE, "--mode", CLI_VALUE, NULL },
    { 0, NULL, 0, NULL },
};

int cmd_logits(int argc, char **argv) {
    const char *cmd = "logits";
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    const char *in = NULL, *out = NULL, *mode = "prefill";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = cli_model_opt(&mo, argc, argv, &i, cmd);
        if (r < 0) return 1;
        if (r > 0) continue;
        switch (cli_match(LOGITS_OPTS, argc, argv, &i, &v, cmd)) {
        case -1: return 1;
        case 0: return cli_unknown(cmd, a);
        case L_HELP: fputs(LOGITS_HELP, stdout); return 0;
        case L_IDS: in = v; break;
        case L_OUT: out = v; break;
        case L_MODE: mode = v; break;
        }
    }
    if (!in || !out) return cli_error(cmd, "--ids and -o are required");
    bool decode = !strcmp(mode, "decode");
    if (!decode && strcmp(mode, "prefill")) return cli_error(cmd, "unknown mode '%s' (prefill or decode)", mode);

    int n;
    int32_t *ids;
    if (cli_read_ids_file(in, 1L << 26, &ids, &n, cmd)) return 1;

    llama3_model *m;
    llama3_session *s;
    if (cli_open(&mo, cmd, &m, &s, 1)) { free(ids); return 1; }
    int vocab = llama3_model_args(m)->vocab_size;
    float *logits = malloc((size_t)n * vocab * sizeof *logits);
    llama3_error err = { 0 };
    int rc = 1;
    if (!logits) { cli_error(cmd, "out of memory"); goto done; }
    if (decode) {
        for (int i = 0; i < n; i++)
            if (llama3_eval(s, 0, ids + i, 1, logits + (size_t)i * vocab, 0, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    } else if (llama3_eval(s, 0, ids, n, logits, 1, &err)) {
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    FILE *o = fopen(out, "wb");
    if (!o) { cli_error(cmd, "%s: cannot create", out); goto done; }
    size_t wrote = fwrite(logits, sizeof *logits, (size_t)n * vocab, o);
    if (fclose(o) != 0 || wrote != (size_t)n * vocab) { cli_error(cmd, "%s: write error", out); goto done; }
    rc = 0;
done:
    free(ids);
    free(logits);
    llama3_session_free(s);
    llama3_model_free(m);
    return rc;
}
