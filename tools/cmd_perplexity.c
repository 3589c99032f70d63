/* llama3 perplexity: perplexity of a text, and comparison with a base model's distributions
 * (KL divergence, top-1 agreement, perplexity ratio) for judging quantized weights. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *PPL_HELP =
    "usage: llama3 perplexity -m MODEL (-f TEXT | --ids FILE.i32) [-c CTX] [--kl-base FILE | --kl FILE]\n"
    "\n"
    "Perplexity as llama.cpp's perplexity tool computes it: the text is tokenized with a BOS\n"
    "first and cut into non-overlapping windows of CTX tokens (each later window starts with\n"
    "BOS in place of its first token); each window is evaluated from an empty cache and the\n"
    "second half of its positions is scored. Prints PPL with its standard error.\n"
    "\n"
    "Input:\n"
    "  -f, --file TEXT      UTF-8 text (needs the model's tokenizer)\n"
    "      --ids FILE.i32   token ids as raw little-endian int32, used as they are (no BOS added)\n"
    "      --chunks N       score at most N windows\n"
    "Comparison with a base model:\n"
    "      --kl-base FILE   save this model's log-probabilities at every scored position, with\n"
    "                       the tokens, to FILE (format: include/llama3_tools.h)\n"
    "      --kl FILE        load FILE (its tokens and CTX; -f/--ids optional) and report the mean\n"
    "                       KL divergence KL(base || this), top-1 agreement and PPL(this)/PPL(base)\n"
    "Model:\n" CLI_MODEL_OPTS_HELP
    "                        (-c defaults to 512, or the --kl file's)\n"
    "  -h, --help            this help\n";

static int tokenize_text(llama3_model *m, const char *path, int32_t **ids, int *n, const char *cmd) {
    llama3_tokenizer *tok = llama3_model_tokenizer(m);
    if (!tok) return cli_error(cmd, "the model has no usable tokenizer; use --ids");
    char *text = NULL;
    size_t len = 0;
    llama3_error rerr = { 0 };
    if (llama3_read_file(path, (size_t)1 << 40, &text, &len, &rerr)) return cli_error(cmd, "%s", rerr.msg);
    llama3_error err = { 0 };
    int cap = (int)(len < (1u << 29) ? len : (1u << 29)) + 16;
    *ids = malloc((size_t)cap * sizeof **ids);
    int k = *ids ? llama3_tokenize(tok, text, len, LLAMA3_TOK_BOS, *ids, cap, &err) : LLAMA3_ERR_MEMORY;
    free(text);
    if (k < 0 || k > cap) {
        free(*ids);
        *ids = NULL;
        return cli_error(cmd, "%s: %s", path, k < 0 ? err.msg : "tokenization overflow");
    }
    *n = k;
    return 0;
}

typedef struct ppl_run {
    const char *cmd;
    llama3_model *m;
    llama3_session *s;
    int n_vocab, n_ctx, n_chunks;
    const int32_t *tokens;
    int replace_bos;          /* text input: later windows start with BOS, as llama.cpp */
    FILE *base_out, *base_in; /* --kl-base / --kl */
    const char *base_path;
} ppl_run;

typedef struct ppl_result {
    llama3_mean_acc nll, kl, top1, dnll, nll_base;
    double kl_max;
} ppl_result;

