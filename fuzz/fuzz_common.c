#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- buffers ------------------------------------------------------------------------------ */

void fz_put(fz_buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) abort();
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}
void fz_put_u8(fz_buf *b, uint8_t v) { fz_put(b, &v, 1); }
void fz_put_u16(fz_buf *b, uint16_t v) { uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) }; fz_put(b, x, 2); }
void fz_put_u32(fz_buf *b, uint32_t v) { fz_put_u16(b, (uint16_t)v); fz_put_u16(b, (uint16_t)(v >> 16)); }
void fz_put_u64(fz_buf *b, uint64_t v) { fz_put_u32(b, (uint32_t)v); fz_put_u32(b, (uint32_t)(v >> 32)); }
void fz_puts(fz_buf *b, const char *s) { fz_put(b, s, strlen(s)); }
void fz_free(fz_buf *b) { free(b->p); memset(b, 0, sizeof *b); }

/* ---- scratch files ------------------------------------------------------------------------ */

static char g_scratch[256];

static void rm_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        for (struct dirent *e; (e = readdir(d));) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[512];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_tree(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void scratch_cleanup(void) {
    if (g_scratch[0]) rm_tree(g_scratch);
}

/* A crash (sanitizer abort) skips atexit: remove the folders of processes that are gone. */
static void remove_stale(const char *base) {
    DIR *d = opendir(base);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        long pid;
        char rest[64];
        if (sscanf(e->d_name, "llama3-fuzz-%ld-%63s", &pid, rest) != 2 || pid <= 0) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", base, e->d_name);
        rm_tree(path);
    }
    closedir(d);
}

const char *fz_scratch(void) {
    if (g_scratch[0]) return g_scratch;
    const char *bases[] = { "/dev/shm", getenv("TMPDIR"), "/tmp" };
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        if (!bases[i]) continue;
        remove_stale(bases[i]);
        snprintf(g_scratch, sizeof g_scratch, "%s/llama3-fuzz-%ld-XXXXXX", bases[i], (long)getpid());
        if (mkdtemp(g_scratch)) {
            atexit(scratch_cleanup);
            return g_scratch;
        }
    }
    fprintf(stderr, "fuzz: cannot create a scratch folder\n");
    abort();
}

const char *fz_dir(const char *name) {
    static char path[400];
    snprintf(path, sizeof path, "%s/%s", fz_scratch(), name);
    rm_tree(path);
    if (mkdir(path, 0700) != 0) {
        fprintf(stderr, "fuzz: mkdir %s: %s\n", path, strerror(errno));
        abort();
    }
    return path;
}

const char *fz_write(const char *dir, const char *name, const void *data, size_t len) {
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { fprintf(stderr, "fuzz: open %s: %s\n", path, strerror(errno)); abort(); }
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) { fprintf(stderr, "fuzz: write %s: %s\n", path, strerror(errno)); abort(); }
        p += w;
        len -= (size_t)w;
    }
    close(fd);
    return path;
}

void fz_unlink(const char *dir, const char *name) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

int fz_split(const uint8_t *data, size_t len, const uint8_t **parts, size_t *lens, int max) {
    static const uint8_t sep[4] = { 0x00, 0xff, 0x00, 0xff };
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; n < max - 1 && i + 4 <= len;) {
        if (memcmp(data + i, sep, 4) == 0) {
            parts[n] = data + start;
            lens[n++] = i - start;
            i += 4;
            start = i;
        } else {
            i++;
        }
    }
    parts[n] = data + start;
    lens[n++] = len - start;
    return n;
}

const char *fz_fixtures(void) {
    const char *e = getenv("LLAMA3_FIXTURES");
    if (e && *e) return e;
#ifdef LLAMA3_FIXTURES_DIR
    return LLAMA3_FIXTURES_DIR;
#else
    return "../shared/fixtures";
#endif
}

/* ---- the tiny model ----------------------------------------------------------------------- */

