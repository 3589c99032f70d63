#include "formats/torch_pth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/zip.h"
#include "tensor_types.h"

/* ---- pickle values ---------------------------------------------------------------------- */

typedef enum pv_kind {
    PV_MARK, PV_NONE, PV_BOOL, PV_INT, PV_STR, PV_TUPLE, PV_LIST, PV_DICT, PV_GLOBAL,
    PV_STORAGE, PV_TENSOR
} pv_kind;

/* The only callables / classes a state dict needs. */
typedef enum pv_global {
    G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_ORDERED_DICT,
    G_STORAGE_F32, G_STORAGE_F16, G_STORAGE_BF16
} pv_global;

static const struct { const char *module, *name; pv_global id; } ALLOWED_GLOBALS[] = {
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER},
    {"collections", "OrderedDict", G_ORDERED_DICT},
    {"torch", "FloatStorage", G_STORAGE_F32},
    {"torch", "HalfStorage", G_STORAGE_F16},
    {"torch", "BFloat16Storage", G_STORAGE_BF16},
};

typedef struct pv {
    pv_kind kind;
    int64_t i;                /* PV_INT, PV_BOOL, PV_GLOBAL (pv_global) */
    char *s;                  /* PV_STR (owned, NUL-terminated) */
    struct pv **items;        /* PV_TUPLE, PV_LIST, PV_DICT (key, value pairs) */
    size_t n, cap;
    /* PV_STORAGE and PV_TENSOR */
    int l3type, elem_size;
    const uint8_t *data;
    uint64_t numel;           /* storage elements (PV_STORAGE) */
    uint64_t nbytes;
    int n_dims;
    int64_t shape[L3_PTH_MAX_DIMS];
} pv;

/* Stack and memo depth limits: far above what a state dict uses, well below memory trouble. */
#define PK_MAX_STACK (1u << 20)
#define PK_MAX_MEMO (1u << 24)
/* every value costs ~200 bytes, so 2-byte opcodes ("Na" = append None to a list) would turn
 * each input byte into ~80 bytes of memory. A state dict needs ~10 values per
 * tensor (405B: ~1,100 tensors per shard); 1M values is far above any real checkpoint. */
#define PK_MAX_VALUES (1u << 20)

typedef struct pk_machine {
    const uint8_t *buf;
    uint64_t len, pos;
    const char *path;
    const l3_zip *zip;
    const char *prefix;
    l3_pth *out;
    pv **all; size_t n_all, cap_all;       /* every value, freed together */
    pv **stack; size_t sp, cap_stack;
    pv **memo; size_t n_memo;
    pv mark;                                /* the MARK sentinel */
    llama3_error *err;
    int too_many;                           /* PK_MAX_VALUES reached */
} pk_machine;

static int pk_oom(pk_machine *m) {
    if (m->too_many)
        return l3_fail(m->err, LLAMA3_ERR_FORMAT, "%s: data.pkl builds more than %u values; not a state dict",
                       m->path, PK_MAX_VALUES);
    return l3_fail(m->err, LLAMA3_ERR_MEMORY, "%s: out of memory", m->path);
}

static int pk_bad(pk_machine *m, const char *what) {
    return l3_fail(m->err, LLAMA3_ERR_FORMAT, "%s: data.pkl offset %llu: %s", m->path,
                   (unsigned long long)m->pos, what);
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, nc * elem);
    if (!p) return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

static pv *pk_new(pk_machine *m, pv_kind kind) {
    if (m->n_all >= PK_MAX_VALUES) { m->too_many = 1; return NULL; }
    if (grow((void **)&m->all, &m->cap_all, m->n_all + 1, sizeof(pv *))) return NULL;
    pv *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = kind;
    m->all[m->n_all++] = v;
    return v;
}

static int pk_push(pk_machine *m, pv *v) {
    if (!v) return pk_oom(m);
    if (m->sp >= PK_MAX_STACK) return pk_bad(m, "pickle stack too deep");
    if (grow((void **)&m->stack, &m->cap_stack, m->sp + 1, sizeof(pv *))) return pk_oom(m);
    m->stack[m->sp++] = v;
    return 0;
}

