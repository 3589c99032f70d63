/* llama3 run: generate a completion for a prompt, streaming text to stdout. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char *RUN_HELP =
    "usage: llama3 run -m MODEL (-p TEXT | -f FILE | --prompt-ids IDS) [options]\n"
    "\n"
    "Generate text from a prompt. The completion streams to stdout; prompt and generation\n"
    "speed go to stderr.\n"
    "\n"
    "Prompt:\n"
    "  -p, --prompt TEXT     prompt text (a BOS token is added first)\n"
    "  -f, --file FILE       read the prompt text from FILE\n"
    "      --prompt-ids IDS  prompt as token ids, comma- or space-separated (no BOS added)\n"
    "      --chat            wrap the prompt as one user message in the Llama 3 chat format\n"
    "      --system TEXT     with --chat: a system message first\n"
    "      --special         parse special-token text (<|eot_id|>, ...) in the prompt\n"
    "Generation:\n"
    "  -n, --n-predict N     tokens to generate at most (default 256)\n"
    CLI_SAMPLER_OPTS_HELP
    "      --ignore-eos      do not stop at end-of-text / end-of-turn tokens\n"
    "      --print-ids       print the generated ids space-separated on one line instead of text\n"
    "Model:\n" CLI_MODEL_OPTS_HELP
    "  -h, --help            this help\n";

int cmd_run(int argc, char **argv) {
    const char *cmd = "run";
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    const char *prompt = NULL, *prompt_file = NULL, *prompt_ids = NULL, *system_msg = NULL;
    long n_predict = 256;
    bool chat = false, special = false, ignore_eos = false, print_ids = false, seed_given = false;
    llama3_sampler_params sp = llama3_sampler_defaults();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = cli_model_opt(&mo, argc, argv, &i, cmd);
        if (r == 0) r = cli_sampler_opt(&sp, &seed_given, argc, argv, &i, cmd);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(RUN_HELP, stdout); return 0; }
        else if (!strcmp(a, "--chat")) chat = true;
        else if (!strcmp(a, "--special")) special = true;
        else if (!strcmp(a, "--ignore-eos")) ignore_eos = true;
        else if (!strcmp(a, "--print-ids")) print_ids = true;
        else if (!(v = cli_value(argc, argv, &i, cmd))) return 1;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) prompt_file = v;
        else if (!strcmp(a, "--prompt-ids")) prompt_ids = v;
        else if (!strcmp(a, "--system")) system_msg = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (!cli_parse_int(v, 0, 1 << 24, &n_predict)) return cli_error(cmd, "invalid -n '%s'", v);
        } else return cli_error(cmd, "unknown option '%s' (see llama3 run --help)", a);
    }
    if (!!prompt + !!prompt_file + !!prompt_ids != 1)
        return cli_error(cmd, "give exactly one of -p, -f or --prompt-ids (see llama3 run --help)");
    if (!seed_given) sp.seed = (uint64_t)time(NULL);

    llama3_model *m;
    llama3_session *s;
    if (cli_open(&mo, cmd, &m, &s, 1)) return 1;
    const llama3_args *args = llama3_model_args(m);
    llama3_tokenizer *tok = llama3_model_tokenizer(m);
    llama3_error err = { 0 };
    int rc = 1, n_prompt = 0;
    int32_t *ids = NULL;
    char *file_text = NULL;
    float *logits = NULL;
    llama3_sampler *smp = NULL;

    if (prompt_ids) {
        if (cli_parse_ids(prompt_ids, &ids, &n_prompt, cmd)) goto done;
    } else {
        if (prompt_file && llama3_read_file(prompt_file, (size_t)1 << 30, &file_text, NULL, &err)) {
            cli_error(cmd, "%s", err.msg);
            goto done;
        }
        const char *text = prompt ? prompt : file_text;
        if (!tok) { cli_error(cmd, "%s has no usable tokenizer; use --prompt-ids", mo.model); goto done; }
        int cap = (int)strlen(text) + 16;
        ids = malloc((size_t)cap * sizeof *ids);
        if (!ids) { cli_error(cmd, "out of memory"); goto done; }
        if (chat) {
            llama3_message msgs[2];
            int nm = 0;
            if (system_msg) msgs[nm++] = (llama3_message){ "system", system_msg };
            msgs[nm++] = (llama3_message){ "user", text };
            n_prompt = llama3_chat_encode(tok, msgs, nm, ids, cap, &err);
            if (n_prompt > cap) {
                cap = n_prompt;
                int32_t *nb = realloc(ids, (size_t)cap * sizeof *ids);
                if (!nb) { cli_error(cmd, "out of memory"); goto done; }
                ids = nb;
                n_prompt = llama3_chat_encode(tok, msgs, nm, ids, cap, &err);
            }
        } else {
            n_prompt = llama3_tokenize(tok, text, strlen(text), LLAMA3_TOK_BOS | (special ? LLAMA3_TOK_SPECIAL : 0),
                                       ids, cap, &err);
        }
        if (n_prompt < 0) { cli_error(cmd, "%s", err.msg); goto done; }
    }
    if (n_prompt == 0) { cli_error(cmd, "empty prompt"); goto done; }
    if (n_prompt > llama3_session_n_ctx(s)) {
        cli_error(cmd, "prompt of %d tokens is longer than the context (%d); raise -c", n_prompt, llama3_session_n_ctx(s));
        goto done;
    }
    logits = malloc((size_t)args->vocab_size * sizeof *logits);
    smp = llama3_sampler_new(&sp, args->vocab_size);
    if (!logits || !smp) { cli_error(cmd, "out of memory"); goto done; }
    for (int i = 0; i < n_prompt; i++) llama3_sampler_accept(smp, ids[i]);

    double t0 = llama3_time_s();
    if (llama3_eval(s, 0, ids, n_prompt, logits, 0, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    double t1 = llama3_time_s();
    llama3_detok dt = { 0 };
    char out[256];
    int n_gen = 0;
    bool hit_ctx = false;
    for (; n_gen < n_predict; n_gen++) {
        int32_t id = llama3_sample(smp, logits);
        bool end = !ignore_eos && llama3_model_is_end_token(m, id);
        if (print_ids) printf(n_gen ? " %d" : "%d", id);
        else if (tok && !end) {
            int w = llama3_detok_push(&dt, tok, id, out, sizeof out, &err);
            if (w > 0) fwrite(out, 1, (size_t)w, stdout);
            fflush(stdout);
        }
        if (end) { n_gen++; break; }
        if (n_gen + 1 == n_predict) { n_gen++; break; }
        if (llama3_session_pos(s, 0) >= llama3_session_n_ctx(s)) { hit_ctx = true; n_gen++; break; }
        if (llama3_eval(s, 0, &id, 1, logits, 0, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    }
    if (!print_ids && tok) {
        int w = llama3_detok_flush(&dt, out, sizeof out);
        if (w > 0) fwrite(out, 1, (size_t)w, stdout);
    }
    printf("\n");
    fflush(stdout);
    double t2 = llama3_time_s();
    if (hit_ctx) fprintf(stderr, "llama3 run: stopped: the context (%d tokens) is full\n", llama3_session_n_ctx(s));
    if (!seed_given && sp.temperature > 0) fprintf(stderr, "seed: %llu (pass --seed to repeat this run)\n", (unsigned long long)sp.seed);
    cli_print_memory(m, s, mo.kv_type);
    fprintf(stderr, "prompt: %d tokens, %.2f tokens/s | generation: %d tokens, %.2f tokens/s\n", n_prompt,
            n_prompt / (t1 - t0), n_gen, n_gen > 1 ? (n_gen - 1) / (t2 - t1) : 0.0);
    rc = 0;
done:
    free(ids);
    free(file_text);
    free(logits);
    llama3_sampler_free(smp);
    llama3_session_free(s);
    llama3_model_free(m);
    return rc;
}
