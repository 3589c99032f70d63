/* llama3 tokenize / detokenize: the tokenizer on its own (only the vocabulary is loaded, even
 * from a GGUF file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char k_tok_help[] =
    "usage: llama3 tokenize -m MODEL_OR_TOKENIZER (-p TEXT | -f FILE) [--special] [--bos] [--pieces]\n"
    "Prints the token ids of TEXT (or of FILE's bytes), space-separated, on one line.\n"
    "  -m, --model PATH   GGUF file, tokenizer.model, tokenizer.json, or a Hugging Face / Meta folder\n"
    "                     (or hf:OWNER/NAME[:QUANT], downloaded first: see llama3 pull --help)\n"
    "  -p, --prompt TEXT  text to encode\n"
    "  -f, --file FILE    encode the bytes of FILE ('-' = standard input)\n"
    "      --special      parse special-token text such as <|eot_id|> as special tokens\n"
    "      --bos          prepend <|begin_of_text|>\n"
    "      --pieces       print one token per line: id, then its bytes (C-escaped)\n"
    "  -h, --help         this help\n";

static const char k_detok_help[] =
    "usage: llama3 detokenize -m MODEL_OR_TOKENIZER IDS...\n"
    "Prints the text of the token ids (separated by spaces or commas, one or more arguments).\n"
    "  -m, --model PATH   GGUF file, tokenizer.model, tokenizer.json, or a Hugging Face / Meta folder\n"
    "                     (or hf:OWNER/NAME[:QUANT], downloaded first: see llama3 pull --help)\n"
    "  -h, --help         this help\n";

static void print_escaped(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') fputs("\\\\", stdout);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c < 0x20 || c == 0x7F) printf("\\x%02x", c);
        else if (c >= 0x80) {
            /* Keep valid UTF-8 characters readable; escape stray bytes. */
            int k = 0;
            if (c >= 0xC2 && c <= 0xDF) k = 2;
            else if (c >= 0xE0 && c <= 0xEF) k = 3;
            else if (c >= 0xF0 && c <= 0xF4) k = 4;
            int ok = k > 0 && i + (size_t)k <= n;
            for (int j = 1; ok && j < k; j++) ok = ((unsigned char)s[i + (size_t)j] & 0xC0) == 0x80;
            if (ok) {
                fwrite(s + i, 1, (size_t)k, stdout);
                i += (size_t)k - 1;
            } else {
                printf("\\x%02x", c);
            }
        } else putchar(c);
    }
}