const char FZ_HF_CONFIG[] =
    "{\"model_type\": \"llama\", \"hidden_act\": \"silu\", \"hidden_size\": 16, \"intermediate_size\": 64,\n"
    " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"head_dim\": 8,\n"
    " \"vocab_size\": 32, \"rms_norm_eps\": 1e-05, \"rope_theta\": 500000.0, \"max_position_embeddings\": 64,\n"
    " \"tie_word_embeddings\": false, \"bos_token_id\": 1, \"eos_token_id\": [2, 3],\n"
    " \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0,\n"
    "   \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 32}}\n";

const char FZ_META_PARAMS[] =
    "{\"dim\": 16, \"n_layers\": 1, \"n_heads\": 2, \"n_kv_heads\": 1, \"vocab_size\": 32,\n"
    " \"multiple_of\": 32, \"norm_eps\": 1e-05, \"rope_theta\": 500000.0, \"use_scaled_rope\": true,\n"
    " \"max_seq_len\": 64}\n";

const char *const FZ_HF_SHARD_NAMES[2] = { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" };

typedef struct tiny_tensor { const char *hf, *meta; int rows, cols; } tiny_tensor;  /* rows 0: vector */

static const tiny_tensor TINY[] = {
    { "model.embed_tokens.weight", "tok_embeddings.weight", FZ_VOCAB, FZ_DIM },
    { "model.norm.weight", "norm.weight", 0, FZ_DIM },
    { "lm_head.weight", "output.weight", FZ_VOCAB, FZ_DIM },
    { "model.layers.0.input_layernorm.weight", "layers.0.attention_norm.weight", 0, FZ_DIM },
    { "model.layers.0.self_attn.q_proj.weight", "layers.0.attention.wq.weight", FZ_DIM, FZ_DIM },
    { "model.layers.0.self_attn.k_proj.weight", "layers.0.attention.wk.weight", FZ_KV_HEADS * 8, FZ_DIM },
    { "model.layers.0.self_attn.v_proj.weight", "layers.0.attention.wv.weight", FZ_KV_HEADS * 8, FZ_DIM },
    { "model.layers.0.self_attn.o_proj.weight", "layers.0.attention.wo.weight", FZ_DIM, FZ_DIM },
    { "model.layers.0.post_attention_layernorm.weight", "layers.0.ffn_norm.weight", 0, FZ_DIM },
    { "model.layers.0.mlp.gate_proj.weight", "layers.0.feed_forward.w1.weight", FZ_FFN, FZ_DIM },
    { "model.layers.0.mlp.down_proj.weight", "layers.0.feed_forward.w2.weight", FZ_DIM, FZ_FFN },
    { "model.layers.0.mlp.up_proj.weight", "layers.0.feed_forward.w3.weight", FZ_FFN, FZ_DIM },
};
enum { N_TINY = sizeof TINY / sizeof TINY[0] };

const char FZ_HF_INDEX[] =
    "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {\n"
    " \"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\",\n"
    " \"model.norm.weight\": \"model-00001-of-00002.safetensors\",\n"
    " \"lm_head.weight\": \"model-00001-of-00002.safetensors\",\n"
    " \"model.layers.0.input_layernorm.weight\": \"model-00001-of-00002.safetensors\",\n"
    " \"model.layers.0.self_attn.q_proj.weight\": \"model-00001-of-00002.safetensors\",\n"
    " \"model.layers.0.self_attn.k_proj.weight\": \"model-00001-of-00002.safetensors\",\n"
    " \"model.layers.0.self_attn.v_proj.weight\": \"model-00002-of-00002.safetensors\",\n"
    " \"model.layers.0.self_attn.o_proj.weight\": \"model-00002-of-00002.safetensors\",\n"
    " \"model.layers.0.post_attention_layernorm.weight\": \"model-00002-of-00002.safetensors\",\n"
    " \"model.layers.0.mlp.gate_proj.weight\": \"model-00002-of-00002.safetensors\",\n"
    " \"model.layers.0.mlp.down_proj.weight\": \"model-00002-of-00002.safetensors\",\n"
    " \"model.layers.0.mlp.up_proj.weight\": \"model-00002-of-00002.safetensors\"}}\n";

static int tiny_numel(const tiny_tensor *t) { return t->rows ? t->rows * t->cols : t->cols; }

/* Deterministic small weights; norms are 1. */
static float tiny_value(int tensor, int i) {
    if (TINY[tensor].rows == 0) return 1.0f;
    uint32_t x = (uint32_t)(tensor * 7919 + i) * 2654435761u;
    x ^= x >> 15;
    return ((float)(x % 1000) / 1000.0f - 0.5f) * 0.5f;
}

void fz_tiny_safetensors(fz_buf *out, int shard) {
    fz_buf hdr = { 0 };
    fz_puts(&hdr, "{\"__metadata__\": {\"format\": \"pt\"}");
    uint64_t off = 0;
    char tmp[256];
    for (int i = 0; i < N_TINY; i++) {
        if (shard >= 0 && (i < 6) != (shard == 0)) continue;
        uint64_t nb = (uint64_t)tiny_numel(&TINY[i]) * 4;
        if (TINY[i].rows)
            snprintf(tmp, sizeof tmp, ", \"%s\": {\"dtype\": \"F32\", \"shape\": [%d, %d], \"data_offsets\": [%llu, %llu]}",
                     TINY[i].hf, TINY[i].rows, TINY[i].cols, (unsigned long long)off, (unsigned long long)(off + nb));
        else
            snprintf(tmp, sizeof tmp, ", \"%s\": {\"dtype\": \"F32\", \"shape\": [%d], \"data_offsets\": [%llu, %llu]}",
                     TINY[i].hf, TINY[i].cols, (unsigned long long)off, (unsigned long long)(off + nb));
        fz_puts(&hdr, tmp);
        off += nb;
    }
    fz_puts(&hdr, "}");
    while (hdr.n % 8) fz_put_u8(&hdr, ' ');
    fz_put_u64(out, hdr.n);
    fz_put(out, hdr.p, hdr.n);
    for (int i = 0; i < N_TINY; i++) {
        if (shard >= 0 && (i < 6) != (shard == 0)) continue;
        for (int k = 0; k < tiny_numel(&TINY[i]); k++) {
            float v = tiny_value(i, k);
            fz_put(out, &v, 4);
        }
    }
    fz_free(&hdr);
}

/* ---- zip + pickle --------------------------------------------------------------------------- */

uint32_t fz_crc32(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* zip64: every size field 0xFFFFFFFF, the sizes in a zip64 extra field (local and central). */
static void zip_write(fz_buf *out, int n, const char *const *names, const fz_buf *data, int zip64) {
    uint64_t *offs = calloc((size_t)n, sizeof *offs);
    if (!offs) abort();
    const uint16_t z64_len = zip64 ? 20 : 0;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        offs[i] = out->n;
        /* Pad the local extra field so the data starts 64-byte aligned, as torch.save does. */
        size_t data_at = out->n + 30 + nl + z64_len + 4;
        uint16_t pad = (uint16_t)((64 - data_at % 64) % 64);
        fz_put_u32(out, 0x04034b50);
        fz_put_u16(out, zip64 ? 45 : 20); fz_put_u16(out, 0); fz_put_u16(out, 0);   /* version, flags, stored */
        fz_put_u16(out, 0); fz_put_u16(out, 0);                         /* time, date */
        fz_put_u32(out, fz_crc32(data[i].p, data[i].n));
        for (int k = 0; k < 2; k++) fz_put_u32(out, zip64 ? UINT32_MAX : (uint32_t)data[i].n);
        fz_put_u16(out, (uint16_t)nl); fz_put_u16(out, (uint16_t)(z64_len + 4 + pad));
        fz_put(out, names[i], nl);
        if (zip64) { fz_put_u16(out, 1); fz_put_u16(out, 16); fz_put_u64(out, data[i].n); fz_put_u64(out, data[i].n); }
        fz_put_u16(out, 0x4246); fz_put_u16(out, pad);                  /* "FB" padding field */
        for (uint16_t k = 0; k < pad; k++) fz_put_u8(out, 'Z');
        fz_put(out, data[i].p, data[i].n);
    }
    uint64_t cd = out->n;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        fz_put_u32(out, 0x02014b50);
        fz_put_u16(out, zip64 ? 45 : 20); fz_put_u16(out, zip64 ? 45 : 20); fz_put_u16(out, 0); fz_put_u16(out, 0);
        fz_put_u16(out, 0); fz_put_u16(out, 0);
        fz_put_u32(out, fz_crc32(data[i].p, data[i].n));
        for (int k = 0; k < 2; k++) fz_put_u32(out, zip64 ? UINT32_MAX : (uint32_t)data[i].n);
        fz_put_u16(out, (uint16_t)nl); fz_put_u16(out, z64_len); fz_put_u16(out, 0);
        fz_put_u16(out, 0); fz_put_u16(out, 0); fz_put_u32(out, 0);
        fz_put_u32(out, (uint32_t)offs[i]);
        fz_put(out, names[i], nl);
        if (zip64) { fz_put_u16(out, 1); fz_put_u16(out, 16); fz_put_u64(out, data[i].n); fz_put_u64(out, data[i].n); }
    }
    uint64_t cd_size = out->n - cd;
    fz_put_u32(out, 0x06054b50);
    fz_put_u16(out, 0); fz_put_u16(out, 0);
    fz_put_u16(out, (uint16_t)n); fz_put_u16(out, (uint16_t)n);
    fz_put_u32(out, (uint32_t)cd_size); fz_put_u32(out, (uint32_t)cd);
    fz_put_u16(out, 0);
    free(offs);
}

