/* Greedy, temperature, top-k, min-p, Meta's top-p, repetition penalty, OpenAI's logit_bias
 * and frequency / presence penalties, seeded RNG, log-probabilities.
 * Order of operations: logit_bias -> frequency / presence -> repetition penalty ->
 * temperature -> top-k -> softmax -> min-p -> top-p. */
#include "sampler.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand { float p; int32_t id; } cand;

struct llama3_sampler {
    llama3_sampler_params p;
    int vocab;
    uint64_t rng[4];           /* xoshiro256** state */
    int32_t *recent;           /* ring of the last repeat_last_n accepted ids */
    int n_recent, head;
    float *probs;
    cand *cand;                /* top-k / top-p candidates (x 3 with top-p: its sort keys), allocated once */
    llama3_logit_bias *bias;   /* a copy of p.logit_bias */
    int32_t *counts;           /* [vocab] times each token was sampled (with OpenAI's penalties) */
    int32_t *sampled;          /* the distinct tokens sampled, in order */
    int n_sampled;
};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t next_u64(uint64_t s[4]) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return r;
}
static double uniform01(uint64_t s[4]) { return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }

llama3_sampler_params llama3_sampler_defaults(void) {
    return (llama3_sampler_params){ .temperature = 0.6f, .top_p = 0.9f, .top_k = 0, .min_p = 0.0f,
                                    .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0 };
}

llama3_sampler *llama3_sampler_new(const llama3_sampler_params *p, int vocab_size) {
    if (vocab_size <= 0) return NULL;
    llama3_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    if (s->p.repeat_last_n < 0) s->p.repeat_last_n = 0;
    s->vocab = vocab_size;
    uint64_t seed = p->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&seed);
    s->recent = malloc((size_t)(s->p.repeat_last_n > 0 ? s->p.repeat_last_n : 1) * sizeof(int32_t));
    s->probs = malloc((size_t)vocab_size * sizeof(float));
    /* candidates for top-k / top-p, and with top-p room for its sort keys (2 x vocab more) */
    const int top_p = s->p.temperature > 0 && s->p.top_p > 0 && s->p.top_p < 1;
    s->cand = malloc((top_p ? 3 : 1) * (size_t)vocab_size * sizeof *s->cand);
    if (!s->recent || !s->probs || !s->cand) { llama3_sampler_free(s); return NULL; }
    s->p.logit_bias = NULL;
    if (p->n_logit_bias > 0 && p->logit_bias) {
        if (!(s->bias = malloc((size_t)p->n_logit_bias * sizeof *s->bias))) { llama3_sampler_free(s); return NULL; }
        memcpy(s->bias, p->logit_bias, (size_t)p->n_logit_bias * sizeof *s->bias);
    } else {
        s->p.n_logit_bias = 0;
    }
    if (p->frequency_penalty != 0 || p->presence_penalty != 0) {
        s->counts = calloc((size_t)vocab_size, sizeof *s->counts);
        s->sampled = malloc((size_t)vocab_size * sizeof *s->sampled);
        if (!s->counts || !s->sampled) { llama3_sampler_free(s); return NULL; }
    }
    return s;
}

void llama3_sampler_free(llama3_sampler *s) {
    if (!s) return;
    free(s->recent);
    free(s->probs);
    free(s->cand);
    free(s->bias);
    free(s->counts);
    free(s->sampled);
    free(s);
}

void llama3_sampler_accept(llama3_sampler *s, int32_t id) {
    if (s->p.repeat_last_n <= 0) return;
    s->recent[s->head] = id;
    s->head = (s->head + 1) % s->p.repeat_last_n;
    if (s->n_recent < s->p.repeat_last_n) s->n_recent++;
}

/* Sorts c[0..m) by probability descending, then id ascending (positive probabilities), with
 * keys[2m] as scratch: a byte-wise radix sort of 64-bit keys (the probability's bits
 * inverted, then the id), passes whose byte is the same in every key skipped (qsort's callback per pair
 * costs more than the passes). */
static void sort_by_prob(cand *c, int m, uint64_t *keys) {
    if (m < 2) return;
    uint64_t *a = keys, *b = keys + m;
    for (int i = 0; i < m; i++) {
        uint32_t bits;
        memcpy(&bits, &c[i].p, sizeof bits);
        a[i] = (uint64_t)(UINT32_MAX - bits) << 32 | (uint32_t)c[i].id;
    }
    for (int shift = 0; shift < 64; shift += 8) {
        size_t count[257] = { 0 };
        for (int i = 0; i < m; i++) count[(a[i] >> shift & 0xff) + 1]++;
        if (count[(a[0] >> shift & 0xff) + 1] == (size_t)m) continue;  /* one value: nothing to do */
        for (int d = 0; d < 256; d++) count[d + 1] += count[d];
        for (int i = 0; i < m; i++) b[count[a[i] >> shift & 0xff]++] = a[i];
        uint64_t *t = a; a = b; b = t;
    }
    for (int i = 0; i < m; i++) {
        const uint32_t bits = UINT32_MAX - (uint32_t)(a[i] >> 32);
        memcpy(&c[i].p, &bits, sizeof bits);
        c[i].id = (int32_t)(uint32_t)a[i];
    }
}