static pv *pk_pop(pk_machine *m) {
    if (m->sp == 0 || m->stack[m->sp - 1] == &m->mark) return NULL;
    return m->stack[--m->sp];
}

/* Index of the topmost MARK, or -1. */
static int64_t pk_find_mark(const pk_machine *m) {
    for (size_t i = m->sp; i-- > 0;)
        if (m->stack[i] == &m->mark) return (int64_t)i;
    return -1;
}

static int pk_append(pv *c, pv *v) {
    if (grow((void **)&c->items, &c->cap, c->n + 1, sizeof(pv *))) return -1;
    c->items[c->n++] = v;
    return 0;
}

/* Pops the values above the topmost MARK (and the mark) into a new tuple/list. */
static pv *pk_pop_to_mark(pk_machine *m, pv_kind kind, int *rc) {
    int64_t mk = pk_find_mark(m);
    if (mk < 0) { *rc = pk_bad(m, "MARK expected on the stack"); return NULL; }
    pv *t = pk_new(m, kind);
    if (!t) { *rc = pk_oom(m); return NULL; }
    for (size_t i = (size_t)mk + 1; i < m->sp; i++)
        if (pk_append(t, m->stack[i])) { *rc = pk_oom(m); return NULL; }
    m->sp = (size_t)mk;
    return t;
}

static int pk_need(pk_machine *m, uint64_t n) {
    if (n > m->len - m->pos) return pk_bad(m, "truncated pickle");
    return 0;
}

static uint64_t pk_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int pk_string(pk_machine *m, uint64_t n) {
    int rc = pk_need(m, n);
    if (rc) return rc;
    pv *v = pk_new(m, PV_STR);
    if (!v || !(v->s = malloc((size_t)n + 1))) return pk_oom(m);
    memcpy(v->s, m->buf + m->pos, (size_t)n);
    v->s[n] = 0;
    v->n = (size_t)n;
    m->pos += n;
    return pk_push(m, v);
}

static int pk_global(pk_machine *m, const char *module, const char *name) {
    for (size_t i = 0; i < sizeof ALLOWED_GLOBALS / sizeof ALLOWED_GLOBALS[0]; i++)
        if (strcmp(ALLOWED_GLOBALS[i].module, module) == 0 && strcmp(ALLOWED_GLOBALS[i].name, name) == 0) {
            pv *v = pk_new(m, PV_GLOBAL);
            if (!v) return pk_oom(m);
            v->i = ALLOWED_GLOBALS[i].id;
            return pk_push(m, v);
        }
    return l3_fail(m->err, LLAMA3_ERR_UNSUPPORTED,
                   "%s: data.pkl offset %llu: GLOBAL %.100s.%.100s is not allowed (a state dict "
                   "only needs tensor rebuilding, OrderedDict and typed storages); refused",
                   m->path, (unsigned long long)m->pos, module, name);
}

/* GLOBAL's argument: "module\nname\n". */
static int pk_read_line(pk_machine *m, char *out, size_t cap) {
    for (size_t i = 0; m->pos < m->len; i++) {
        uint8_t c = m->buf[m->pos++];
        if (c == '\n') { out[i] = 0; return 0; }
        if (i + 1 >= cap || c == 0) return pk_bad(m, "malformed GLOBAL name");
        out[i] = (char)c;
    }
    return pk_bad(m, "truncated pickle");
}