void fz_zip(fz_buf *out, int n, const char *const *names, const fz_buf *data) { zip_write(out, n, names, data, 0); }
void fz_zip64(fz_buf *out, int n, const char *const *names, const fz_buf *data) { zip_write(out, n, names, data, 1); }

static void pk_str(fz_buf *b, const char *s) {
    size_t n = strlen(s);
    if (n < 256) { fz_put_u8(b, 0x8c); fz_put_u8(b, (uint8_t)n); }
    else { fz_put_u8(b, 'X'); fz_put_u32(b, (uint32_t)n); }
    fz_put(b, s, n);
}
static void pk_int(fz_buf *b, int v) {
    if (v >= 0 && v < 256) { fz_put_u8(b, 'K'); fz_put_u8(b, (uint8_t)v); }
    else { fz_put_u8(b, 'J'); fz_put_u32(b, (uint32_t)v); }
}

void fz_tiny_pickle(fz_buf *b) {
    fz_put_u8(b, 0x80); fz_put_u8(b, 2);
    fz_puts(b, "ccollections\nOrderedDict\n");
    fz_put(b, "q\x00)R", 4);                         /* OrderedDict(), the global memoised as 0 */
    fz_put_u8(b, '(');
    for (int i = 0; i < N_TINY; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        pk_str(b, TINY[i].meta);
        fz_puts(b, "ctorch._utils\n_rebuild_tensor_v2\n(");
        /* persistent id ('storage', FloatStorage, key, 'cpu', numel) */
        fz_put_u8(b, '(');
        pk_str(b, "storage");
        fz_puts(b, "ctorch\nFloatStorage\n");
        pk_str(b, key);
        pk_str(b, "cpu");
        pk_int(b, tiny_numel(&TINY[i]));
        fz_puts(b, "tQ");
        pk_int(b, 0);                                      /* storage offset */
        if (TINY[i].rows) {
            pk_int(b, TINY[i].rows); pk_int(b, TINY[i].cols); fz_put_u8(b, 0x86);
            pk_int(b, TINY[i].cols); pk_int(b, 1); fz_put_u8(b, 0x86);
        } else {
            pk_int(b, TINY[i].cols); fz_put_u8(b, 0x85);
            pk_int(b, 1); fz_put_u8(b, 0x85);
        }
        fz_put_u8(b, 0x89);                                 /* requires_grad False */
        fz_put(b, "h\x00)R", 4);                             /* backward hooks: OrderedDict() via the memo */
        fz_puts(b, "tR");
    }
    fz_puts(b, "u.");
}

