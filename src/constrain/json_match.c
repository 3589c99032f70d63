/* The byte-level matcher for compiled schemas: JSON's grammar (RFC 8259, whitespace runs
 * bounded, strings valid UTF-8 without lone surrogates, numbers of at most 15 digits a part)
 * with the schema's types, enums, properties, required properties and items enforced as the
 * text is read, so that every prefix it accepts can still be completed into a valid
 * document, and js_completion finds the shortest such completion. */
#include <string.h>

#include "constrain/json_grammar.h"

enum { NODE_BOOL = 0, NODE_NULL = 1, NODE_ANY = 2 };

/* lexer states */
enum { LX_NONE, LX_VALUE, LX_STRING, LX_ESC, LX_HEX, LX_UTF8, LX_NUMBER, LX_LITERAL };
/* number parts: after '-', a leading 0, integer digits, '.', fraction digits, 'e', its sign,
 * exponent digits */
enum { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };
/* container phases: object after '{', after ',', after a key, after a value; array likewise */
enum { O_START, O_COMMA, O_COLON, O_AFTER, A_START = 8, A_COMMA, A_AFTER };

static int is_ws(uint8_t b) { return b == ' ' || b == '\n' || b == '\t' || b == '\r'; }
static int is_digit(uint8_t b) { return b >= '0' && b <= '9'; }
static int number_can_end(int sub) { return sub == N_ZERO || sub == N_INT || sub == N_FRAC || sub == N_EXP; }

static uint64_t all_bits(int n) { return n >= 64 ? ~0ull : (1ull << n) - 1; }

/* The keys an object may take next: the ones not given yet (only the first of them when its
 * properties come in order). */
static uint64_t next_keys(const js_node *n, const js_frame *f) {
    uint64_t free_ = all_bits(n->n_props) & ~f->used;
    return n->ordered ? free_ & (~free_ + 1) : free_;
}

static void lit_lists(const js_schema *s, const js_state *st, char ***lits, size_t **lens) {
    const js_node *n = &s->nodes[st->lit_node];
    *lits = st->lit_keys ? n->keys : n->lits;
    *lens = st->lit_keys ? n->key_len : n->lit_len;
}

/* The candidate that ends exactly here, or -1. */
static int lit_ended(const js_schema *s, const js_state *st) {
    char **lits;
    size_t *lens;
    lit_lists(s, st, &lits, &lens);
    for (int k = 0; k < 64; k++)
        if ((st->lit_mask >> k & 1) && lens[k] == st->lit_pos) return k;
    return -1;
}

void js_start(const js_schema *s, js_state *st) {
    memset(st, 0, sizeof *st);
    st->lex = LX_VALUE;
    st->want = (uint16_t)s->root;
}

/* A value (or key) was read: the container moves on. */
static void value_done(const js_schema *s, js_state *st) {
    (void)s;
    st->lex = LX_NONE;
    if (st->depth == 0) { st->done = 1; return; }
    js_frame *f = &st->stack[st->depth - 1];
    if (f->phase < A_START) {
        f->phase = st->is_key ? O_COLON : O_AFTER;
        st->is_key = 0;
    } else {
        f->phase = A_AFTER;
    }
}

static void literal_done(const js_schema *s, js_state *st, int k) {
    if (st->lit_keys) {
        js_frame *f = &st->stack[st->depth - 1];
        f->prop = (uint8_t)k;
        f->used |= 1ull << k;
    } else if (st->depth > 0) {
        js_frame *f = &st->stack[st->depth - 1];
        const js_node *pn = &s->nodes[f->node];
        if (pn->tool_call && f->phase == O_COLON && f->prop == 0) f->variant = (uint8_t)k;  /* the function named */
    }
    value_done(s, st);
}

static void start_literal(js_state *st, int node, uint64_t mask, int keys) {
    st->lex = LX_LITERAL;
    st->lit_node = (uint16_t)node;
    st->lit_mask = mask;
    st->lit_pos = 0;
    st->lit_keys = (uint8_t)keys;
}