/* ('storage', <storage class>, key, location, numel) -> the zip entry <prefix>/data/<key>. */
static int pk_persistent_load(pk_machine *m, pv *pid) {
    if (pid->kind != PV_TUPLE || pid->n != 5 || pid->items[0]->kind != PV_STR ||
        strcmp(pid->items[0]->s, "storage") != 0 || pid->items[1]->kind != PV_GLOBAL ||
        pid->items[2]->kind != PV_STR || pid->items[4]->kind != PV_INT || pid->items[4]->i < 0)
        return pk_bad(m, "persistent id is not ('storage', type, key, location, numel)");
    pv *v = pk_new(m, PV_STORAGE);
    if (!v) return pk_oom(m);
    switch (pid->items[1]->i) {
    case G_STORAGE_F32: v->l3type = L3_F32; v->elem_size = 4; break;
    case G_STORAGE_F16: v->l3type = L3_F16; v->elem_size = 2; break;
    case G_STORAGE_BF16: v->l3type = L3_BF16; v->elem_size = 2; break;
    default: return pk_bad(m, "persistent id names a class that is not a float storage");
    }
    char name[512];
    if ((size_t)snprintf(name, sizeof name, "%s/data/%s", m->prefix, pid->items[2]->s) >= sizeof name)
        return pk_bad(m, "storage key too long");
    const l3_zip_entry *e = l3_zip_find(m->zip, name);
    if (!e)
        return l3_fail(m->err, LLAMA3_ERR_FORMAT, "%s: storage %s: zip entry missing", m->path, name);
    uint64_t len;
    int rc = l3_zip_entry_data(m->zip, e, &v->data, &len, m->err);
    if (rc) return rc;
    v->numel = (uint64_t)pid->items[4]->i;
    if (!l3_mul_ok(v->numel, (uint64_t)v->elem_size, &v->nbytes) || v->nbytes > len)
        return l3_fail(m->err, LLAMA3_ERR_FORMAT,
                       "%s: storage %s: %llu elements do not fit its %llu bytes", m->path, name,
                       (unsigned long long)v->numel, (unsigned long long)len);
    return pk_push(m, v);
}

static int pk_int_tuple(const pv *t, int64_t *out, int max) {
    if (t->kind != PV_TUPLE || t->n > (size_t)max) return -1;
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i]->kind != PV_INT || t->items[i]->i < 0) return -1;
        out[i] = t->items[i]->i;
    }
    return (int)t->n;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata]):
 * a view of the storage, which must be contiguous (row-major) to be used in place. */
static int pk_rebuild_tensor(pk_machine *m, pv *args) {
    if (args->kind != PV_TUPLE || args->n < 4 || args->items[0]->kind != PV_STORAGE ||
        args->items[1]->kind != PV_INT || args->items[1]->i < 0)
        return pk_bad(m, "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)");
    const pv *st = args->items[0];
    int64_t size[L3_PTH_MAX_DIMS], stride[L3_PTH_MAX_DIMS];
    int nd = pk_int_tuple(args->items[2], size, L3_PTH_MAX_DIMS);
    int ns = pk_int_tuple(args->items[3], stride, L3_PTH_MAX_DIMS);
    if (nd < 0 || ns != nd) return pk_bad(m, "tensor size/stride are not tuples of equal length");
    uint64_t numel = 1, expect = 1;
    for (int d = nd - 1; d >= 0; d--) {
        if (size[d] != 1 && stride[d] != (int64_t)expect)
            return l3_fail(m->err, LLAMA3_ERR_UNSUPPORTED,
                           "%s: data.pkl offset %llu: tensor is not contiguous (dim %d has stride %lld, "
                           "expected %llu)", m->path, (unsigned long long)m->pos, d,
                           (long long)stride[d], (unsigned long long)expect);
        if (!l3_mul_ok(numel, (uint64_t)size[d], &numel)) return pk_bad(m, "tensor size overflows");
        expect = numel;
    }
    uint64_t off = (uint64_t)args->items[1]->i, end;
    if (!l3_add_ok(off, numel, &end) || end > st->numel)
        return pk_bad(m, "tensor runs past the end of its storage");
    pv *t = pk_new(m, PV_TENSOR);
    if (!t) return pk_oom(m);
    t->l3type = st->l3type;
    t->elem_size = st->elem_size;
    t->n_dims = nd;
    memcpy(t->shape, size, sizeof(int64_t) * (size_t)nd);
    t->nbytes = numel * (uint64_t)st->elem_size;  /* <= storage bytes: no overflow */
    t->data = st->data + off * (uint64_t)st->elem_size;
    if ((uintptr_t)t->data % (uintptr_t)t->elem_size != 0) {
        /* Misaligned in the archive: keep an aligned private copy. */
        void **owned = realloc(m->out->owned, sizeof(void *) * (size_t)(m->out->n_owned + 1));
        if (!owned) return pk_oom(m);
        m->out->owned = owned;
        void *copy = malloc(t->nbytes ? t->nbytes : 1);
        if (!copy) return pk_oom(m);
        memcpy(copy, t->data, t->nbytes);
        owned[m->out->n_owned++] = copy;
        t->data = copy;
    }
    return pk_push(m, t);
}