void fz_tiny_pth(fz_buf *out) {
    enum { N = N_TINY + 1 };
    const char *names[N];
    char name_buf[N_TINY][32];
    fz_buf data[N];
    memset(data, 0, sizeof data);
    names[0] = "tiny/data.pkl";
    fz_tiny_pickle(&data[0]);
    for (int i = 0; i < N_TINY; i++) {
        snprintf(name_buf[i], sizeof name_buf[i], "tiny/data/%d", i);
        names[i + 1] = name_buf[i];
        for (int k = 0; k < tiny_numel(&TINY[i]); k++) {
            float v = tiny_value(i, k);
            fz_put(&data[i + 1], &v, 4);
        }
    }
    fz_zip(out, N, names, data);
    for (int i = 0; i < N; i++) fz_free(&data[i]);
}

/* ---- exercising what loaded ------------------------------------------------------------------- */

void fz_exercise_model(llama3_model *m) {
    const llama3_args *a = llama3_model_args(m);
    /* Keep executions fast: only tiny shapes run the forward pass. */
    if ((int64_t)a->dim * a->hidden_dim * a->n_layers > (1 << 22) || a->vocab_size > (1 << 17) ||
        (int64_t)a->vocab_size * a->dim > (1 << 22))
        return;
    llama3_error err = { 0 };
    llama3_session_options so = { .n_ctx = 4, .n_slots = 1, .n_threads = 1, .kv_type = LLAMA3_KV_F32 };
    llama3_session *s = llama3_session_new(m, &so, &err);
    if (!s) return;
    float *logits = malloc((size_t)a->vocab_size * sizeof *logits);
    if (logits) {
        int32_t ids[2] = { 0, a->vocab_size - 1 };
        volatile float sink = 0;
        if (llama3_eval(s, 0, ids, 2, logits, 0, &err) == 0)
            for (int i = 0; i < a->vocab_size; i++) sink += logits[i];
        int32_t bad = a->vocab_size;  /* out of range: must be refused */
        if (llama3_eval(s, 0, &bad, 1, logits, 0, &err) == 0) abort();
        (void)sink;
    }
    free(logits);
    llama3_session_free(s);
    (void)llama3_model_param_count(m);
    (void)llama3_model_weight_bytes(m);
    (void)llama3_model_format(m);
    (void)llama3_model_bos(m);
    (void)llama3_model_is_end_token(m, 0);
}