static int push(js_state *st, int node, int phase) {
    if (st->depth >= JS_MAX_DEPTH) return -1;
    js_frame *f = &st->stack[st->depth++];
    memset(f, 0, sizeof *f);
    f->node = (uint16_t)node;
    f->phase = (uint8_t)phase;
    st->lex = LX_NONE;
    return 0;
}

static int close_frame(const js_schema *s, js_state *st) {
    st->depth--;
    value_done(s, st);
    return 0;
}

/* The node of the value after a key's ':'. */
static int value_node(const js_schema *s, const js_frame *f) {
    const js_node *n = &s->nodes[f->node];
    if (!n->n_props) return NODE_ANY;
    if (n->tool_call && f->prop == 1) return n->variant[f->variant];
    return n->prop_node[f->prop];
}

static int start_key(const js_schema *s, js_state *st) {
    js_frame *f = &st->stack[st->depth - 1];
    const js_node *n = &s->nodes[f->node];
    st->is_key = 1;
    if (!n->n_props) { st->lex = LX_STRING; return 0; }
    uint64_t cand = next_keys(n, f);
    if (!cand) return -1;
    start_literal(st, f->node, cand, 1);
    st->lit_pos = 1;  /* the opening quote, which every key text starts with */
    return 0;
}

int js_step(const js_schema *s, js_state *st, uint8_t b) {
    for (;;) {
        switch (st->lex) {
        case LX_STRING:
            if (b == '"') { value_done(s, st); return 0; }
            if (b == '\\') { st->lex = LX_ESC; return 0; }
            if (b < 0x20) return -1;
            if (b < 0x80) return 0;
            /* a UTF-8 lead byte: how many continuation bytes, and the range of the first */
            st->utf8_lo = 0x80, st->utf8_hi = 0xBF;
            if (b >= 0xC2 && b <= 0xDF) st->sub = 1;
            else if (b >= 0xE0 && b <= 0xEF) {
                st->sub = 2;
                if (b == 0xE0) st->utf8_lo = 0xA0;
                if (b == 0xED) st->utf8_hi = 0x9F;  /* no surrogates */
            } else if (b >= 0xF0 && b <= 0xF4) {
                st->sub = 3;
                if (b == 0xF0) st->utf8_lo = 0x90;
                if (b == 0xF4) st->utf8_hi = 0x8F;
            } else return -1;
            st->lex = LX_UTF8;
            return 0;
        case LX_UTF8:
            if (b < st->utf8_lo || b > st->utf8_hi) return -1;
            st->utf8_lo = 0x80, st->utf8_hi = 0xBF;
            if (--st->sub == 0) st->lex = LX_STRING;
            return 0;
        case LX_ESC:
            if (b == 'u') { st->lex = LX_HEX; st->sub = 0; return 0; }
            if (!strchr("\"\\/bfnrt", b) || !b) return -1;
            st->lex = LX_STRING;
            return 0;
        case LX_HEX: {
            int hex = is_digit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
            if (!hex) return -1;
            /* \uD800-\uDFFF (surrogates) are refused: bit 4 of sub marks a leading d */
            int count = st->sub & 7, lead_d = st->sub & 16;
            if (count == 0 && (b == 'd' || b == 'D')) lead_d = 16;
            else if (count == 1 && lead_d && !(b >= '0' && b <= '7')) return -1;
            count++;
            st->sub = (uint8_t)(lead_d | count);
            if (count == 4) st->lex = LX_STRING;
            return 0;
        }
        case LX_NUMBER: {
            const unsigned t = s->nodes[st->want].types;
            const int int_only = (t & JS_T_INTEGER) && !(t & JS_T_NUMBER);
            switch (st->sub) {
            case N_MINUS:
                if (b == '0') { st->sub = N_ZERO; return 0; }
                if (is_digit(b)) { st->sub = N_INT; st->lit_pos = 1; return 0; }
                return -1;
            case N_DOT:
                if (is_digit(b)) { st->sub = N_FRAC; st->lit_pos = 1; return 0; }
                return -1;
            case N_E:
                if (b == '+' || b == '-') { st->sub = N_ESIGN; return 0; }
                /* fall through */
            case N_ESIGN:
                if (is_digit(b)) { st->sub = N_EXP; st->lit_pos = 1; return 0; }
                return -1;
            default:  /* a number that may end here */
                if (is_digit(b) && st->sub != N_ZERO) {
                    const int cap = st->sub == N_EXP ? 2 : JS_MAX_DIGITS;
                    if (st->lit_pos < cap) { st->lit_pos++; return 0; }
                } else if (b == '.' && !int_only && (st->sub == N_ZERO || st->sub == N_INT)) {
                    st->sub = N_DOT; return 0;
                } else if ((b == 'e' || b == 'E') && !int_only && st->sub != N_EXP) {
                    st->sub = N_E; return 0;
                }
                value_done(s, st);  /* the number ended: b belongs to what follows */
                continue;
            }
        }
        case LX_LITERAL: {
            char **lits;
            size_t *lens;
            lit_lists(s, st, &lits, &lens);
            uint64_t m = 0;
            for (int k = 0; k < 64; k++)
                if ((st->lit_mask >> k & 1) && lens[k] > st->lit_pos && (uint8_t)lits[k][st->lit_pos] == b) m |= 1ull << k;
            if (m) { st->lit_mask = m; st->lit_pos++; return 0; }
            int k = lit_ended(s, st);
            if (k < 0) return -1;
            literal_done(s, st, k);
            continue;
        }
        case LX_VALUE: {
            if (is_ws(b)) return ++st->ws > JS_MAX_WS ? -1 : 0;
            const js_node *n = &s->nodes[st->want];
            st->ws = 0;
            if (n->n_lits) { start_literal(st, st->want, all_bits(n->n_lits), 0); continue; }
            const unsigned t = n->types;
            if (b == '{' && (t & JS_T_OBJECT)) return push(st, st->want, O_START);
            if (b == '[' && (t & JS_T_ARRAY)) return push(st, st->want, A_START);
            if (b == '"' && (t & JS_T_STRING)) { st->lex = LX_STRING; return 0; }
            if ((b == '-' || is_digit(b)) && (t & (JS_T_NUMBER | JS_T_INTEGER))) {
                st->lex = LX_NUMBER;
                st->sub = b == '-' ? N_MINUS : b == '0' ? N_ZERO : N_INT;
                st->lit_pos = b == '-' ? 0 : 1;
                return 0;
            }
            if ((b == 't' || b == 'f') && (t & JS_T_BOOLEAN)) { start_literal(st, NODE_BOOL, 3, 0); continue; }
            if (b == 'n' && (t & JS_T_NULL)) { start_literal(st, NODE_NULL, 1, 0); continue; }
            return -1;
        }
        case LX_NONE: {
            if (st->depth == 0) {  /* the document is complete: nothing follows, but another one */
                if (b != ';' || st->docs + 1 >= s->max_docs) return -1;
                st->docs++;
                st->done = 0;
                st->ws = 0;
                st->lex = LX_VALUE;
                st->want = (uint16_t)s->root;
                return 0;
            }
            if (is_ws(b)) return ++st->ws > JS_MAX_WS ? -1 : 0;
            st->ws = 0;
            js_frame *f = &st->stack[st->depth - 1];
            const js_node *n = &s->nodes[f->node];
            switch (f->phase) {
            case O_START:
            case O_AFTER:
                if (b == '}') return (n->required & ~f->used) ? -1 : close_frame(s, st);
                if (f->phase == O_START) return b == '"' ? start_key(s, st) : -1;
                if (b != ',' || (n->n_props && !next_keys(n, f))) return -1;
                f->phase = O_COMMA;
                return 0;
            case O_COMMA:
                return b == '"' ? start_key(s, st) : -1;
            case O_COLON:
                if (b != ':') return -1;
                st->lex = LX_VALUE;
                st->want = (uint16_t)value_node(s, f);
                return 0;
            case A_START:
            case A_COMMA:
                if (b == ']' && f->phase == A_START) return close_frame(s, st);
                st->lex = LX_VALUE;
                st->want = (uint16_t)n->items;
                continue;
            case A_AFTER:
                if (b == ']') return close_frame(s, st);
                if (b != ',') return -1;
                f->phase = A_COMMA;
                return 0;
            }
            return -1;
        }
        }
        return -1;
    }
}