static int pk_reduce(pk_machine *m) {
    pv *args = pk_pop(m), *fn = pk_pop(m);
    if (!args || !fn) return pk_bad(m, "REDUCE needs a callable and arguments");
    if (fn->kind != PV_GLOBAL || args->kind != PV_TUPLE) return pk_bad(m, "REDUCE of a non-callable");
    switch (fn->i) {
    case G_REBUILD_TENSOR_V2:
        return pk_rebuild_tensor(m, args);
    case G_REBUILD_PARAMETER:
        if (args->n < 1 || args->items[0]->kind != PV_TENSOR)
            return pk_bad(m, "_rebuild_parameter of something that is not a tensor");
        return pk_push(m, args->items[0]);
    case G_ORDERED_DICT:
        if (args->n != 0) return pk_bad(m, "OrderedDict called with arguments");
        return pk_push(m, pk_new(m, PV_DICT));
    default:
        return pk_bad(m, "REDUCE of a storage class");
    }
}

static int pk_memo_put(pk_machine *m, uint64_t idx) {
    if (m->sp == 0 || m->stack[m->sp - 1] == &m->mark) return pk_bad(m, "PUT with an empty stack");
    /* pickle memo indices count PUTs, so they stay below the pickle's length; without that
     * bound a 5-byte LONG_BINPUT would allocate a 128 MiB memo. */
    if (idx >= PK_MAX_MEMO || idx > m->len) return pk_bad(m, "memo index too large");
    if (idx >= m->n_memo) {
        pv **nm = realloc(m->memo, sizeof(pv *) * (size_t)(idx + 1));
        if (!nm) return pk_oom(m);
        memset(nm + m->n_memo, 0, sizeof(pv *) * (size_t)(idx + 1 - m->n_memo));
        m->memo = nm;
        m->n_memo = (size_t)idx + 1;
    }
    m->memo[idx] = m->stack[m->sp - 1];
    return 0;
}

static int pk_memo_get(pk_machine *m, uint64_t idx) {
    if (idx >= m->n_memo || !m->memo[idx]) return pk_bad(m, "GET of an unset memo entry");
    return pk_push(m, m->memo[idx]);
}

static int pk_setitems(pk_machine *m, size_t from) {
    if (from == 0 || m->stack[from - 1]->kind != PV_DICT || (m->sp - from) % 2)
        return pk_bad(m, "SETITEM(S) on something that is not a dict");
    pv *d = m->stack[from - 1];
    for (size_t i = from; i < m->sp; i++)
        if (pk_append(d, m->stack[i])) return pk_oom(m);
    m->sp = from;
    return 0;
}