/* Three-way partition of c[lo..hi) around the median of its first, middle and last
 * probabilities, returned: [lo, *lt) above it, [*lt, *gt] equal to it (NaNs too, which
 * compare equal to nothing, so runs of them end a selection), (*gt, hi) below it. */
static float partition3(cand *c, int lo, int hi, int *lt_out, int *gt_out) {
    const float a = c[lo].p, b = c[lo + (hi - lo) / 2].p, z = c[hi - 1].p;
    const float pivot = a > b ? (b > z ? b : a > z ? z : a) : (a > z ? a : b > z ? z : b);
    int lt = lo, i = lo, gt = hi - 1;
    while (i <= gt) {
        const cand x = c[i];
        if (x.p > pivot) c[i++] = c[lt], c[lt++] = x;
        else if (x.p < pivot) c[i] = c[gt], c[gt--] = x;
        else i++;
    }
    *lt_out = lt, *gt_out = gt;
    return pivot;
}

/* Reorders c[0..m) so that c[0..r) holds its r largest probabilities (whole runs of equal
 * ones) and returns the smallest such r whose mass exceeds target, or m: a quickselect on the
 * mass, so that only those r need sorting. */
static int top_mass(cand *c, int m, double target) {
    int lo = 0, hi = m;
    double above = 0;  /* the mass of c[0..lo) */
    while (hi - lo > 16) {
        int lt, gt;
        partition3(c, lo, hi, &lt, &gt);
        double gt_mass = 0, eq_mass = 0;
        for (int k = lo; k < lt; k++) gt_mass += c[k].p;
        if (above + gt_mass > target) { hi = lt; continue; }
        for (int k = lt; k <= gt; k++) eq_mass += c[k].p;
        if (above + gt_mass + eq_mass > target) return gt + 1;
        above += gt_mass + eq_mass;
        lo = gt + 1;
    }
    return hi;
}

/* Applies Meta's top-p to probs in place: in descending order, keep each token whose preceding
 * cumulative mass (float32, as torch sums it) is <= p. Only the head of that order is sorted:
 * the candidates above a threshold (lowered until they hold more than p of the mass), then,
 * among those, the largest whose mass exceeds p by 1e-3 (a selection). If the rule keeps
 * all of that head, the whole candidate list is sorted instead: always the full sort's result. */
static int top_p_inplace(float *probs, int n, float top_p, cand *buf) {
    double thresholds[] = { 1e-4, 1e-7, 0 };
    for (int ti = 0; ti < 3; ti++) {
        double t = thresholds[ti];
        int m = 0;
        double mass = 0;
        for (int i = 0; i < n; i++)
            if (probs[i] > 0 && (probs[i] >= t || t == 0)) { buf[m].p = probs[i]; buf[m].id = i; m++; mass += probs[i]; }
        if (mass <= top_p && t > 0) continue;
        int keep = 0;
        for (int head = top_mass(buf, m, top_p + 1e-3);; head = m) {
            sort_by_prob(buf, head, (uint64_t *)(buf + n));  /* (buf: room for 3n) */
            /* mask = cumsum - p_sorted > top_p, in float32 like torch */
            float cum = 0;
            keep = 0;
            for (int i = 0; i < head; i++) {
                cum += buf[i].p;
                if (cum - buf[i].p > top_p) break;
                keep++;
            }
            if (keep < head || head == m) break;
        }
        memset(probs, 0, (size_t)n * sizeof *probs);
        for (int i = 0; i < keep; i++) probs[buf[i].id] = buf[i].p;
        return keep;
    }
    return n;
}

/* The passes over the whole vocabulary (128k values for Llama 3, every sampled token) are
 * written so that the compiler vectorizes them (CMakeLists.txt: no trapping math here):
 * lanes of independent partial results instead of one running maximum or sum, a multiply
 * by the sum's reciprocal, and exp in plain arithmetic instead of a libm call per value. */
enum { LANES = 16 };

/* the largest value (a NaN never is; -inf if every value is -inf or NaN) */
static float max_of(const float *x, int n) {
    float m[LANES];
    for (int j = 0; j < LANES; j++) m[j] = -INFINITY;
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
    for (; i < n; i++) m[0] = x[i] > m[0] ? x[i] : m[0];
    for (int j = 1; j < LANES; j++) m[0] = m[j] > m[0] ? m[j] : m[0];
    return m[0];
}