int js_complete(const js_schema *s, const js_state *st) {
    if (st->depth) return 0;
    if (st->lex == LX_NONE) return st->done;
    if (st->lex == LX_NUMBER) return number_can_end(st->sub);
    if (st->lex == LX_LITERAL) return lit_ended(s, st) >= 0;
    return 0;
}

/* The first byte of the shortest value of node n. */
static int value_start(const js_schema *s, int node) {
    const js_node *n = &s->nodes[node];
    if (n->n_lits) {
        int best = 0;
        for (int k = 1; k < n->n_lits; k++)
            if (n->lit_len[k] < n->lit_len[best]) best = k;
        return (uint8_t)n->lits[best][0];
    }
    const unsigned t = n->types;
    return t & (JS_T_NUMBER | JS_T_INTEGER) ? '0' : t & JS_T_STRING ? '"' : t & JS_T_ARRAY ? '[' : t & JS_T_OBJECT ? '{'
         : t & JS_T_BOOLEAN ? 't' : 'n';
}

/* The next byte on the shortest way to a complete document (-1: complete). */
static int closing_byte(const js_schema *s, const js_state *st0) {
    js_state st;
    memcpy(&st, st0, js_state_size(st0));
    switch (st.lex) {
    case LX_STRING: return '"';
    case LX_ESC: return 'n';
    case LX_HEX: return '0';
    case LX_UTF8: return st.utf8_lo;
    case LX_VALUE: return value_start(s, st.want);
    case LX_NUMBER:
        if (!number_can_end(st.sub)) return '0';
        value_done(s, &st);
        break;
    case LX_LITERAL: {
        int k = lit_ended(s, &st);
        if (k < 0) {
            char **lits;
            size_t *lens;
            lit_lists(s, &st, &lits, &lens);
            uint64_t mask = st.lit_mask;
            if (st.lit_keys) {  /* prefer a required key */
                const js_frame *f = &st.stack[st.depth - 1];
                uint64_t req = mask & s->nodes[f->node].required & ~f->used;
                if (req) mask = req;
            }
            int best = -1;
            for (int j = 0; j < 64; j++)
                if ((mask >> j & 1) && (best < 0 || lens[j] < lens[best])) best = j;
            return (uint8_t)lits[best][st.lit_pos];
        }
        literal_done(s, &st, k);
        break;
    }
    default: break;
    }
    if (st.depth == 0) return -1;
    const js_frame *f = &st.stack[st.depth - 1];
    const js_node *n = &s->nodes[f->node];
    const int missing = (n->required & ~f->used) != 0;
    switch (f->phase) {
    case O_START: return missing ? '"' : '}';
    case O_AFTER: return missing ? ',' : '}';
    case O_COMMA: return '"';
    case O_COLON: return ':';
    case A_COMMA: return value_start(s, n->items);
    default: return ']';
    }
}

int js_completion(const js_schema *s, const js_state *st0, char *out, int cap) {
    js_state st;
    memcpy(&st, st0, js_state_size(st0));
    int n = 0;
    while (!js_complete(s, &st)) {
        int b = closing_byte(s, &st);
        if (b < 0 || n == cap || js_step(s, &st, (uint8_t)b)) return -1;
        out[n++] = (char)b;
    }
    return n;
}
