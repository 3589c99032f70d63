/* Bad input through the CLI: each case must exit non-zero with one clear stderr line that
 * names the problem, never crash. Malformed GGUF files are built here from scratch with a
 * tiny writer of the test's own (independent of the library's writer).
 * usage: test_bad_input CLI FIXTURES_DIR */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;
static char tmpdir[] = "/tmp/l3badXXXXXX";
static const char *cli;

/* ---- a minimal GGUF builder ------------------------------------------------------------ */

typedef struct buf { uint8_t *p; size_t n, cap; } buf;
static void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void str(buf *b, const char *s) { u64(b, strlen(s)); put(b, s, strlen(s)); }
static void kv_u32(buf *b, const char *k, uint32_t v) { str(b, k); u32(b, 4); u32(b, v); }
static void kv_f32(buf *b, const char *k, float v) { str(b, k); u32(b, 6); put(b, &v, 4); }
static void kv_str(buf *b, const char *k, const char *v) { str(b, k); u32(b, 8); str(b, v); }

/* The tiny model: dim 8, 1 layer, 2 heads, 1 kv head, ffn 16, vocab 8, all f32. */
typedef struct variant {
    int dim, heads, kv_heads, ffn, vocab;
    uint32_t magic_bad, unknown_type, skip_tensor, skip_key, wrong_shape, bad_offset;
    int64_t truncate;  /* > 0: cut the file to this many bytes; < 0: cut this many from the end */
} variant;

static const char *NAMES[] = { "token_embd.weight", "output_norm.weight", "output.weight", "blk.0.attn_norm.weight",
                               "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight",
                               "blk.0.attn_output.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_gate.weight",
                               "blk.0.ffn_down.weight", "blk.0.ffn_up.weight" };

static void shape_of(const variant *v, int i, int64_t *ne0, int64_t *ne1) {
    int hd = v->dim / v->heads, kvd = v->kv_heads * hd;
    int64_t s[][2] = { { v->dim, v->vocab }, { v->dim, 1 }, { v->dim, v->vocab }, { v->dim, 1 }, { v->dim, v->dim },
                       { v->dim, kvd }, { v->dim, kvd }, { v->dim, v->dim }, { v->dim, 1 }, { v->dim, v->ffn },
                       { v->ffn, v->dim }, { v->dim, v->ffn } };
    *ne0 = s[i][0];
    *ne1 = s[i][1];
}

