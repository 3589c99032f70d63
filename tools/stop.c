/* Stop strings for run and chat (-r / --reverse-prompt): generation ends where one of them
 * completes, and it is not printed. Text that could still become one is held back. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int append(char **buf, size_t *n, size_t *cap, const char *s, size_t k) {
    if (*n + k + 1 > *cap) {
        size_t c = (*n + k + 1) * 2;
        char *nb = realloc(*buf, c);
        if (!nb) return -1;
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *n, s, k);
    *n += k;
    (*buf)[*n] = 0;
    return 0;
}

/* The longest tail of s[0..n) that is a proper prefix of a stop string. */
static size_t held_tail(const cli_stop *st, const char *s, size_t n) {
    size_t best = 0;
    for (int k = 0; k < st->n_stops; k++) {
        size_t len = strlen(st->stops[k]);
        for (size_t t = len > n + 1 ? n : len - 1; t > best; t--)
            if (!memcmp(s + n - t, st->stops[k], t)) { best = t; break; }
    }
    return best;
}

int cli_stop_push(cli_stop *st, const char *text, size_t n, char **out, size_t *n_out, size_t *cap_out) {
    *n_out = 0;
    if (append(&st->held, &st->n_held, &st->cap, text, n)) return -1;
    /* the earliest complete stop string */
    size_t at = st->n_held;
    bool found = false;
    for (int k = 0; k < st->n_stops; k++) {
        size_t len = strlen(st->stops[k]);
        for (size_t i = 0; len && i + len <= st->n_held && i < at; i++)
            if (!memcmp(st->held + i, st->stops[k], len)) { at = i; found = true; break; }
    }
    size_t emit = found ? at : st->n_held - held_tail(st, st->held, st->n_held);
    if (append(out, n_out, cap_out, st->held, emit)) return -1;
    memmove(st->held, st->held + emit, st->n_held - emit);
    st->n_held -= emit;
    if (found) st->n_held = 0;
    return found ? 1 : 0;
}

const char *cli_stop_flush(cli_stop *st, size_t *n) {
    *n = st->n_held;
    st->n_held = 0;
    return st->held ? st->held : "";
}

void cli_stop_free(cli_stop *st) {
    free(st->held);
    st->held = NULL;
    st->n_held = st->cap = 0;
}