/* the sum, in double */
static double sum_of(const float *x, int n) {
    double a[LANES] = { 0 };
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) a[j] += x[i + j];
    for (; i < n; i++) a[0] += x[i];
    double t = 0;
    for (int j = 0; j < LANES; j++) t += a[j];
    return t;
}

/* The first index of the largest value (NaNs never win; 0 if x[0] is one, as a running
 * "x[i] > x[best]" from 0 gives). The maximum comes first (max_of's lanes), then its first
 * index: that running compare reloads through the index it just chose, ~9 cycles a value,
 * 0.45 ms for Llama 3's 128k logits. */
int32_t l3_argmax(const float *x, int n) {
    if (x[0] != x[0]) return 0;
    const float m = max_of(x, n);
    for (int i = 0; i < n; i++)
        if (x[i] == m) return i;
    return 0;
}

/* x *= f (normalizing: within an ulp of dividing by the sum) */
static void scale_by(float *x, int n, float f) {
    for (int i = 0; i < n; i++) x[i] *= f;
}

/* e^x for x <= 0 within 2.5e-7 relative (expf: ~1e-7), and exactly 0 below -87 (where expf
 * leaves float's normal range), for -inf and for NaN: 2^n by the exponent bits times a
 * degree-6 Taylor polynomial on |r| <= ln2 / 2 (no undefined float-to-int conversion on
 * the way, whatever x is). */
static inline float exp_nonpos(float x) {
    float xc = x >= -87.0f ? x : -87.0f;  /* (NaN -> -87) */
    xc = xc <= 0.0f ? xc : 0.0f;
    const float n = (xc * 1.44269504f + 12582912.0f) - 12582912.0f;  /* round(x / ln2) */
    const float r = (xc - n * 0.693145752f) - n * 1.42860677e-6f;    /* ln2 in two parts */
    const float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    const int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x >= -87.0f ? p * scale : 0.0f;
}

/* The k-th largest probability of c[0..n) (1 <= k <= n; c is reordered): a quickselect. */
static float kth_largest(cand *c, int n, int k) {
    int lo = 0, hi = n;
    const int want = k - 1;  /* its index in descending order */
    while (hi - lo > 1) {
        int lt, gt;
        const float pivot = partition3(c, lo, hi, &lt, &gt);
        if (want < lt) hi = lt;
        else if (want > gt) lo = gt + 1;
        else return pivot;
    }
    return c[lo].p;
}

/* The k-th largest of x[0..n) (1 <= k <= n) with buf[n] as scratch. A threshold from 1024
 * evenly spaced samples that about 2k values should pass is checked by collecting every value
 * at or above it (a pass without branches); the selection then runs on those alone, or on all
 * n values if fewer than k passed (128k logits, k = 40: 1.6 -> ~0.1 ms). */
static float kth_largest_of(const float *x, int n, int k, cand *buf) {
    enum { S = 1024 };
    if (n >= 4 * S) {
        const int step = n / S;
        for (int i = 0; i < S; i++) buf[i].p = x[(int64_t)i * step];
        int j = (int)((int64_t)k * S / n) * 2 + 4;
        const float t = kth_largest(buf, S, j < S ? j : S);
        int m = 0;
        for (int i = 0; i < n; i++) buf[m].p = x[i], m += x[i] >= t;
        if (m >= k) return kth_largest(buf, m, k);
    }
    for (int i = 0; i < n; i++) buf[i].p = x[i];
    return kth_largest(buf, n, k);
}

/* l3_sampler_distribution with a caller's sorting buffer c[n]. */
static int distribution(const llama3_sampler_params *p, const float *logits, int n, const int32_t *recent,
                        int n_recent, float *probs, cand *c) {
    memcpy(probs, logits, (size_t)n * sizeof *probs);
    /* repetition penalty, once per distinct recent token: shrink positive logits, grow
     * negative ones (the CTRL paper's rule, as llama.cpp applies it) */
    if (p->repeat_penalty > 0 && p->repeat_penalty != 1.0f) {
        for (int i = 0; i < n_recent; i++) {
            int32_t id = recent[i];
            if (id < 0 || id >= n) continue;
            int dup = 0;
            for (int j = 0; j < i; j++) dup |= recent[j] == id;
            if (dup) continue;
            probs[id] = probs[id] > 0 ? probs[id] / p->repeat_penalty : probs[id] * p->repeat_penalty;
        }
    }
    for (int i = 0; i < n; i++) probs[i] /= p->temperature;
    /* top-k: keep the k largest logits (ties at the boundary kept by lowest id): the k-th
     * largest by selection, not a sort of the vocabulary (128k: 19 ms -> well under 1 ms) */
    if (p->top_k > 0 && p->top_k < n) {
        const float kth = kth_largest_of(probs, n, p->top_k, c);
        int above = 0;
        for (int i = 0; i < n; i++) above += probs[i] > kth;
        for (int i = 0, ties = p->top_k - above; i < n; i++)
            if (!(probs[i] > kth) && !(probs[i] == kth && ties-- > 0)) probs[i] = -INFINITY;
    }
    /* softmax */
    const float max = max_of(probs, n);
    for (int i = 0; i < n; i++) probs[i] = exp_nonpos(probs[i] - max);
    scale_by(probs, n, (float)(1.0 / sum_of(probs, n)));
    /* min-p: drop tokens below min_p x the most likely token's probability */
    if (p->min_p > 0) {
        const float pmax = max_of(probs, n);
        for (int i = 0; i < n; i++) if (probs[i] < p->min_p * pmax) probs[i] = 0;
    }
    int kept = 0;
    if (p->top_p > 0 && p->top_p < 1) top_p_inplace(probs, n, p->top_p, c);
    for (int i = 0; i < n; i++) kept += probs[i] > 0;
    scale_by(probs, n, (float)(1.0 / sum_of(probs, n)));
    return kept;
}

