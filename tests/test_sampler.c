/* Sampler: each filter against distributions computed by hand (closed forms below), and
 * draws that follow the distribution for a fixed seed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"

static int failures;

static void expect_dist(const char *label, const float *got, const double *want, int n) {
    double worst = 0;
    for (int i = 0; i < n; i++) worst = fmax(worst, fabs(got[i] - want[i]));
    int ok = worst < 1e-6;
    printf("%s: %s (max abs diff %.2g)\n", ok ? "ok  " : "FAIL", label, worst);
    if (!ok) {
        failures++;
        for (int i = 0; i < n; i++) printf("      [%d] got %.7f want %.7f\n", i, got[i], want[i]);
    }
}

/* ids by (logit descending, id ascending) */
static const float *sort_logits;
static int by_logit_desc(const void *a, const void *b) {
    const int x = *(const int *)a, y = *(const int *)b;
    if (sort_logits[x] != sort_logits[y]) return sort_logits[x] < sort_logits[y] ? 1 : -1;
    return x < y ? -1 : x > y;
}

static llama3_sampler_params plain(void) {
    llama3_sampler_params p = { .temperature = 1, .top_p = 1, .top_k = 0, .min_p = 0, .repeat_penalty = 1 };
    return p;
}

int main(void) {
    const float logits[4] = { 2, 1, 0, -1 };
    const double e = exp(1.0);
    const double Z = e * e + e + 1 + 1 / e;
    float probs[4];

    llama3_sampler_params p = plain();
    l3_sampler_distribution(&p, logits, 4, NULL, 0, probs);
    double softmax[4] = { e * e / Z, e / Z, 1 / Z, 1 / e / Z };
    expect_dist("softmax at temperature 1", probs, softmax, 4);

    /* Meta's top-p 0.8: sorted cumulative sums 0.644, 0.881, ...; a token is dropped when the
     * mass before it exceeds p, so the first two stay. */
    p = plain(); p.top_p = 0.8f;
    l3_sampler_distribution(&p, logits, 4, NULL, 0, probs);
    double top_p[4] = { e * e / (e * e + e), e / (e * e + e), 0, 0 };
    expect_dist("top-p 0.8 keeps the two most likely", probs, top_p, 4);

    /* top-p 0.5: only the first (mass before it is 0) */
    p = plain(); p.top_p = 0.5f;
    l3_sampler_distribution(&p, logits, 4, NULL, 0, probs);
    double top_p5[4] = { 1, 0, 0, 0 };
    expect_dist("top-p 0.5 keeps only the best", probs, top_p5, 4);

    /* exactly on the boundary: two tied tokens at 0.5 and top-p 0.5. The mass before the
     * second is 0.5, which does not exceed p (Meta: mask = probs_sum - probs_sort > p), so
     * both stay; a rule with >= would drop the second. */
    {
        const float tied[2] = { 3, 3 };
        float pt[2];
        p = plain(); p.top_p = 0.5f;
        l3_sampler_distribution(&p, tied, 2, NULL, 0, pt);
        const double half[2] = { 0.5, 0.5 };
        expect_dist("top-p 0.5 keeps both of two tied tokens at 0.5", pt, half, 2);
        int seen[2] = { 0, 0 };
        for (uint64_t seed = 1; seed <= 200; seed++) {
            llama3_sampler_params sp = plain();
            sp.top_p = 0.5f;
            sp.seed = seed;
            sp.repeat_last_n = 0;
            llama3_sampler *s = llama3_sampler_new(&sp, 2);
            float l[2] = { 3, 3 };
            seen[llama3_sample(s, l)]++;
            llama3_sampler_free(s);
        }
        const int ok = seen[0] >= 60 && seen[1] >= 60;  /* 100 each expected; 60 is > 5 sigma below */
        printf("%s: 200 seeds draw both tied tokens at top-p 0.5 (%d / %d)\n", ok ? "ok  " : "FAIL", seen[0], seen[1]);
        failures += !ok;
    }

    p = plain(); p.top_k = 3;
    l3_sampler_distribution(&p, logits, 4, NULL, 0, probs);
    double Z3 = e * e + e + 1, top_k[4] = { e * e / Z3, e / Z3, 1 / Z3, 0 };
    expect_dist("top-k 3", probs, top_k, 4);

    /* min-p 0.2: threshold 0.2 * 0.644 = 0.129 keeps tokens 0 and 1 */
    p = plain(); p.min_p = 0.2f;
    l3_sampler_distribution(&p, logits, 4, NULL, 0, probs);
    expect_dist("min-p 0.2", probs, top_p, 4);

    p = plain(); p.temperature = 2;
    l3_sampler_distribution(&p, logits, 4, NULL, 0, probs);
    double Zt = e + sqrt(e) + 1 + 1 / sqrt(e), temp2[4] = { e / Zt, sqrt(e) / Zt, 1 / Zt, 1 / sqrt(e) / Zt };
    expect_dist("temperature 2", probs, temp2, 4);

    /* repetition penalty 2 on tokens 0 and 3: 2 -> 1, -1 -> -2 */
    p = plain(); p.repeat_penalty = 2;
    int32_t recent[3] = { 0, 3, 0 };
    l3_sampler_distribution(&p, logits, 4, recent, 3, probs);
    double Zr = e + e + 1 + exp(-2.0), rep[4] = { e / Zr, e / Zr, 1 / Zr, exp(-2.0) / Zr };
    expect_dist("repetition penalty 2", probs, rep, 4);

    /* top-k then top-p together: top-k 3 then p 0.8 over {0.665, 0.245, 0.090} keeps 2 */
    p = plain(); p.top_k = 3; p.top_p = 0.8f;
    l3_sampler_distribution(&p, logits, 4, NULL, 0, probs);
    expect_dist("top-k 3 + top-p 0.8", probs, top_p, 4);

    /* a vocabulary-sized softmax (the vectorized passes: 16-lane bodies and their tails)
     * against double precision, over a range of 60 in the logits, with tokens that top-k
     * masked (exactly 0) and logits under e^-87 of the maximum (0, as float's normal range) */
    {
        enum { NV = 1003 };
        float lg[NV], pr[NV];
        double ref[NV], z = 0;
        for (int i = 0; i < NV; i++) lg[i] = (float)((i * 7919) % 1000) * 0.06f - 30.0f;
        lg[5] = 80.0f;  /* 110 above the rest... */
        lg[6] = 75.0f;  /* ...and a runner-up 5 below it */
        p = plain(); p.top_k = 600;
        l3_sampler_distribution(&p, lg, NV, NULL, 0, pr);
        for (int i = 0; i < NV; i++) {
            int r = 0;
            for (int k = 0; k < NV; k++) r += lg[k] > lg[i] || (lg[k] == lg[i] && k < i);
            const float d = lg[i] - 80.0f;  /* rounded to float as the sampler's (and torch's) */
            ref[i] = r < 600 && d >= -87.0f ? exp((double)d) : 0.0;
            z += ref[i];
        }
        double worst = 0;
        int zeros_ok = 1;
        for (int i = 0; i < NV; i++) {
            ref[i] /= z;
            if (ref[i] == 0) zeros_ok &= pr[i] == 0;
            else worst = fmax(worst, fabs(pr[i] - ref[i]) / ref[i]);
        }
        int ok = worst < 1e-6 && zeros_ok;
        printf("%s: softmax of %d logits, top-k 600: relative error %.2g, masked and underflowing tokens 0: %s\n",
               ok ? "ok  " : "FAIL", NV, worst, zeros_ok ? "yes" : "no");
        failures += !ok;
    }

    /* top-k over a vocabulary-sized row (the sampled threshold and its fallback): exactly the
     * first k of (logit descending, id ascending), with ties at the boundary, against a sort */
    {
        enum { NV = 20000 };
        static float lg[NV], pr[NV];
        static int order[NV];
        for (int c2 = 0; c2 < 3; c2++) {
            const int k = c2 == 0 ? 5 : c2 == 1 ? 3000 : 50;
            for (int i = 0; i < NV; i++) {
                if (c2 == 2)  /* large values only where the threshold's samples fall: the fallback */
                    lg[i] = i % (NV / 1024) == 0 && i / (NV / 1024) < 20 ? 5.0f : (float)((i * 37) % 101) * 0.01f;
                else
                    lg[i] = (float)((i * 7919) % 997) * 0.01f;  /* many ties */
                order[i] = i;
            }
            sort_logits = lg;
            qsort(order, NV, sizeof *order, by_logit_desc);
            p = plain(); p.top_k = k;
            int kept = l3_sampler_distribution(&p, lg, NV, NULL, 0, pr);
            int wrong = kept != k;
            for (int r = 0; r < NV; r++) wrong += (pr[order[r]] > 0) != (r < k);
            printf("%s: top-k %d of %d logits keeps the first %d of a sort (%d wrong)\n", wrong ? "FAIL" : "ok  ", k, NV, k, wrong);
            failures += wrong != 0;
        }
    }

    /* top-p over a vocabulary-sized row (the selected head, sorted alone) against the rule
     * applied to a full sort of the same probabilities: the same tokens kept */
    {
        enum { NV = 20000 };
        static float lg[NV], all[NV], pr[NV];
        static int order[NV];
        const float tps[3] = { 0.5f, 0.9f, 0.999f };
        for (int c2 = 0; c2 < 3; c2++) {
            for (int i = 0; i < NV; i++) lg[i] = (float)((i * 7919) % 997) * 0.004f, order[i] = i;  /* ties */
            p = plain();
            l3_sampler_distribution(&p, lg, NV, NULL, 0, all);
            sort_logits = all;
            qsort(order, NV, sizeof *order, by_logit_desc);
            float cum = 0;
            int want = 0;
            for (int r = 0; r < NV; r++) {  /* Meta's rule: drop once the mass before exceeds p */
                cum += all[order[r]];
                if (cum - all[order[r]] > tps[c2]) break;
                want++;
            }
            p.top_p = tps[c2];
            int kept = l3_sampler_distribution(&p, lg, NV, NULL, 0, pr);
            int wrong = kept != want;
            for (int r = 0; r < NV; r++) wrong += (pr[order[r]] > 0) != (r < want);
            printf("%s: top-p %g of %d logits keeps the %d of the rule on a full sort (%d wrong)\n", wrong ? "FAIL" : "ok  ",
                   tps[c2], NV, want, wrong);
            failures += wrong != 0;
        }
    }

    /* greedy picks the first maximum, as torch.argmax */
    float ties[5] = { 0, 3, 1, 3, 2 };
    int g = l3_argmax(ties, 5);
    printf("%s: argmax takes the first of equal maxima (%d)\n", g == 1 ? "ok  " : "FAIL", g);
    failures += g != 1;
    /* against the plain scan, every length 1..40 (the 8-lane body and its tail) and every
     * position of the maximum, ties, negative values and a NaN that must not win */
    int bad = 0;
    for (int n = 1; n <= 40; n++)
        for (int at = 0; at < n; at++) {
            float v[40];
            for (int i = 0; i < n; i++) v[i] = -1.0f - (float)((i * 7) % 5);
            v[at] = -0.5f;
            if (at + 3 < n) v[at + 3] = -0.5f;      /* a later tie: the first one wins */
            if (at > 0) v[at - 1] = NAN;            /* NaNs are never the maximum */
            int want = 0;
            for (int i = 1; i < n; i++) if (v[i] > v[want]) want = i;
            bad += l3_argmax(v, n) != want;
        }
    float nan0[3] = { NAN, 5, 6 };  /* nothing compares greater than a leading NaN */
    bad += l3_argmax(nan0, 3) != 0;
    printf("%s: argmax agrees with the plain scan at every length and position (%d wrong)\n", bad ? "FAIL" : "ok  ", bad);
    failures += bad != 0;

    /* draws follow the distribution: 40000 draws at temperature 1 with top-p 0.8 */
    llama3_sampler_params sp = plain();
    sp.top_p = 0.8f;
    sp.seed = 1234;
    sp.repeat_last_n = 0;
    llama3_sampler *s = llama3_sampler_new(&sp, 4);
    int counts[4] = { 0 };
    for (int i = 0; i < 40000; i++) {
        float l[4];
        memcpy(l, logits, sizeof l);
        counts[llama3_sample(s, l)]++;
    }
    llama3_sampler_free(s);
    double f0 = counts[0] / 40000.0;
    int ok = fabs(f0 - top_p[0]) < 0.01 && counts[2] == 0 && counts[3] == 0;
    printf("%s: sampled frequencies %.3f/%.3f/%d/%d match %.3f/%.3f/0/0\n", ok ? "ok  " : "FAIL", f0,
           counts[1] / 40000.0, counts[2], counts[3], top_p[0], top_p[1]);
    failures += !ok;

    /* same seed, same draws */
    int32_t a[64], b[64];
    for (int rep2 = 0; rep2 < 2; rep2++) {
        sp = plain();
        sp.seed = 99;
        s = llama3_sampler_new(&sp, 4);
        for (int i = 0; i < 64; i++) {
            float l[4];
            memcpy(l, logits, sizeof l);
            (rep2 ? b : a)[i] = llama3_sample(s, l);
        }
        llama3_sampler_free(s);
    }
    ok = memcmp(a, b, sizeof a) == 0;
    printf("%s: the same seed gives the same draws\n", ok ? "ok  " : "FAIL");
    failures += !ok;

    /* OpenAI's logit_bias: added first, so greedy follows it; the logits come back biased */
    {
        llama3_sampler_params bp = plain();
        bp.temperature = 0;
        llama3_logit_bias bias[2] = { { 3, 5.0f }, { 99, 100.0f } };  /* 99: out of range, ignored */
        bp.logit_bias = bias;
        bp.n_logit_bias = 2;
        llama3_sampler *bs = llama3_sampler_new(&bp, 4);
        float l[4];
        memcpy(l, logits, sizeof l);
        int32_t id = llama3_sample(bs, l);
        llama3_sampler_free(bs);
        ok = id == 3 && l[3] == 4.0f && l[0] == 2.0f;
        printf("%s: logit_bias +5 on token 3 makes greedy pick it (%d, logit %g)\n", ok ? "ok  " : "FAIL", id, l[3]);
        failures += !ok;
    }
    /* frequency / presence penalties (OpenAI): logit -= count * frequency + (count > 0) * presence */
    {
        llama3_sampler_params fp = plain();
        fp.temperature = 0;
        fp.frequency_penalty = 0.5f;
        fp.presence_penalty = 0.2f;
        const float base[4] = { 2, 1.9f, 0, -1 };
        llama3_sampler *fs = llama3_sampler_new(&fp, 4);
        int32_t got[4];
        float l0[4];
        for (int i = 0; i < 4; i++) {
            float l[4];
            memcpy(l, base, sizeof l);
            got[i] = llama3_sample(fs, l);
            l0[i] = l[0];
        }
        llama3_sampler_free(fs);
        /* 0 (2 vs 1.9), then 1 (1.3 vs 1.9), then 0 (1.3 vs 1.2), then 1 (0.8 vs 1.2) */
        ok = got[0] == 0 && got[1] == 1 && got[2] == 0 && got[3] == 1 && fabsf(l0[1] - 1.3f) < 1e-6f &&
             fabsf(l0[3] - 0.8f) < 1e-6f;
        printf("%s: frequency 0.5 / presence 0.2 alternate greedy picks %d %d %d %d (logit of 0: %g, %g)\n", ok ? "ok  " : "FAIL",
               got[0], got[1], got[2], got[3], l0[1], l0[3]);
        failures += !ok;
    }
    /* log-probabilities: log-softmax, the top ones most likely first, -inf tokens left out */
    {
        const float l[5] = { 2, 1, 0, -1, -INFINITY };
        int32_t top[LLAMA3_MAX_TOP_LOGPROBS];
        float tlp[LLAMA3_MAX_TOP_LOGPROBS];
        int nw = 0;
        float lp = llama3_logprobs(l, 5, 1, 20, top, tlp, &nw);
        const double lz = log(Z);
        ok = fabs(lp - (1 - lz)) < 1e-5 && nw == 4 && top[0] == 0 && top[1] == 1 && top[2] == 2 && top[3] == 3 &&
             fabs(tlp[0] - (2 - lz)) < 1e-5 && fabs(tlp[3] - (-1 - lz)) < 1e-5 &&
             llama3_logprobs(l, 5, 4, 0, top, tlp, &nw) == -INFINITY && nw == 0;
        printf("%s: logprobs are the log-softmax (%g, want %g), top %d in order\n", ok ? "ok  " : "FAIL", lp, 1 - lz, nw);
        failures += !ok;
    }

    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures ? 1 : 0;
}
