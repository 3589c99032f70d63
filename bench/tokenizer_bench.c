/* Tokenizer benchmark: vocabulary load time from each source, and single-thread encode and
 * decode throughput on a few MB of generated mixed text (English prose, code, CJK, emoji,
 * digits).
 * usage: tokenizer_bench [FIXTURES_DIR] [MB]   (defaults: the configured fixtures, 4 MB) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama3.h"
#include "util.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 11);
}

static const char *const k_prose[] = {
    "The quick brown fox jumps over the lazy dog. ", "It was the best of times, it was the worst of times; ",
    "She said, \"I'll be there at 7:30 tomorrow,\" and didn't look back.\n",
    "In 1969, humans first walked on the Moon, a journey of about 384,400 km. ",
    "Tokenizers split text into pieces that a language model can read efficiently. ",
    "We've measured throughput on mixed inputs, since real prompts rarely stay in one script. ",
    "Meanwhile, the committee's report (section 4.2) recommends further study.\n\n",
};
static const char *const k_code[] = {
    "    for (int i = 0; i < n; i++) {\n        sum += x[i] * w[i];\n    }\n",
    "def softmax(x):\n    e = np.exp(x - x.max())\n    return e / e.sum()\n\n",
    "if (err != NULL && err->code < 0) return -1; // bail out\n",
    "const url = `https://example.com/api/v2/items?id=${id}&limit=100`;\n",
    "<div class=\"row\"><span>{{ item.name }}</span></div>\n",
};
static const char *const k_cjk[] = {
    "自然语言处理是人工智能的一个重要分支。", "今日はとても良い天気ですね。散歩に行きましょう。",
    "한국어 문장도 토큰화됩니다. ", "机器学习模型需要大量的数据来训练，", "Привет, как дела? Всё хорошо. ",
};
static const char *const k_emoji[] = { "🦙🔥 ", "😀👍🏽 ", "👨‍👩‍👧 ", "🎉✨🚀 ", "❤️ " };

static char *gen(size_t target, size_t *len) {
    char *s = malloc(target + 256);
    size_t n = 0;
    while (n < target) {
        uint32_t r = rnd() % 100;
        const char *p;
        char num[32];
        if (r < 55) p = k_prose[rnd() % 7];
        else if (r < 75) p = k_code[rnd() % 5];
        else if (r < 88) p = k_cjk[rnd() % 5];
        else if (r < 94) p = k_emoji[rnd() % 5];
        else {
            snprintf(num, sizeof num, "%u.%02u ", rnd() % 1000000, rnd() % 100);
            p = num;
        }
        size_t k = strlen(p);
        if (n + k > target + 200) break;
        memcpy(s + n, p, k);
        n += k;
    }
    *len = n;
    return s;
}

static llama3_tokenizer *timed_load(const char *dir, const char *rel) {
    char *p = l3_path_join(dir, rel);
    llama3_error err = { 0 };
    double best = 1e9;
    llama3_tokenizer *t = NULL;
    for (int r = 0; r < 5; r++) {
        if (t) llama3_tokenizer_free(t);
        double t0 = l3_time_s();
        t = llama3_tokenizer_load(p, &err);
        double dt = l3_time_s() - t0;
        if (!t) {
            fprintf(stderr, "load %s: %s\n", p, err.msg);
            exit(1);
        }
        if (dt < best) best = dt;
    }
    printf("load %-40s %8.1f ms (best of 5)\n", rel, best * 1e3);
    free(p);
    return t;
}

int main(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: tokenizer_bench [FIXTURES_DIR [MEGABYTES]]\n"
               "Vocabulary load times and encode/decode MB/s on generated mixed text (one thread).\n");
        return 0;
    }
    const char *dir = argc > 1 ? argv[1] : LLAMA3_FIXTURES_DIR;
    double mb = argc > 2 ? atof(argv[2]) : 4.0;
    llama3_tokenizer *t = timed_load(dir, "tokenizer/tokenizer.model");
    llama3_tokenizer_free(timed_load(dir, "models/tok32/gguf/model-bf16.gguf"));
    llama3_tokenizer_free(timed_load(dir, "tokenizer/llama3-tokenizer.json"));

    size_t len;
    char *text = gen((size_t)(mb * 1024 * 1024), &len);
    llama3_error err = { 0 };
    int cap = (int)len + 16;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    double best = 1e9;
    int n = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = l3_time_s();
        n = llama3_tokenize(t, text, len, 0, ids, cap, &err);
        double dt = l3_time_s() - t0;
        if (n < 0) {
            fprintf(stderr, "tokenize: %s\n", err.msg);
            return 1;
        }
        if (dt < best) best = dt;
    }
    printf("encode %.2f MB mixed text: %d tokens (%.2f bytes/token), %.1f ms, %.1f MB/s (best of 3, 1 thread)\n",
           len / 1048576.0, n, (double)len / n, best * 1e3, len / 1048576.0 / best);

    char *out = malloc(len * 3 + 64);
    double t0 = l3_time_s();
    llama3_detok d = { 0 };
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        int w = llama3_detok_push(&d, t, ids[i], out + o, len * 3 + 64 - o, &err);
        if (w < 0) {
            fprintf(stderr, "detok: %s\n", err.msg);
            return 1;
        }
        o += (size_t)w;
    }
    o += (size_t)llama3_detok_flush(&d, out + o, 64);
    double dt = l3_time_s() - t0;
    printf("decode (streaming): %.1f MB/s, round trip %s\n", o / 1048576.0 / dt,
           o == len && !memcmp(out, text, len) ? "exact" : "DIFFERS");

    /* Worst cases for the merge loop: 100 KB runs. */
    const char fills[] = { 'a', ' ', '7' };
    for (size_t f = 0; f < sizeof fills; f++) {
        memset(text, fills[f], 100 * 1024);
        t0 = l3_time_s();
        n = llama3_tokenize(t, text, 100 * 1024, 0, ids, cap, &err);
        printf("encode 100 KB of '%c': %d tokens in %.1f ms\n", fills[f], n, (l3_time_s() - t0) * 1e3);
    }
    free(out);
    free(ids);
    free(text);
    llama3_tokenizer_free(t);
    return 0;
}