int l3_sampler_distribution(const llama3_sampler_params *p, const float *logits, int n, const int32_t *recent,
                            int n_recent, float *probs) {
    cand *c = malloc(3 * (size_t)n * sizeof *c);
    if (!c) return -1;
    int kept = distribution(p, logits, n, recent, n_recent, probs, c);
    free(c);
    return kept;
}

/* logit_bias, then OpenAI's penalties: logit -= c * frequency + (c > 0) * presence, for each
 * token sampled c > 0 times so far. */
static void bias_and_penalize(llama3_sampler *s, float *logits) {
    for (int i = 0; i < s->p.n_logit_bias; i++)
        if (s->bias[i].id >= 0 && s->bias[i].id < s->vocab) logits[s->bias[i].id] += s->bias[i].bias;
    for (int i = 0; s->counts && i < s->n_sampled; i++) {
        const int32_t id = s->sampled[i];
        logits[id] -= (float)s->counts[id] * s->p.frequency_penalty + s->p.presence_penalty;
    }
}

int32_t llama3_sample(llama3_sampler *s, float *logits) {
    int32_t id;
    bias_and_penalize(s, logits);
    if (s->p.temperature <= 0) {
        /* greedy still honours the repetition penalty */
        if (s->p.repeat_penalty != 1.0f && s->n_recent > 0) {
            llama3_sampler_params g = s->p;
            g.temperature = 1;
            g.top_k = 0; g.top_p = 1; g.min_p = 0;
            distribution(&g, logits, s->vocab, s->recent, s->n_recent, s->probs, s->cand);
            id = l3_argmax(s->probs, s->vocab);
        } else {
            id = l3_argmax(logits, s->vocab);
        }
    } else {
        distribution(&s->p, logits, s->vocab, s->recent, s->n_recent, s->probs, s->cand);
        double r = uniform01(s->rng), cum = 0;
        id = -1;
        for (int i = 0; i < s->vocab; i++) {
            if (s->probs[i] <= 0) continue;
            cum += s->probs[i];
            id = i;
            if (r < cum) break;
        }
        if (id < 0) id = l3_argmax(logits, s->vocab);
    }
    llama3_sampler_accept(s, id);
    if (s->counts && s->counts[id]++ == 0) s->sampled[s->n_sampled++] = id;
    return id;
}

float llama3_logprobs(const float *logits, int n, int32_t id, int n_top, int32_t *top_id, float *top_logprob,
                      int *n_written) {
    /* log-sum-exp around the maximum, in double */
    const float max = max_of(logits, n);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp_nonpos(logits[i] - max);
    const double lse = (double)max + log(sum);
    if (n_top > LLAMA3_MAX_TOP_LOGPROBS) n_top = LLAMA3_MAX_TOP_LOGPROBS;
    /* the n_top largest, by insertion into a short sorted list (ties: lower id first) */
    int k = 0;
    for (int i = 0; i < n && n_top > 0; i++) {
        const float v = logits[i];
        if (!(v > -INFINITY) || (k == n_top && !(v > logits[top_id[k - 1]]))) continue;
        int j = k < n_top ? k++ : k - 1;
        while (j > 0 && v > logits[top_id[j - 1]]) { top_id[j] = top_id[j - 1]; j--; }
        top_id[j] = i;
    }
    for (int j = 0; j < k; j++) top_logprob[j] = (float)(logits[top_id[j]] - lse);
    if (n_written) *n_written = k;
    return id >= 0 && id < n && logits[id] > -INFINITY ? (float)(logits[id] - lse) : -INFINITY;
}