static char *write_model(const char *name, variant v) {
    buf b = { 0 };
    put(&b, v.magic_bad ? "GGUX" : "GGUF", 4);
    u32(&b, 3);
    int n_t = 12 - (v.skip_tensor ? 1 : 0);
    u64(&b, (uint64_t)n_t);
    const char *keys[] = { "general.architecture", "llama.embedding_length", "llama.block_count",
                           "llama.attention.head_count", "llama.attention.head_count_kv", "llama.feed_forward_length",
                           "llama.attention.layer_norm_rms_epsilon", "llama.vocab_size", "llama.rope.freq_base" };
    int n_k = 9;
    u64(&b, (uint64_t)(n_k - (v.skip_key ? 1 : 0)));
    for (int i = 0; i < n_k; i++) {
        if (v.skip_key && (int)v.skip_key == i + 1) continue;
        switch (i) {
        case 0: kv_str(&b, keys[i], "llama"); break;
        case 1: kv_u32(&b, keys[i], (uint32_t)v.dim); break;
        case 2: kv_u32(&b, keys[i], 1); break;
        case 3: kv_u32(&b, keys[i], (uint32_t)v.heads); break;
        case 4: kv_u32(&b, keys[i], (uint32_t)v.kv_heads); break;
        case 5: kv_u32(&b, keys[i], (uint32_t)v.ffn); break;
        case 6: kv_f32(&b, keys[i], 1e-5f); break;
        case 7: kv_u32(&b, keys[i], (uint32_t)v.vocab); break;
        case 8: kv_f32(&b, keys[i], 500000.0f); break;
        }
    }
    uint64_t off = 0;
    uint64_t sizes[12];
    for (int i = 0; i < 12; i++) {
        int64_t ne0, ne1;
        shape_of(&v, i, &ne0, &ne1);
        if (v.wrong_shape && (int)v.wrong_shape == i + 1) ne1 += 1;
        sizes[i] = (uint64_t)(ne0 * ne1 * 4);
        if (v.skip_tensor && (int)v.skip_tensor == i + 1) continue;
        str(&b, NAMES[i]);
        int nd = ne1 == 1 ? 1 : 2;
        u32(&b, (uint32_t)nd);
        u64(&b, (uint64_t)ne0);
        if (nd == 2) u64(&b, (uint64_t)ne1);
        u32(&b, v.unknown_type && (int)v.unknown_type == i + 1 ? 77 : 0);
        u64(&b, v.bad_offset && (int)v.bad_offset == i + 1 ? (uint64_t)1 << 40 : off);
        off += (sizes[i] + 31) / 32 * 32;
    }
    while (b.n % 32) put(&b, "", 1);
    for (int i = 0; i < 12; i++) {
        if (v.skip_tensor && (int)v.skip_tensor == i + 1) continue;
        size_t padded = (sizes[i] + 31) / 32 * 32;
        for (size_t j = 0; j < padded / 4; j++) {
            float x = (i == 1 || i == 3 || i == 8) ? 1.0f : (float)((j * 7919 + (size_t)i * 31) % 17) / 170.0f - 0.05f;
            put(&b, &x, 4);
        }
    }
    size_t n = b.n;
    if (v.truncate > 0) n = (size_t)v.truncate;
    if (v.truncate < 0) n = b.n - (size_t)(-v.truncate);
    char *path = malloc(strlen(tmpdir) + strlen(name) + 2);
    sprintf(path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    fwrite(b.p, 1, n, f);
    fclose(f);
    free(b.p);
    return path;
}

static variant good(void) { return (variant){ .dim = 8, .heads = 2, .kv_heads = 1, .ffn = 16, .vocab = 8 }; }

/* ---- running the CLI ------------------------------------------------------------------- */

/* Runs argv, captures stderr; returns exit status, or 128 + signal. */
static int run(char *const argv[], char *err, size_t cap) {
    int pipefd[2];
    if (pipe(pipefd)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        int devnull = open("/dev/null", 1);
        dup2(devnull, 1);
        close(pipefd[0]);
        alarm(60);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t n = 0;
    ssize_t r;
    while ((r = read(pipefd[0], err + n, cap - 1 - n)) > 0) n += (size_t)r;
    err[n] = 0;
    close(pipefd[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void expect_error(const char *label, const char *expect, char *const argv[]) {
    char err[8192];
    int st = run(argv, err, sizeof err);
    int lines = 0;
    for (char *p = err; *p; p++) lines += *p == '\n';
    int ok = st > 0 && st < 128 && strstr(err, expect) != NULL && lines == 1;
    printf("%s: %s -> exit %d, \"%s\"\n", ok ? "ok  " : "FAIL", label, st, strtok(err, "\n") ? err : "");
    if (!ok) {
        failures++;
        if (!strstr(err, expect)) printf("      expected the message to contain \"%s\"\n", expect);
        if (lines != 1) printf("      expected exactly one line on stderr, got %d\n", lines);
    }
}

static void info_error(const char *label, const char *model, const char *expect) {
    char *argv[] = { (char *)cli, "info", "-m", (char *)model, NULL };
    expect_error(label, expect, argv);
}

/* Writes the variant as NAME, expects `llama3 info` to refuse it with EXPECT. */
static void info_error_variant(const char *label, const char *name, variant v, const char *expect) {
    char *path = write_model(name, v);
    info_error(label, path, expect);
    free(path);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: test_bad_input CLI FIXTURES\n"); return 2; }
    cli = argv[1];
    if (!mkdtemp(tmpdir)) return 2;

    /* the builder itself must produce a valid model, or the cases below prove nothing */
    char *ok_model = write_model("good.gguf", good());
    {
        char *a[] = { (char *)cli, "run", "-m", ok_model, "--prompt-ids", "1,2,3", "-n", "4", "--temp", "0", "--print-ids", NULL };
        char err[4096];
        int st = run(a, err, sizeof err);
        printf("%s: a well-formed tiny model runs (exit %d)\n", st == 0 ? "ok  " : "FAIL", st);
        if (st) { failures++; printf("      %s\n", err); }
    }

    info_error("missing file", "/nonexistent/model.gguf", "cannot open");
    variant v = good(); v.magic_bad = 1;
    info_error_variant("wrong magic", "magic.gguf", v, "bad magic");
    v = good(); v.truncate = 40;
    info_error_variant("truncated header", "trunc_hdr.gguf", v, "truncated");
    v = good(); v.truncate = -100;
    info_error_variant("truncated tensor data", "trunc_data.gguf", v, "beyond the end of the file");
    v = good(); v.bad_offset = 5;
    info_error_variant("tensor offset beyond the file", "offset.gguf", v, "beyond the end of the file");
    v = good(); v.unknown_type = 3;
    info_error_variant("unknown tensor type", "type.gguf", v, "unknown or unsupported tensor type");
    v = good(); v.skip_tensor = 10;
    info_error_variant("missing required tensor", "no_tensor.gguf", v, "missing required tensor 'blk.0.ffn_gate.weight'");
    v = good(); v.skip_key = 4;
    info_error_variant("missing required key", "no_key.gguf", v, "required key 'llama.attention.head_count' is missing");
    v = good(); v.wrong_shape = 5;
    info_error_variant("shape inconsistent with the metadata", "shape.gguf", v, "expected [8 x 8]");
    v = good(); v.heads = 3; v.kv_heads = 1;
    info_error_variant("n_heads not dividing dim", "heads.gguf", v, "n_heads (3) does not divide dim (8)");
    {
        char *a[] = { (char *)cli, "run", "-m", ok_model, "--prompt-ids", "1,8", "-n", "2", NULL };
        expect_error("id >= vocab in --prompt-ids", "token id 8 out of range", a);
    }
    {
        char *a[] = { (char *)cli, "run", "-m", ok_model, "--prompt-ids", "1,2,3,4,5", "-c", "4", "-n", "2", NULL };
        expect_error("prompt longer than the context", "longer than the context", a);
    }
    {
        char *a[] = { (char *)cli, "logits", "-m", ok_model, "--ids", "/nonexistent.i32", "-o", "/tmp/x.f32", NULL };
        expect_error("logits: missing ids file", "cannot open", a);
    }
    {
        char *a[] = { (char *)cli, "run", "-m", ok_model, "--prompt-ids", "1,x", NULL };
        expect_error("malformed --prompt-ids", "invalid token id list", a);
    }
    {
        char *a[] = { (char *)cli, "run", "-m", ok_model, "--prompt-ids", "1", "--kv-type", "q3", NULL };
        expect_error("unknown --kv-type", "unknown KV type", a);
    }
    {
        char *a[] = { (char *)cli, "run", "-m", ok_model, "--prompt-ids", "1", "--prompt-int8", "3", NULL };
        expect_error("--prompt-int8 out of range", "invalid --prompt-int8 '3' (expected 1 or 2)", a);
    }
    {
        /* the Q8_0 KV cache needs whole 32-blocks per head: tok32's head_dim is 16,
         * stories260K's 8 */
        char tok32[1024], stories[1024];
        snprintf(tok32, sizeof tok32, "%s/models/tok32/gguf/model-bf16.gguf", argv[2]);
        snprintf(stories, sizeof stories, "%s/stories260K/stories260K.gguf", argv[2]);
        const char *expect = "KV-cache type q8_0 needs head_dim a multiple of 32";
        char *a[] = { (char *)cli, "run", "-m", tok32, "--prompt-ids", "1", "-n", "1", "--kv-type", "q8_0", NULL };
        expect_error("--kv-type q8_0, head_dim 16 (run)", expect, a);
        char *b[] = { (char *)cli, "info", "-m", tok32, "--kv-type", "q8_0", NULL };
        expect_error("--kv-type q8_0, head_dim 16 (info)", expect, b);
        char *c[] = { (char *)cli, "run", "-m", stories, "--prompt-ids", "1", "-n", "1", "--kv-type", "q8_0", NULL };
        expect_error("--kv-type q8_0, head_dim 8 (run)", expect, c);
    }
    {
        char *a[] = { (char *)cli, "frobnicate", NULL };
        expect_error("unknown command", "unknown command", a);
    }
    free(ok_model);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) {}
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures ? 1 : 0;
}