/* One opcode. Returns 0, 1 at STOP, or an error. */
static int pk_step(pk_machine *m) {
    int rc;
    uint8_t op = m->buf[m->pos++];
    pv *v, *w;
    switch (op) {
    case 0x80: /* PROTO */
        if ((rc = pk_need(m, 1))) return rc;
        if (m->buf[m->pos++] > 5) return pk_bad(m, "pickle protocol above 5");
        return 0;
    case 0x95: /* FRAME: framing is only a read-ahead hint */
        if ((rc = pk_need(m, 8))) return rc;
        m->pos += 8;
        return 0;
    case '.': /* STOP */
        return 1;
    case '(': return pk_push(m, &m->mark);
    case '}': return pk_push(m, pk_new(m, PV_DICT));
    case ']': return pk_push(m, pk_new(m, PV_LIST));
    case ')': return pk_push(m, pk_new(m, PV_TUPLE));
    case 'N': return pk_push(m, pk_new(m, PV_NONE));
    case 0x88: case 0x89: /* NEWTRUE, NEWFALSE */
        if (!(v = pk_new(m, PV_BOOL))) return pk_oom(m);
        v->i = op == 0x88;
        return pk_push(m, v);
    case 'J': case 'K': case 'M': { /* BININT (i32), BININT1 (u8), BININT2 (u16) */
        int n = op == 'J' ? 4 : op == 'K' ? 1 : 2;
        if ((rc = pk_need(m, (uint64_t)n))) return rc;
        if (!(v = pk_new(m, PV_INT))) return pk_oom(m);
        uint64_t u = pk_le(m->buf + m->pos, n);
        v->i = op == 'J' ? (int64_t)(int32_t)(uint32_t)u : (int64_t)u;
        m->pos += (uint64_t)n;
        return pk_push(m, v);
    }
    case 0x8a: { /* LONG1: little-endian two's complement of n <= 8 bytes */
        if ((rc = pk_need(m, 1))) return rc;
        int n = m->buf[m->pos++];
        if (n > 8) return pk_bad(m, "LONG1 integer wider than 64 bits");
        if ((rc = pk_need(m, (uint64_t)n))) return rc;
        uint64_t u = pk_le(m->buf + m->pos, n);
        if (n > 0 && n < 8 && (m->buf[m->pos + n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n);
        m->pos += (uint64_t)n;
        if (!(v = pk_new(m, PV_INT))) return pk_oom(m);
        v->i = (int64_t)u;
        return pk_push(m, v);
    }
    case 'X': case 0x8c: case 0x8d: { /* BINUNICODE (u32), SHORT_BINUNICODE (u8), BINUNICODE8 */
        int n = op == 'X' ? 4 : op == 0x8c ? 1 : 8;
        if ((rc = pk_need(m, (uint64_t)n))) return rc;
        uint64_t len = pk_le(m->buf + m->pos, n);
        m->pos += (uint64_t)n;
        return pk_string(m, len);
    }
    case 't': case 'l': /* TUPLE, LIST */
        if (!(v = pk_pop_to_mark(m, op == 't' ? PV_TUPLE : PV_LIST, &rc))) return rc;
        return pk_push(m, v);
    case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
        size_t n = (size_t)(op - 0x84);
        if (m->sp < n) return pk_bad(m, "TUPLEn with too few values");
        if (!(v = pk_new(m, PV_TUPLE))) return pk_oom(m);
        for (size_t i = m->sp - n; i < m->sp; i++) {
            if (m->stack[i] == &m->mark) return pk_bad(m, "TUPLEn over a MARK");
            if (pk_append(v, m->stack[i])) return pk_oom(m);
        }
        m->sp -= n;
        return pk_push(m, v);
    }
    case 'c': { /* GLOBAL */
        char module[128], name[128];
        if ((rc = pk_read_line(m, module, sizeof module)) || (rc = pk_read_line(m, name, sizeof name)))
            return rc;
        return pk_global(m, module, name);
    }
    case 0x93: /* STACK_GLOBAL */
        w = pk_pop(m);
        v = pk_pop(m);
        if (!v || !w || v->kind != PV_STR || w->kind != PV_STR)
            return pk_bad(m, "STACK_GLOBAL needs two strings");
        return pk_global(m, v->s, w->s);
    case 'Q': /* BINPERSID */
        if (!(v = pk_pop(m))) return pk_bad(m, "BINPERSID with an empty stack");
        return pk_persistent_load(m, v);
    case 'R': return pk_reduce(m);
    case 'b': /* BUILD: only an OrderedDict's attribute dict (e.g. _metadata), ignored */
        v = pk_pop(m);
        if (!v || m->sp == 0 || (v->kind != PV_DICT && v->kind != PV_NONE) ||
            m->stack[m->sp - 1]->kind != PV_DICT)
            return pk_bad(m, "BUILD is only supported on a dict");
        return 0;
    case 's': /* SETITEM */
        if (m->sp < 3) return pk_bad(m, "SETITEM with too few values");
        return pk_setitems(m, m->sp - 2);
    case 'u': { /* SETITEMS */
        int64_t mk = pk_find_mark(m);
        if (mk < 0) return pk_bad(m, "SETITEMS without MARK");
        memmove(m->stack + mk, m->stack + mk + 1, sizeof(pv *) * (m->sp - (size_t)mk - 1));
        m->sp--;
        return pk_setitems(m, (size_t)mk);
    }
    case 'a': /* APPEND */
        if (!(v = pk_pop(m)) || m->sp == 0 || m->stack[m->sp - 1]->kind != PV_LIST)
            return pk_bad(m, "APPEND to something that is not a list");
        return pk_append(m->stack[m->sp - 1], v) ? pk_oom(m) : 0;
    case 'e': { /* APPENDS */
        int64_t mk = pk_find_mark(m);
        if (mk < 1 || m->stack[mk - 1]->kind != PV_LIST) return pk_bad(m, "APPENDS to something that is not a list");
        for (size_t i = (size_t)mk + 1; i < m->sp; i++)
            if (pk_append(m->stack[mk - 1], m->stack[i])) return pk_oom(m);
        m->sp = (size_t)mk;
        return 0;
    }
    case 'q': case 'r': { /* BINPUT (u8), LONG_BINPUT (u32) */
        int n = op == 'q' ? 1 : 4;
        if ((rc = pk_need(m, (uint64_t)n))) return rc;
        uint64_t idx = pk_le(m->buf + m->pos, n);
        m->pos += (uint64_t)n;
        return pk_memo_put(m, idx);
    }
    case 0x94: /* MEMOIZE */
        return pk_memo_put(m, m->n_memo);
    case 'h': case 'j': { /* BINGET (u8), LONG_BINGET (u32) */
        int n = op == 'h' ? 1 : 4;
        if ((rc = pk_need(m, (uint64_t)n))) return rc;
        uint64_t idx = pk_le(m->buf + m->pos, n);
        m->pos += (uint64_t)n;
        return pk_memo_get(m, idx);
    }
    default:
        m->pos--;
        if (op >= 0x20 && op < 0x7f)
            return l3_fail(m->err, LLAMA3_ERR_UNSUPPORTED,
                           "%s: data.pkl offset %llu: pickle opcode 0x%02x ('%c') is outside the "
                           "state-dict subset; refused", m->path, (unsigned long long)m->pos, op, op);
        return l3_fail(m->err, LLAMA3_ERR_UNSUPPORTED,
                       "%s: data.pkl offset %llu: pickle opcode 0x%02x is outside the state-dict "
                       "subset; refused", m->path, (unsigned long long)m->pos, op);
    }
}

static int cmp_tensor_ptr(const void *a, const void *b) {
    const l3_pth_tensor *x = *(const l3_pth_tensor *const *)a, *y = *(const l3_pth_tensor *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x > y) - (x < y);  /* ties keep dict order: the first one is found */
}

/* hardening: p->tensors is kept sorted by name so that l3_pth_find is a binary search (a Meta
 * loader looks up ~10 tensors per layer per shard, which was O(layers x tensors)). Sorted
 * through pointers with a position tie-break, so repeated names keep their order. */
static int pk_sort_tensors(pk_machine *m, l3_pth *p) {
    if (p->n_tensors < 2) return 0;
    size_t n = (size_t)p->n_tensors;
    const l3_pth_tensor **idx = malloc(n * sizeof *idx);
    l3_pth_tensor *sorted = malloc(n * sizeof *sorted);
    if (!idx || !sorted) { free(idx); free(sorted); return pk_oom(m); }
    for (size_t i = 0; i < n; i++) idx[i] = &p->tensors[i];
    qsort(idx, n, sizeof *idx, cmp_tensor_ptr);
    for (size_t i = 0; i < n; i++) sorted[i] = *idx[i];
    free(idx);
    free(p->tensors);
    p->tensors = sorted;
    return 0;
}

/* The unpickled object must be a dict of name -> tensor (other values are skipped). */
static int pk_collect(pk_machine *m, const pv *root) {
    if (!root || root->kind != PV_DICT)
        return l3_fail(m->err, LLAMA3_ERR_FORMAT, "%s: data.pkl does not hold a dict (state dict)", m->path);
    l3_pth *p = m->out;
    p->tensors = calloc(root->n / 2 + 1, sizeof *p->tensors);
    if (!p->tensors) return pk_oom(m);
    for (size_t i = 0; i + 1 < root->n; i += 2) {
        const pv *k = root->items[i], *t = root->items[i + 1];
        if (k->kind != PV_STR || t->kind != PV_TENSOR) continue;
        l3_pth_tensor *o = &p->tensors[p->n_tensors];
        if (!(o->name = strdup(k->s))) return pk_oom(m);
        p->n_tensors++;
        o->l3type = t->l3type;
        o->elem_size = t->elem_size;
        o->n_dims = t->n_dims;
        memcpy(o->shape, t->shape, sizeof o->shape);
        o->data = t->data;
        o->nbytes = t->nbytes;
    }
    return pk_sort_tensors(m, p);
}

int l3_pth_parse_pickle(l3_pth *p, const uint8_t *pkl, uint64_t len, const l3_zip *z,
                        const char *prefix, llama3_error *err) {
    pk_machine m = { .buf = pkl, .len = len, .path = p->map.path ? p->map.path : "(pickle)",
                     .zip = z, .prefix = prefix, .out = p, .err = err };
    m.mark.kind = PV_MARK;
    int rc = 0;
    for (;;) {
        if (m.pos >= m.len) { rc = pk_bad(&m, "pickle ends without STOP"); break; }
        rc = pk_step(&m);
        if (rc == 1) {
            rc = m.sp == 1 ? pk_collect(&m, m.stack[0]) : pk_bad(&m, "STOP with a stack not holding one value");
            break;
        }
        if (rc) break;
    }
    for (size_t i = 0; i < m.n_all; i++) {
        free(m.all[i]->s);
        free(m.all[i]->items);
        free(m.all[i]);
    }
    free(m.all);
    free(m.stack);
    free(m.memo);
    return rc;
}

void l3_pth_close(l3_pth *p) {
    if (!p) return;
    for (int i = 0; i < p->n_tensors; i++) free(p->tensors[i].name);
    free(p->tensors);
    for (int i = 0; i < p->n_owned; i++) free(p->owned[i]);
    free(p->owned);
    l3_unmap(&p->map);
    free(p);
}

/* torch.save writes <prefix>/data.pkl, <prefix>/data/<key>, ... under one top folder. */
static int pth_find_pickle(const l3_zip *z, const l3_zip_entry **pkl, char *prefix, size_t cap,
                           llama3_error *err) {
    for (uint64_t i = 0; i < z->n_entries; i++) {
        const char *name = z->entries[i].name, *slash = strchr(name, '/');
        if (slash && strcmp(slash, "/data.pkl") == 0 && (size_t)(slash - name) < cap) {
            memcpy(prefix, name, (size_t)(slash - name));
            prefix[slash - name] = 0;
            *pkl = &z->entries[i];
            return 0;
        }
    }
    return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: no <folder>/data.pkl entry (not a PyTorch checkpoint)",
                   z->path);
}