static int read_all(FILE *f, char **out, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    if (!b) return -1;
    for (;;) {
        if (n == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) { free(b); return -1; }
            b = nb;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    *out = b;
    *len = n;
    return ferror(f) ? -1 : 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *cmd = "tokenize", *model = NULL, *prompt = NULL, *file = NULL;
    int flags = 0, pieces = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(k_tok_help, stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!(model = cli_value(argc, argv, &i, cmd))) return 1; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { if (!(prompt = cli_value(argc, argv, &i, cmd))) return 1; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { if (!(file = cli_value(argc, argv, &i, cmd))) return 1; }
        else if (!strcmp(a, "--special")) flags |= LLAMA3_TOK_SPECIAL;
        else if (!strcmp(a, "--bos")) flags |= LLAMA3_TOK_BOS;
        else if (!strcmp(a, "--pieces")) pieces = 1;
        else return cli_unknown(cmd, a);
    }
    if (!model) return cli_error(cmd, "-m MODEL_OR_TOKENIZER is required (see --help)");
    if (!prompt == !file) return cli_error(cmd, "give exactly one of -p TEXT or -f FILE");

    char *text = NULL;
    size_t len = 0;
    if (file) {
        FILE *f = strcmp(file, "-") ? fopen(file, "rb") : stdin;
        if (!f) return cli_error(cmd, "%s: cannot open", file);
        int r = read_all(f, &text, &len);
        if (f != stdin) fclose(f);
        if (r) { free(text); return cli_error(cmd, "%s: read error", file); }
    }
    llama3_error err = { 0 };
    char *path;
    if (cli_resolve_model(model, false, &path, cmd)) { free(text); return 1; }
    llama3_tokenizer *t = llama3_tokenizer_load(path, &err);
    free(path);
    if (!t) { free(text); return cli_error(cmd, "%s", err.msg); }
    const char *s = file ? text : prompt;
    if (!file) len = strlen(prompt);
    int rc = 1;
    int n = llama3_tokenize(t, s, len, flags, NULL, 0, &err);
    int32_t *ids = n > 0 ? malloc((size_t)n * sizeof *ids) : NULL;
    if (n < 0) cli_error(cmd, "%s", err.msg);
    else if (n > 0 && !ids) cli_error(cmd, "out of memory");
    else if (n > 0 && llama3_tokenize(t, s, len, flags, ids, n, &err) != n) cli_error(cmd, "%s", err.msg);
    else {
        for (int i = 0; i < n; i++) {
            if (pieces) {
                size_t bl;
                const char *b = llama3_token_bytes(t, ids[i], &bl);
                printf("%d\t'", (int)ids[i]);
                print_escaped(b, bl);
                fputs("'\n", stdout);
            } else {
                printf(i ? " %d" : "%d", (int)ids[i]);
            }
        }
        if (!pieces) putchar('\n');
        rc = 0;
    }
    free(ids);
    free(text);
    llama3_tokenizer_free(t);
    return rc;
}

int cmd_detokenize(int argc, char **argv) {
    const char *cmd = "detokenize", *model = NULL;
    int32_t *all = NULL;
    int n_all = 0, rc = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(k_detok_help, stdout); free(all); return 0; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model = cli_value(argc, argv, &i, cmd))) { free(all); return 1; }
            continue;
        }
        if (a[0] == '-' && !(a[1] >= '0' && a[1] <= '9')) {
            free(all);
            return cli_unknown(cmd, a);
        }
        int32_t *ids;
        int n;
        if (cli_parse_ids(a, &ids, &n, cmd)) { free(all); return 1; }
        int32_t *na = realloc(all, (size_t)(n_all + n + 1) * sizeof *na);
        if (!na) { free(ids); free(all); return cli_error(cmd, "out of memory"); }
        all = na;
        memcpy(all + n_all, ids, (size_t)n * sizeof *ids);
        n_all += n;
        free(ids);
    }
    if (!model) { free(all); return cli_error(cmd, "-m MODEL_OR_TOKENIZER is required (see --help)"); }
    llama3_error err = { 0 };
    char *path;
    if (cli_resolve_model(model, false, &path, cmd)) { free(all); return 1; }
    llama3_tokenizer *t = llama3_tokenizer_load(path, &err);
    free(path);
    if (!t) { free(all); return cli_error(cmd, "%s", err.msg); }
    llama3_detok d = { 0 };
    size_t cap = 1 << 16;
    char *buf = malloc(cap);
    if (!buf) { cli_error(cmd, "out of memory"); goto done; }
    for (int i = 0; i < n_all; i++) {
        size_t bl = 0;
        llama3_token_bytes(t, all[i], &bl);
        if (3 * bl + 16 > cap) {  /* worst case: every byte becomes U+FFFD */
            char *nb = realloc(buf, cap = 3 * bl + 16);
            if (!nb) { cli_error(cmd, "out of memory"); goto done; }
            buf = nb;
        }
        int w = llama3_detok_push(&d, t, all[i], buf, cap, &err);
        if (w < 0) { fflush(stdout); cli_error(cmd, "%s", err.msg); goto done; }
        fwrite(buf, 1, (size_t)w, stdout);
    }
    int w = llama3_detok_flush(&d, buf, cap);
    if (w > 0) fwrite(buf, 1, (size_t)w, stdout);
    putchar('\n');
    rc = 0;
done:
    free(buf);
    free(all);
    llama3_tokenizer_free(t);
    return rc;
}
