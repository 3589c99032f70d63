/* The pre-tokenizer: Meta's pat_str run by PCRE2 (UTF + UCP, JIT-compiled).
 *
 * Why PCRE2: the pattern needs Unicode properties (\p{L}, \p{N}), a case-insensitive group
 * and a negative lookahead (\s+(?!\S)); PCRE2 gives all three with the same leftmost-first
 * backtracking semantics as tiktoken's fancy-regex, and its JIT is fast enough that BPE,
 * not splitting, dominates encode time.
 *
 * One change to the text of the pattern: tiktoken's regex engine takes \s as the Unicode
 * White_Space property, while PCRE2's UCP \s also matches U+180E, so \s is spelled out as an
 * explicit White_Space class. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdlib.h>
#include "tokenizer/tokenizer.h"

#define WS "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

static const char k_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
    "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
    "|\\p{N}{1,3}"
    "| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*"
    "|[" WS "]*[\\r\\n]+"
    "|[" WS "]+(?![^" WS "])"
    "|[" WS "]+";

struct l3_pretok {
    pcre2_code *re;
    int jit;
};

int l3_pretok_new(l3_pretok **out, llama3_error *err) {
    *out = NULL;
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)k_pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                                   &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "PCRE2 cannot compile the Llama 3 pre-tokenizer pattern at %zu: %s",
                       (size_t)eo, (const char *)msg);
    }
    l3_pretok *p = malloc(sizeof *p);
    if (!p) {
        pcre2_code_free(re);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    }
    p->re = re;
    p->jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;  /* falls back to the interpreter */
    *out = p;
    return 0;
}

void l3_pretok_free(l3_pretok *p) {
    if (!p) return;
    pcre2_code_free(p->re);
    free(p);
}

/* s must be valid UTF-8 (checked by the caller once, so matches skip PCRE2's per-call check,
 * which would otherwise rescan the rest of the subject at every match). */
int l3_pretok_split(const l3_pretok *p, const char *s, size_t n, l3_piece_fn fn, void *ctx,
                    llama3_error *err) {
    if (n == 0) return 0;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    int rc = 0;
    size_t at = 0;
    while (at < n) {
        int r = p->jit ? pcre2_jit_match(p->re, (PCRE2_SPTR)s, n, at, PCRE2_NO_UTF_CHECK, md, NULL)
                       : pcre2_match(p->re, (PCRE2_SPTR)s, n, at, PCRE2_NO_UTF_CHECK, md, NULL);
        size_t b, e;
        if (r == PCRE2_ERROR_NOMATCH) {
            b = e = n;
        } else if (r < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(r, msg, sizeof msg);
            rc = l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "pre-tokenizer match failed at byte %zu: %s", at,
                         (const char *)msg);
            break;
        } else {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            b = ov[0];
            e = ov[1];
            if (e <= b) e = b + 1;  /* cannot happen (no alternative matches empty); never loop */
        }
        /* Every valid character matches some alternative, so there is no gap; if there were,
         * the skipped text is kept as a piece of its own rather than dropped. */
        if (b > at && (rc = fn(ctx, s + at, b - at)) != 0) break;
        if (e > b && (rc = fn(ctx, s + b, e - b)) != 0) break;
        at = e;
    }
    pcre2_match_data_free(md);
    return rc;
}