int l3_pth_open(const char *path, l3_pth **out, llama3_error *err) {
    *out = NULL;
    l3_pth *p = calloc(1, sizeof *p);
    if (!p) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path);
    l3_zip z;
    int rc = l3_map_file(path, &p->map, err);
    if (rc) { l3_pth_close(p); return rc; }
    if ((rc = l3_zip_open(&z, p->map.data, p->map.size, path, err))) { l3_pth_close(p); return rc; }
    const l3_zip_entry *e = NULL;
    char prefix[256];
    const uint8_t *pkl;
    uint64_t len;
    if (!(rc = pth_find_pickle(&z, &e, prefix, sizeof prefix, err)) &&
        !(rc = l3_zip_entry_data(&z, e, &pkl, &len, err)))
        rc = l3_pth_parse_pickle(p, pkl, len, &z, prefix, err);
    l3_zip_close(&z);
    if (rc) { l3_pth_close(p); return rc; }
    *out = p;
    return 0;
}

/* p->tensors is sorted by name (pk_sort_tensors): the first entry not below name. */
const l3_pth_tensor *l3_pth_find(const l3_pth *p, const char *name) {
    int lo = 0, hi = p->n_tensors;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(p->tensors[mid].name, name) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < p->n_tensors && strcmp(p->tensors[lo].name, name) == 0 ? &p->tensors[lo] : NULL;
}