static int run(ppl_run *r, ppl_result *res) {
    llama3_error err = { 0 };
    size_t V = (size_t)r->n_vocab;
    float *logits = malloc((size_t)r->n_ctx * V * sizeof *logits);
    float *lp = malloc(V * sizeof *lp), *base = r->base_in ? malloc(V * sizeof *base) : NULL;
    int32_t *batch = malloc((size_t)r->n_ctx * sizeof *batch);
    int rc = 1;
    if (!logits || !lp || !batch || (r->base_in && !base)) { cli_error(r->cmd, "out of memory"); goto done; }
    int32_t bos = llama3_model_bos(r->m);
    int first = llama3_ppl_first(r->n_ctx);
    double t0 = llama3_time_s();
    for (int c = 0; c < r->n_chunks; c++) {
        const int32_t *win = r->tokens + (size_t)c * r->n_ctx;
        memcpy(batch, win, (size_t)r->n_ctx * sizeof *batch);
        if (r->replace_bos && c > 0 && bos >= 0) batch[0] = bos;
        llama3_session_reset(r->s, 0, 0);
        if (llama3_eval(r->s, 0, batch, r->n_ctx, logits, 1, &err)) { cli_error(r->cmd, "%s", err.msg); goto done; }
        for (int i = first; i < r->n_ctx - 1; i++) {
            int32_t y = win[i + 1];
            if (y < 0 || y >= r->n_vocab) { cli_error(r->cmd, "token id %d out of range", y); goto done; }
            int top = llama3_log_softmax(logits + (size_t)i * V, lp, r->n_vocab);
            double nll = -(double)lp[y];
            llama3_mean_add(&res->nll, nll);
            if (r->base_out && llama3_kl_write_row(r->base_out, lp, (uint32_t)V, r->base_path, &err)) {
                cli_error(r->cmd, "%s", err.msg);
                goto done;
            }
            if (base) {
                if (llama3_kl_read_row(r->base_in, base, (uint32_t)V, r->base_path, &err)) { cli_error(r->cmd, "%s", err.msg); goto done; }
                int btop = 0;
                for (size_t k = 1; k < V; k++)
                    if (base[k] > base[btop]) btop = (int)k;
                double kl = llama3_kl_div(base, lp, r->n_vocab);
                llama3_mean_add(&res->kl, kl);
                if (kl > res->kl_max) res->kl_max = kl;
                llama3_mean_add(&res->top1, btop == top);
                llama3_mean_add(&res->nll_base, -(double)base[y]);
                llama3_mean_add(&res->dnll, nll + (double)base[y]);
            }
        }
        fprintf(stderr, "[%d/%d] PPL %.4f  (%.1f s)\n", c + 1, r->n_chunks, exp(llama3_mean(&res->nll)), llama3_time_s() - t0);
    }
    rc = 0;
done:
    free(logits);
    free(lp);
    free(base);
    free(batch);
    return rc;
}