static void decode_ids(const llama3_tokenizer *t, const int32_t *ids, int n) {
    llama3_detok d = { 0 };
    char out[64];
    llama3_error err;
    volatile size_t sink = 0;
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        const char *p = llama3_token_bytes(t, ids[i], &len);
        if (p) for (size_t k = 0; k < len; k++) sink += (unsigned char)p[k];
        int r = llama3_detok_push(&d, t, ids[i], out, sizeof out, &err);
        if (r > (int)sizeof out) abort();
    }
    int r = llama3_detok_flush(&d, out, sizeof out);
    if (r > (int)sizeof out) abort();
    (void)sink;
}

void fz_exercise_tokenizer(const llama3_tokenizer *t) {
    static const char *const texts[] = {
        "Hello world", "<|begin_of_text|>hi<|eot_id|><|start_header_id|>", " \n\n 1234567 \xc3\xbcml 'll 've \xf0\x9f\x99\x82",
        "\xff\xfe\xc0\x80 broken \xe2\x82", "<0x0A><unk></s>  x",
    };
    int n_vocab = llama3_tokenizer_n_vocab(t);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        for (int flags = 0; flags <= (LLAMA3_TOK_BOS | LLAMA3_TOK_SPECIAL); flags += 3) {
            int32_t ids[64];
            llama3_error err;
            int n = llama3_tokenize(t, texts[i], strlen(texts[i]), flags, ids, 64, &err);
            if (n > 64) {
                int32_t *big = malloc((size_t)n * sizeof *big);
                if (!big) continue;
                int n2 = llama3_tokenize(t, texts[i], strlen(texts[i]), flags, big, n, &err);
                if (n2 != n) abort();  /* the "call again" convention must be stable */
                decode_ids(t, big, n);
                free(big);
            } else if (n > 0) {
                for (int k = 0; k < n; k++)
                    if (ids[k] < 0 || ids[k] >= n_vocab) abort();
                decode_ids(t, ids, n);
            }
        }
    int32_t odd[] = { -1, n_vocab, INT32_MAX, INT32_MIN, 0, n_vocab - 1 };
    for (int i = 0; i < 4; i++)
        if (llama3_token_bytes(t, odd[i], NULL) != NULL) abort();
    decode_ids(t, odd, 6);
    llama3_message msgs[2] = { { "system", "be brief" }, { "user", "Hello <|eot_id|>" } };
    int32_t ids[128];
    llama3_error err;
    (void)llama3_chat_encode(t, msgs, 2, ids, 128, &err);
    (void)llama3_token_id(t, "<|eot_id|>");
}