int cmd_perplexity(int argc, char **argv) {
    const char *cmd = "perplexity", *text_path = NULL, *ids_path = NULL, *kl_base = NULL, *kl = NULL;
    long max_chunks = 0;
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = cli_model_opt(&mo, argc, argv, &i, cmd);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(PPL_HELP, stdout); return 0; }
        if (strcmp(a, "-f") && strcmp(a, "--file") && strcmp(a, "--ids") && strcmp(a, "--kl-base") &&
            strcmp(a, "--kl") && strcmp(a, "--chunks"))
            return cli_error(cmd, "unknown option '%s' (see llama3 perplexity --help)", a);
        if (!(v = cli_value(argc, argv, &i, cmd))) return 1;
        if (!strcmp(a, "-f") || !strcmp(a, "--file")) text_path = v;
        else if (!strcmp(a, "--ids")) ids_path = v;
        else if (!strcmp(a, "--kl-base")) kl_base = v;
        else if (!strcmp(a, "--kl")) kl = v;
        else if (!cli_parse_int(v, 1, 1L << 30, &max_chunks)) return cli_error(cmd, "invalid --chunks '%s'", v);
    }
    if (text_path && ids_path) return cli_error(cmd, "give -f or --ids, not both");
    if (kl_base && kl) return cli_error(cmd, "give --kl-base or --kl, not both");
    if (!text_path && !ids_path && !kl) return cli_error(cmd, "no input: give -f TEXT or --ids FILE.i32 (see llama3 perplexity --help)");

    int rc = 1, n_tokens = 0;
    int32_t *tokens = NULL, *base_tokens = NULL;
    llama3_model *m = NULL;
    llama3_session *s = NULL;
    FILE *fin = NULL, *fout = NULL;
    llama3_error err = { 0 };
    llama3_kl_header h = { 0 };
    if (kl) {
        if (!(fin = fopen(kl, "rb"))) return cli_error(cmd, "%s: cannot open", kl);
        if (llama3_kl_read_begin(fin, &h, &base_tokens, kl, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
        if (mo.n_ctx && (uint32_t)mo.n_ctx != h.n_ctx) {
            cli_error(cmd, "-c %d differs from the %u the --kl file was made with", mo.n_ctx, h.n_ctx);
            goto done;
        }
        mo.n_ctx = (int)h.n_ctx;
    }
    if (cli_open(&mo, cmd, &m, NULL, 1)) goto done;
    int n_vocab = llama3_model_args(m)->vocab_size;
    if (ids_path) {
        if (cli_read_ids_file(ids_path, 1L << 30, &tokens, &n_tokens, cmd)) goto done;
    } else if (text_path) {
        if (tokenize_text(m, text_path, &tokens, &n_tokens, cmd)) goto done;
    }
    if (kl) {
        if (h.n_vocab != (uint32_t)n_vocab) {
            cli_error(cmd, "%s was made with a vocabulary of %u, the model has %d", kl, h.n_vocab, n_vocab);
            goto done;
        }
        if (tokens && (n_tokens != (int)h.n_tokens || memcmp(tokens, base_tokens, (size_t)n_tokens * 4))) {
            cli_error(cmd, "the input's tokens differ from those in %s", kl);
            goto done;
        }
        free(tokens);
        tokens = base_tokens;
        base_tokens = NULL;
        n_tokens = (int)h.n_tokens;
    }
    int n_ctx = mo.n_ctx ? mo.n_ctx : 512;
    if (n_ctx < 2) { cli_error(cmd, "-c must be at least 2"); goto done; }
    if (n_tokens < n_ctx) {
        cli_error(cmd, "%d tokens are fewer than one window of %d; lower -c", n_tokens, n_ctx);
        goto done;
    }
    int n_chunks = n_tokens / n_ctx;
    if (max_chunks && max_chunks < n_chunks) n_chunks = (int)max_chunks;
    if (kl && (uint32_t)n_chunks * (uint32_t)llama3_ppl_scored_per_window(n_ctx) != h.n_pos) {
        cli_error(cmd, "%s holds %u positions; --chunks must match the run that wrote it", kl, h.n_pos);
        goto done;
    }
    llama3_session_options so = { .n_ctx = n_ctx, .n_threads = mo.n_threads, .kv_type = mo.kv_type, .n_slots = 1,
                                  .prompt_int8_levels = mo.prompt_int8 };
    if (!(s = llama3_session_new(m, &so, &err))) { cli_error(cmd, "%s", err.msg); goto done; }
    if (llama3_world_rank() > 0) {  /* rank 0 scores; this process runs its passes */
        rc = cli_follow(cmd, m, s, mo.kv_type);
        s = NULL;
        goto done;
    }
    if (kl_base) {
        if (!(fout = fopen(kl_base, "wb"))) { cli_error(cmd, "%s: cannot create", kl_base); goto done; }
        llama3_kl_header oh = { (uint32_t)n_vocab, (uint32_t)n_ctx, (uint32_t)n_tokens,
                            (uint32_t)(n_chunks * llama3_ppl_scored_per_window(n_ctx)) };
        if (llama3_kl_write_begin(fout, &oh, tokens, kl_base, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    }
    ppl_run r = { .cmd = cmd, .m = m, .s = s, .n_vocab = n_vocab, .n_ctx = n_ctx, .n_chunks = n_chunks,
                  .tokens = tokens, .replace_bos = text_path != NULL && !kl, .base_out = fout, .base_in = fin,
                  .base_path = kl ? kl : kl_base };
    ppl_result res = { 0 };
    if (run(&r, &res)) goto done;
    if (fout) {
        int bad = fclose(fout) != 0;
        fout = NULL;
        if (bad) { cli_error(cmd, "%s: write failed", kl_base); goto done; }
    }
    double mean = llama3_mean(&res.nll), ppl = exp(mean);
    printf("perplexity: %d window(s) of %d tokens, %lld scored positions\n", n_chunks, n_ctx, (long long)res.nll.n);
    printf("PPL = %.6f +/- %.6f\n", ppl, ppl * llama3_mean_err(&res.nll));
    if (kl_base) printf("saved base log-probabilities to %s\n", kl_base);
    if (kl) {
        double ratio = exp(llama3_mean(&res.dnll)), p = llama3_mean(&res.top1);
        printf("base PPL = %.6f\n", exp(llama3_mean(&res.nll_base)));
        printf("mean KL divergence (base || this) = %.9f +/- %.9f  (max %.6f)\n", llama3_mean(&res.kl), llama3_mean_err(&res.kl),
               res.kl_max);
        printf("top-1 agreement = %.4f%% +/- %.4f%%\n", 100 * p,
               res.top1.n > 1 ? 100 * sqrt(p * (1 - p) / (double)(res.top1.n - 1)) : 0.0);
        printf("PPL(this)/PPL(base) = %.6f +/- %.6f\n", ratio, ratio * llama3_mean_err(&res.dnll));
    }
    rc = 0;
done:
    if (fin) fclose(fin);
    if (fout) {
        fclose(fout);
        remove(kl_base);  /* no half-written base file */
    }
    free(tokens);
    free(base_tokens);
    llama3_session_free(s);
    llama3_model_free(m);
    return rc;
}