/* ---- reduced tokenizer files ------------------------------------------------------------------ */

#include <jansson.h>

static int read_all(const char *path, fz_buf *out) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char tmp[65536];
    for (size_t r; (r = fread(tmp, 1, sizeof tmp, f)) > 0;) fz_put(out, tmp, r);
    fclose(f);
    return 0;
}

int fz_reduce_tiktoken(const char *src, int lines, fz_buf *out) {
    fz_buf all = { 0 };
    if (read_all(src, &all)) return -1;
    int n = 0;
    size_t i = 0;
    while (i < all.n && n < lines) {
        if (all.p[i] == '\n') n++;
        i++;
    }
    fz_put(out, all.p, i);
    fz_free(&all);
    return 0;
}

static int dump_cb(const char *buffer, size_t size, void *data) {
    fz_put(data, buffer, size);
    return 0;
}

int fz_reduce_tokenizer_json(const char *src, int max_id, fz_buf *out) {
    json_error_t je;
    json_t *root = json_load_file(src, 0, &je);
    if (!root) return -1;
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    if (!json_is_object(vocab) || !json_is_array(merges)) { json_decref(root); return -1; }
    json_t *nv = json_object(), *nm = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v)
        if (json_integer_value(v) < max_id) json_object_set(nv, key, v);
    size_t i;
    json_array_foreach(merges, i, v) {
        const char *a = NULL, *b = NULL;
        char pair[512];
        if (json_is_string(v)) {
            snprintf(pair, sizeof pair, "%s", json_string_value(v));
            char *sp = strchr(pair + 1, ' ');
            if (!sp) continue;
            *sp = 0;
            a = pair;
            b = sp + 1;
        } else if (json_is_array(v) && json_array_size(v) == 2) {
            a = json_string_value(json_array_get(v, 0));
            b = json_string_value(json_array_get(v, 1));
        }
        if (!a || !b || !json_object_get(nv, a) || !json_object_get(nv, b)) continue;
        char joined[512];
        snprintf(joined, sizeof joined, "%s%s", a, b);
        if (json_object_get(nv, joined)) json_array_append(nm, v);
    }
    json_object_set_new(model, "vocab", nv);
    json_object_set_new(model, "merges", nm);
    int rc = json_dump_callback(root, dump_cb, out, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(root);
    return rc;
}

int fz_reduce_tokenizer_config(const char *src, fz_buf *out) {
    json_error_t je;
    json_t *root = json_load_file(src, JSON_DECODE_INT_AS_REAL, &je);  /* model_max_length is 1e30 */
    if (!root) return -1;
    json_t *small = json_object();
    static const char *const keep[] = { "chat_template", "bos_token", "eos_token" };
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(root, keep[i]);
        if (v) json_object_set(small, keep[i], v);
    }
    int rc = json_dump_callback(small, dump_cb, out, JSON_COMPACT);
    json_decref(small);
    json_decref(root);
    return rc;
}

void fz_check_error(const llama3_error *err) {
    if (err->code >= 0 || !err->msg[0] || strchr(err->msg, '\n')) abort();
}

void fz_load_model(const char *path) {
    llama3_error err = { 0 };
    llama3_model *m = llama3_model_load(path, NULL, &err);
    if (!m) { fz_check_error(&err); return; }
    fz_exercise_model(m);
    llama3_model_free(m);
}

llama3_tokenizer *fz_llama3_tokenizer(const char *who) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/tokenizer.model", fz_fixtures());
    llama3_error err = { 0 };
    llama3_tokenizer *t = llama3_tokenizer_load(path, &err);
    if (!t) {
        fprintf(stderr, "%s: %s (set LLAMA3_FIXTURES)\n", who, err.msg);
        exit(2);
    }
    return t;
}
