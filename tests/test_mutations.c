/* Mutation test: mutated copies of each model / tokenizer format go through the CLI, which must
 * exit 0 or exit non-zero with one line on stderr; a signal (crash, sanitizer abort), a
 * sanitizer report, or a run over the time limit fails the test.
 *
 * usage: test_mutations CLI FIXTURES WORKDIR FORMAT [COUNT]
 *   FORMAT: gguf | hf | meta | tokenizer_model | tokenizer_json
 *   COUNT: mutated inputs (default 1000; the build passes fewer for sanitizer builds)
 * env: LLAMA3_MUTATIONS (overrides COUNT), LLAMA3_MUTATION_SEED (default fixed),
 *      LLAMA3_MUTATION_TIMEOUT (seconds per run, default 10).
 *
 * Mutations: bit flips (mostly in the first 64 KiB, where the headers are), truncations,
 * inserted / deleted / overwritten bytes, and structure-aware ones: GGUF counts, string and
 * array lengths, value types, dimensions, tensor types and offsets; the safetensors header
 * length and every number of its JSON header; zip directory fields and pickle operands of .pth
 * files; numbers and strings of JSON files; ranks and lines of tokenizer.model. Each failing
 * input is kept in WORKDIR/FORMAT/fail-N-* with the command to reproduce it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz_common.h"

/* ---- random numbers (splitmix64: deterministic everywhere) ------------------------------- */

static uint64_t g_rng;
static uint64_t rnd(void) {
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint64_t rnd_below(uint64_t n) { return n ? rnd() % n : 0; }

/* ---- files ------------------------------------------------------------------------------- */

static int read_file(const char *path, fz_buf *out) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char tmp[65536];
    for (size_t r; (r = fread(tmp, 1, sizeof tmp, f)) > 0;) fz_put(out, tmp, r);
    fclose(f);
    return 0;
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "test_mutations: cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

static void mkdirs(const char *path) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') { *p = 0; mkdir(tmp, 0755); *p = '/'; }
    mkdir(tmp, 0755);
}

/* Removes the files of a folder (not recursive): each run starts from exactly its files. */
static void clear_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char f[1700];
        snprintf(f, sizeof f, "%s/%s", path, e->d_name);
        unlink(f);
    }
    closedir(d);
}

/* ---- mutation primitives ----------------------------------------------------------------- */

/* A position, biased towards the start of the file where the headers live. */
static size_t pick_pos(size_t n) {
    if (n == 0) return 0;
    size_t head = n < 65536 ? n : 65536;
    return rnd_below(4) ? rnd_below(head) : rnd_below(n);
}

static void bit_flips(fz_buf *b) {
    int k = 1 + (int)rnd_below(8);
    for (int i = 0; i < k && b->n; i++) b->p[pick_pos(b->n)] ^= (uint8_t)(1u << rnd_below(8));
}

static void truncate_buf(fz_buf *b) {
    if (b->n) b->n = pick_pos(b->n);
}

static void buf_splice(fz_buf *b, size_t at, size_t del, const void *ins, size_t ins_n) {
    if (at > b->n) at = b->n;
    if (del > b->n - at) del = b->n - at;
    fz_buf out = { 0 };
    fz_put(&out, b->p, at);
    fz_put(&out, ins, ins_n);
    fz_put(&out, b->p + at + del, b->n - at - del);
    fz_free(b);
    *b = out;
}

static void byte_ops(fz_buf *b) {
    size_t at = pick_pos(b->n);
    uint8_t junk[64];
    size_t n = 1 + rnd_below(sizeof junk);
    static const uint8_t specials[] = { 0x00, 0xFF, 0x7F, 0x80, '"', '{', '}', '[', ']', ',', ':', '\\', '\n' };
    for (size_t i = 0; i < n; i++)
        junk[i] = rnd_below(2) ? specials[rnd_below(sizeof specials)] : (uint8_t)rnd();
    switch (rnd_below(3)) {
    case 0: buf_splice(b, at, 0, junk, n); break;            /* insert */
    case 1: buf_splice(b, at, n, NULL, 0); break;            /* delete */
    default:                                             /* overwrite */
        for (size_t i = 0; i < n && at + i < b->n; i++) b->p[at + i] = junk[i];
    }
}

/* A boundary value for an integer field of `width` bytes holding orig. */
static uint64_t boundary(uint64_t orig, int width) {
    static const uint64_t common[] = {
        0, 1, 2, 3, 4, 7, 8, 12, 13, 31, 32, 255, 256, 65535, 65536, 0x7FFFFFFF, 0x80000000u, 0xFFFFFFFFu,
        0x100000000ull, 0x4000000000000000ull, 0x7FFFFFFFFFFFFFFFull, 0x8000000000000000ull, 0xFFFFFFFFFFFFFFFFull,
    };
    uint64_t v;
    switch (rnd_below(4)) {
    case 0: v = orig + 1 + rnd_below(3); break;
    case 1: v = orig - 1 - rnd_below(3); break;
    case 2: v = rnd_below(2) ? orig * 2 : orig << (1 + rnd_below(32)); break;
    default: v = common[rnd_below(sizeof common / sizeof common[0])];
    }
    if (width < 8) v &= (1ull << (8 * width)) - 1;
    return v;
}

static uint64_t get_le(const uint8_t *p, int w) {
    uint64_t v = 0;
    for (int i = w - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static void set_le(uint8_t *p, int w, uint64_t v) {
    for (int i = 0; i < w; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Structural integer fields of a file: offset and width. */
typedef struct field { size_t off; int width; } field;
typedef struct fields { field *f; size_t n, cap; } fields;
static void add_field(fields *fs, size_t off, int width) {
    if (fs->n == fs->cap) {
        fs->cap = fs->cap ? fs->cap * 2 : 256;
        fs->f = realloc(fs->f, fs->cap * sizeof *fs->f);
        if (!fs->f) exit(2);
    }
    fs->f[fs->n++] = (field){ off, width };
}

static void mutate_field(fz_buf *b, const fields *fs) {
    if (!fs->n) { bit_flips(b); return; }
    const field *f = &fs->f[rnd_below(fs->n)];
    if (f->off + (size_t)f->width > b->n) { bit_flips(b); return; }
    set_le(b->p + f->off, f->width, boundary(get_le(b->p + f->off, f->width), f->width));
}

/* ---- GGUF structure ----------------------------------------------------------------------- */

static void gguf_fields(const fz_buf *b, fields *fs) {
    const uint8_t *p = b->p;
    size_t n = b->n, at = 24;
    if (n < 24) return;
    add_field(fs, 4, 4);   /* version */
    add_field(fs, 8, 8);   /* tensor count */
    add_field(fs, 16, 8);  /* key count */
    uint64_t n_tensors = get_le(p + 8, 8), n_kv = get_le(p + 16, 8);
#define NEED(k) if (at + (k) > n) return
    for (uint64_t i = 0; i < n_kv; i++) {
        NEED(8);
        add_field(fs, at, 8);  /* key length */
        at += 8 + get_le(p + at, 8);
        NEED(4);
        add_field(fs, at, 4);  /* value type */
        uint32_t type = (uint32_t)get_le(p + at, 4);
        at += 4;
        static const int sizes[] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
        if (type == 8) {
            NEED(8);
            add_field(fs, at, 8);
            at += 8 + get_le(p + at, 8);
        } else if (type == 9) {
            NEED(12);
            add_field(fs, at, 4);      /* element type */
            add_field(fs, at + 4, 8);  /* count */
            uint32_t et = (uint32_t)get_le(p + at, 4);
            uint64_t cnt = get_le(p + at + 4, 8);
            at += 12;
            if (et == 8) {
                for (uint64_t k = 0; k < cnt; k++) {
                    NEED(8);
                    if (k < 16 || k + 1 == cnt || rnd_below(4096) == 0) add_field(fs, at, 8);
                    at += 8 + get_le(p + at, 8);
                }
            } else if (et < 13 && sizes[et]) {
                at += cnt * (uint64_t)sizes[et];
            } else {
                return;
            }
        } else if (type < 13 && sizes[type]) {
            at += (size_t)sizes[type];
        } else {
            return;
        }
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        NEED(8);
        add_field(fs, at, 8);  /* name length */
        at += 8 + get_le(p + at, 8);
        NEED(4);
        add_field(fs, at, 4);  /* n_dims */
        uint32_t nd = (uint32_t)get_le(p + at, 4);
        at += 4;
        if (nd > 4) return;
        for (uint32_t d = 0; d < nd; d++) { NEED(8); add_field(fs, at, 8); at += 8; }
        NEED(12);
        add_field(fs, at, 4);      /* type */
        add_field(fs, at + 4, 8);  /* offset */
        at += 12;
    }
#undef NEED
}

/* ---- text (JSON, tiktoken) --------------------------------------------------------------- */

/* Replaces one run of digits (with its sign) in b[lo, hi) by a boundary number. */
static int mutate_number(fz_buf *b, size_t lo, size_t hi) {
    static const char *const nums[] = {
        "0", "1", "-1", "2", "-2147483649", "2147483647", "2147483648", "4294967295", "4294967296",
        "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616",
        "99999999999999999999999999", "1e400", "-1e400", "1.5", "-0", "1e-400", "null", "\"7\"", "[1]",
        "65536", "16777216", "1073741824", "128256",
    };
    if (hi > b->n) hi = b->n;
    size_t runs = 0;
    for (size_t i = lo; i < hi; i++)
        if (b->p[i] >= '0' && b->p[i] <= '9' && (i == lo || !(b->p[i - 1] >= '0' && b->p[i - 1] <= '9'))) runs++;
    if (!runs) return -1;
    size_t want = rnd_below(runs), seen = 0;
    for (size_t i = lo; i < hi; i++) {
        if (!(b->p[i] >= '0' && b->p[i] <= '9') || (i > lo && b->p[i - 1] >= '0' && b->p[i - 1] <= '9')) continue;
        if (seen++ != want) continue;
        size_t s = i, e = i;
        while (e < hi && ((b->p[e] >= '0' && b->p[e] <= '9') || b->p[e] == '.' || b->p[e] == 'e' || b->p[e] == 'E'))
            e++;
        if (s > lo && b->p[s - 1] == '-') s--;
        char num[64];
        if (rnd_below(4) == 0) {
            char digits[32];
            size_t dn = e - i < sizeof digits - 1 ? e - i : sizeof digits - 1;
            memcpy(digits, b->p + i, dn);  /* the buffer is not NUL-terminated */
            digits[dn] = 0;
            long long v = strtoll(digits, NULL, 10);
            snprintf(num, sizeof num, "%lld", (long long)((unsigned long long)v + rnd_below(5) - 2));  /* wraps, no UB */
        } else {
            snprintf(num, sizeof num, "%s", nums[rnd_below(sizeof nums / sizeof nums[0])]);
        }
        buf_splice(b, s, e - s, num, strlen(num));
        return 0;
    }
    return -1;
}

/* Replaces the content of one JSON string in b[lo, hi). */
static int mutate_string(fz_buf *b, size_t lo, size_t hi) {
    static const char *const strs[] = {
        "", "llama", "mistral", "F64", "I8", "BF16", "F8_E4M3", "../../etc/passwd", "/abs", ".hidden",
        "model.safetensors", "config.json", "\\u0000", "\\ud800", "\\\"", "x\\ny",
        "storage", "llama3", "default", "BPE", "Unigram",
    };
    if (hi > b->n) hi = b->n;
    size_t quotes = 0;
    for (size_t i = lo; i < hi; i++) if (b->p[i] == '"' && (i == 0 || b->p[i - 1] != '\\')) quotes++;
    if (quotes < 2) return -1;
    size_t want = rnd_below(quotes / 2) * 2, seen = 0, start = 0;
    for (size_t i = lo; i < hi; i++) {
        if (b->p[i] != '"' || (i > 0 && b->p[i - 1] == '\\')) continue;
        if (seen == want) start = i + 1;
        if (seen == want + 1) {
            if (rnd_below(5) == 0) {  /* a long string */
                fz_buf big = { 0 };
                size_t k = 1 + rnd_below(70000);
                for (size_t j = 0; j < k; j++) fz_put_u8(&big, (uint8_t)('a' + j % 26));
                buf_splice(b, start, i - start, big.p, big.n);
                fz_free(&big);
            } else {
                const char *s = strs[rnd_below(sizeof strs / sizeof strs[0])];
                buf_splice(b, start, i - start, s, strlen(s));
            }
            return 0;
        }
        seen++;
    }
    return -1;
}

static void mutate_json(fz_buf *b) {
    switch (rnd_below(8)) {
    case 0: case 1: case 2: if (mutate_number(b, 0, b->n) == 0) return; break;
    case 3: case 4: if (mutate_string(b, 0, b->n) == 0) return; break;
    case 5: truncate_buf(b); return;
    case 6: byte_ops(b); return;
    default: break;
    }
    bit_flips(b);
}

/* tokenizer.model: "base64 rank" lines. */
static void mutate_tiktoken(fz_buf *b) {
    size_t lines = 0;
    for (size_t i = 0; i < b->n; i++) lines += b->p[i] == '\n';
    size_t want = rnd_below(lines ? lines : 1), at = 0;
    for (size_t i = 0, l = 0; i < b->n && l < want; i++)
        if (b->p[i] == '\n') { l++; at = i + 1; }
    size_t end = at;
    while (end < b->n && b->p[end] != '\n') end++;
    switch (rnd_below(8)) {
    case 0: mutate_number(b, at, end); return;                       /* a rank */
    case 1: buf_splice(b, at, end - at + 1, NULL, 0); return;           /* drop a line */
    case 2: { fz_buf l = { 0 }; fz_put(&l, b->p + at, end - at + (end < b->n)); buf_splice(b, at, 0, l.p, l.n); fz_free(&l); return; }
    case 3: {                                                        /* a very long token */
        fz_buf l = { 0 };
        size_t k = 4 * (1 + rnd_below(2000));
        for (size_t j = 0; j < k; j++) fz_put_u8(&l, (uint8_t)"QUJD"[j % 4]);
        fz_puts(&l, " 5\n");
        buf_splice(b, at, 0, l.p, l.n);
        fz_free(&l);
        return;
    }
    case 4: buf_splice(b, end, 0, "\r", 1); return;
    case 5: truncate_buf(b); return;
    case 6: byte_ops(b); return;
    default: bit_flips(b);
    }
}

/* ---- safetensors -------------------------------------------------------------------------- */

static void mutate_safetensors(fz_buf *b) {
    if (b->n < 8) { bit_flips(b); return; }
    uint64_t hlen = get_le(b->p, 8);
    if (hlen > b->n - 8) { bit_flips(b); return; }
    switch (rnd_below(8)) {
    case 0: set_le(b->p, 8, boundary(hlen, 8)); return;   /* header length */
    case 1: case 2: case 3: case 4: {                      /* a number / string of the header */
        fz_buf h = { 0 }, rest = { 0 };
        fz_put(&h, b->p + 8, hlen);
        fz_put(&rest, b->p + 8 + hlen, b->n - 8 - hlen);
        if ((rnd_below(3) ? mutate_number(&h, 0, h.n) : mutate_string(&h, 0, h.n)) != 0) bit_flips(&h);
        fz_buf out = { 0 };
        /* Usually keep the length field consistent, so the JSON itself is what is tested. */
        fz_put_u64(&out, rnd_below(5) ? h.n : hlen);
        fz_put(&out, h.p, h.n);
        fz_put(&out, rest.p, rest.n);
        fz_free(&h);
        fz_free(&rest);
        fz_free(b);
        *b = out;
        return;
    }
    case 5: truncate_buf(b); return;
    case 6: byte_ops(b); return;
    default: bit_flips(b);
    }
}

/* ---- zip + pickle --------------------------------------------------------------------------- */

/* The archive's directory fields, and where data.pkl's bytes and its central record lie. */
static void zip_fields(const fz_buf *b, fields *fs, size_t *pkl_lo, size_t *pkl_hi, size_t *pkl_cd) {
    *pkl_lo = *pkl_hi = *pkl_cd = 0;
    if (b->n < 22) return;
    size_t eocd = b->n - 22;
    while (eocd > 0 && get_le(b->p + eocd, 4) != 0x06054b50) eocd--;
    if (get_le(b->p + eocd, 4) != 0x06054b50) return;
    add_field(fs, eocd + 8, 2);
    add_field(fs, eocd + 10, 2);
    add_field(fs, eocd + 12, 4);
    add_field(fs, eocd + 16, 4);
    add_field(fs, eocd + 20, 2);
    uint64_t n = get_le(b->p + eocd + 10, 2), cd = get_le(b->p + eocd + 16, 4);
    if (eocd >= 20 && get_le(b->p + eocd - 20, 4) == 0x07064b50) {  /* zip64 */
        uint64_t z64 = get_le(b->p + eocd - 20 + 8, 8);
        add_field(fs, eocd - 20 + 8, 8);
        if (z64 + 56 <= b->n) {
            add_field(fs, z64 + 32, 8);
            add_field(fs, z64 + 40, 8);
            add_field(fs, z64 + 48, 8);
            n = get_le(b->p + z64 + 32, 8);
            cd = get_le(b->p + z64 + 48, 8);
        }
    }
    size_t at = cd;
    for (uint64_t i = 0; i < n && at + 46 <= b->n && get_le(b->p + at, 4) == 0x02014b50; i++) {
        static const int offs[] = { 8, 10, 20, 24, 28, 30, 32, 42 }, widths[] = { 2, 2, 4, 4, 2, 2, 2, 4 };
        for (int k = 0; k < 8; k++) add_field(fs, at + (size_t)offs[k], widths[k]);
        uint64_t nl = get_le(b->p + at + 28, 2), el = get_le(b->p + at + 30, 2), cl = get_le(b->p + at + 32, 2);
        uint64_t local = get_le(b->p + at + 42, 4), size = get_le(b->p + at + 24, 4);
        if (el >= 4 && at + 46 + nl + 4 <= b->n) {  /* zip64 extra: its 8-byte values */
            for (uint64_t k = 0; k + 8 <= el - 4 && k < 24; k += 8) add_field(fs, at + 46 + nl + 4 + k, 8);
        }
        if (local + 30 <= b->n && get_le(b->p + local, 4) == 0x04034b50) {
            add_field(fs, local + 8, 2);
            add_field(fs, local + 18, 4);
            add_field(fs, local + 22, 4);
            add_field(fs, local + 26, 2);
            add_field(fs, local + 28, 2);
            size_t data = local + 30 + get_le(b->p + local + 26, 2) + get_le(b->p + local + 28, 2);
            if (nl >= 8 && at + 46 + nl <= b->n && memcmp(b->p + at + 46 + nl - 8, "data.pkl", 8) == 0 &&
                data + size <= b->n) {
                *pkl_lo = data;
                *pkl_hi = data + size;
                *pkl_cd = at;
            }
        }
        at += 46 + nl + el + cl;
    }
}

static void mutate_pth(fz_buf *b) {
    fields fs = { 0 };
    size_t lo, hi, cd;
    zip_fields(b, &fs, &lo, &hi, &cd);
    switch (rnd_below(8)) {
    case 0: case 1: mutate_field(b, &fs); break;
    case 2: case 3: case 4:  /* inside the pickle: operands of ints and lengths, or any byte */
        if (hi > lo) {
            size_t at = lo + rnd_below(hi - lo);
            if (rnd_below(2)) {
                for (size_t i = at; i < hi; i++) {
                    uint8_t op = b->p[i];
                    int w = op == 'J' || op == 'X' || op == 'r' || op == 'j' ? 4 : op == 'K' || op == 0x8c || op == 'q' || op == 'h' ? 1 : op == 'M' ? 2 : op == 0x95 || op == 0x8d ? 8 : 0;
                    if (w && i + 1 + (size_t)w <= hi) {
                        set_le(b->p + i + 1, w, boundary(get_le(b->p + i + 1, w), w));
                        break;
                    }
                }
            } else {
                int k = 1 + (int)rnd_below(4);
                for (int i = 0; i < k; i++) b->p[lo + rnd_below(hi - lo)] = (uint8_t)rnd();
            }
            /* a matching CRC-32, so the mutated pickle reaches the interpreter */
            set_le(b->p + cd + 16, 4, fz_crc32(b->p + lo, hi - lo));
            break;
        }
        /* fall through */
    case 5: truncate_buf(b); break;
    case 6: byte_ops(b); break;
    default: bit_flips(b);
    }
    free(fs.f);
}

/* ---- running the CLI ---------------------------------------------------------------------- */

typedef struct stats { int runs, ok, clean_err, fail; } stats;
static int g_timeout = 10;
static int g_use_rlimit;
static int g_quiet;  /* the capability probe: no FAIL report */
static char g_work[1024];

/* Runs argv; returns 0 when the outcome is acceptable, else 1 (and prints why). */
static int run_cli(char *const argv[], stats *st, int *exit_code) {
    char errpath[1100];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", g_work);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); exit(2); }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        int errfd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (devnull < 0 || errfd < 0) _exit(3);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(errfd, 2);
        if (g_use_rlimit) {
            struct rlimit rl = { (rlim_t)8 << 30, (rlim_t)8 << 30 };
            setrlimit(RLIMIT_AS, &rl);
        }
        alarm((unsigned)g_timeout);  /* kept across exec: SIGALRM ends a hung run */
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) { perror("waitpid"); exit(2); }
    st->runs++;
    fz_buf err = { 0 };
    read_file(errpath, &err);
    fz_put_u8(&err, 0);
    const char *msg = (const char *)err.p;
    int bad = 0;
    const char *why = "";
    *exit_code = -1;
    if (WIFSIGNALED(status)) {
        bad = 1;
        why = WTERMSIG(status) == SIGALRM ? "timed out" : "killed by a signal";
    } else {
        *exit_code = WEXITSTATUS(status);
        if (strstr(msg, "Sanitizer") || strstr(msg, "runtime error:")) { bad = 1; why = "sanitizer report"; }
        else if (*exit_code == 127 || *exit_code == 3) { fprintf(stderr, "test_mutations: cannot run %s\n", argv[0]); exit(2); }
        else if (*exit_code != 0) {
            const char *nl = strchr(msg, '\n');
            if (!msg[0] || nl == msg) { bad = 1; why = "failed without a message"; }
            else if (nl && nl[1]) { bad = 1; why = "error message is not one line"; }
        }
    }
    if (bad && g_quiet) {
        st->fail++;
    } else if (bad) {
        st->fail++;
        fprintf(stderr, "FAIL (%s", why);
        if (WIFSIGNALED(status)) fprintf(stderr, ", signal %d", WTERMSIG(status));
        else fprintf(stderr, ", exit %d", *exit_code);
        fprintf(stderr, "):");
        for (int i = 0; argv[i]; i++) fprintf(stderr, " %s", argv[i]);
        fprintf(stderr, "\n--- stderr ---\n%.4000s\n--------------\n", msg);
    } else if (*exit_code == 0) {
        st->ok++;
    } else {
        st->clean_err++;
    }
    fz_free(&err);
    return bad;
}

/* ---- formats ------------------------------------------------------------------------------ */

typedef struct target {
    char name[64];        /* file name inside the case folder */
    fz_buf orig;
    int kind;             /* 0 gguf, 1 safetensors, 2 json, 3 pth, 4 tiktoken */
    fields gguf;          /* structural fields of a GGUF file */
} target;

typedef struct mcase {
    char label[128];
    target files[4];
    int n_files;
    char model_arg[1100]; /* path given to -m */
    int is_dir, tokenizer;
    const char *detok_first;  /* tokenizer cases: a valid special id for `detokenize` */
    int weight;           /* relative frequency */
} mcase;

static int add_target(mcase *c, const char *src, const char *name, int kind) {
    target *t = &c->files[c->n_files];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    if (read_file(src, &t->orig) != 0) { fprintf(stderr, "test_mutations: cannot read %s\n", src); return -1; }
    if (kind == 0) gguf_fields(&t->orig, &t->gguf);
    c->n_files++;
    return 0;
}

static int add_buffer_target(mcase *c, const fz_buf *b, const char *name, int kind) {
    target *t = &c->files[c->n_files++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    fz_put(&t->orig, b->p, b->n);
    return 0;
}

static void mutate(target *t, fz_buf *b) {
    fz_put(b, t->orig.p, t->orig.n);
    switch (t->kind) {
    case 0:
        switch (rnd_below(8)) {
        case 0: case 1: case 2: case 3: mutate_field(b, &t->gguf); break;
        case 4: truncate_buf(b); break;
        case 5: byte_ops(b); break;
        default: bit_flips(b);
        }
        if (rnd_below(8) == 0) mutate_field(b, &t->gguf);  /* sometimes two fields */
        break;
    case 1: mutate_safetensors(b); break;
    case 2: mutate_json(b); break;
    case 3: mutate_pth(b); break;
    default: mutate_tiktoken(b); break;
    }
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: test_mutations CLI FIXTURES WORKDIR gguf|hf|meta|tokenizer_model|tokenizer_json [COUNT]\n");
        return 2;
    }
    const char *cli = argv[1], *fx = argv[2], *fmt = argv[4];
    int iters = argc == 6 ? atoi(argv[5]) : 1000;
    if (getenv("LLAMA3_MUTATIONS") && *getenv("LLAMA3_MUTATIONS")) iters = atoi(getenv("LLAMA3_MUTATIONS"));
    if (getenv("LLAMA3_MUTATION_TIMEOUT")) g_timeout = atoi(getenv("LLAMA3_MUTATION_TIMEOUT"));
    uint64_t seed = getenv("LLAMA3_MUTATION_SEED") ? strtoull(getenv("LLAMA3_MUTATION_SEED"), NULL, 0) : 0x11A3A3C0FFEEull;
    for (const char *p = fmt; *p; p++) seed = seed * 31 + (uint8_t)*p;
    g_rng = seed;
    snprintf(g_work, sizeof g_work, "%s/%s", argv[3], fmt);
    mkdirs(g_work);
    /* Sanitizer reports must be visible as such (exit 86), leaks included. */
    setenv("ASAN_OPTIONS", getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "exitcode=86:detect_leaks=1", 1);
    setenv("UBSAN_OPTIONS", getenv("UBSAN_OPTIONS") ? getenv("UBSAN_OPTIONS") : "halt_on_error=1:exitcode=86:print_stacktrace=1", 1);

    mcase cases[4];
    int n_cases = 0;
    char p1[1024], p2[1024];
    memset(cases, 0, sizeof cases);
#define CASE(lbl, w) (snprintf(cases[n_cases].label, sizeof cases[n_cases].label, "%s", lbl), cases[n_cases].weight = (w), &cases[n_cases++])
    if (!strcmp(fmt, "gguf")) {
        const char *files[] = { "stories260K/stories260K.gguf", "models/gqa/gguf/model-q4_0.gguf",
                                "models/mqa31/gguf/model-q8_0.gguf", "models/tok32/gguf/model-q8_0.gguf" };
        const int weights[] = { 10, 10, 10, 1 };
        for (int i = 0; i < 4; i++) {
            mcase *c = CASE(files[i], weights[i]);
            snprintf(p1, sizeof p1, "%s/%s", fx, files[i]);
            if (add_target(c, p1, "model.gguf", 0)) return 2;
        }
    } else if (!strcmp(fmt, "hf")) {
        mcase *c = CASE("models/gqa/hf", 1);
        c->is_dir = 1;
        snprintf(p1, sizeof p1, "%s/models/gqa/hf/config.json", fx);
        snprintf(p2, sizeof p2, "%s/models/gqa/hf/model.safetensors", fx);
        if (add_target(c, p1, "config.json", 2) || add_target(c, p2, "model.safetensors", 1)) return 2;
        c = CASE("models/mqa31/hf", 1);
        c->is_dir = 1;
        const char *names[] = { "config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                                "model-00002-of-00002.safetensors" };
        for (int i = 0; i < 4; i++) {
            snprintf(p1, sizeof p1, "%s/models/mqa31/hf/%s", fx, names[i]);
            if (add_target(c, p1, names[i], i < 2 ? 2 : 1)) return 2;
        }
    } else if (!strcmp(fmt, "meta")) {
        const char *dirs[] = { "models/gqa/meta", "models/mqa31/meta", "models/gqa/meta2" };
        for (int i = 0; i < 3; i++) {
            mcase *c = CASE(dirs[i], 1);
            c->is_dir = 1;
            snprintf(p1, sizeof p1, "%s/%s/params.json", fx, dirs[i]);
            if (add_target(c, p1, "params.json", 2)) return 2;
            for (int s = 0; s < (i == 2 ? 2 : 1); s++) {
                char nm[64];
                snprintf(nm, sizeof nm, "consolidated.%02d.pth", s);
                snprintf(p2, sizeof p2, "%s/%s/%s", fx, dirs[i], nm);
                if (add_target(c, p2, nm, 3)) return 2;
            }
        }
    } else if (!strcmp(fmt, "tokenizer_model")) {
        mcase *c = CASE("tokenizer/tokenizer.model (first 3000 ranks)", 1);
        c->tokenizer = 1;
        c->detok_first = "3000";  /* <|begin_of_text|> follows the last rank */
        fz_buf b = { 0 };
        snprintf(p1, sizeof p1, "%s/tokenizer/tokenizer.model", fx);
        if (fz_reduce_tiktoken(p1, 3000, &b)) { fprintf(stderr, "cannot read %s\n", p1); return 2; }
        add_buffer_target(c, &b, "tokenizer.model", 4);
        fz_free(&b);
    } else if (!strcmp(fmt, "tokenizer_json")) {
        mcase *c = CASE("tokenizer/llama3-tokenizer.json (ids < 1000) + tokenizer_config.json", 1);
        c->tokenizer = 1;
        c->detok_first = "128009";
        fz_buf b = { 0 };
        snprintf(p1, sizeof p1, "%s/tokenizer/llama3-tokenizer.json", fx);
        if (fz_reduce_tokenizer_json(p1, 1000, &b)) { fprintf(stderr, "cannot read %s\n", p1); return 2; }
        add_buffer_target(c, &b, "tokenizer.json", 2);
        fz_free(&b);
        snprintf(p1, sizeof p1, "%s/tokenizer/llama3-tokenizer_config.json", fx);
        if (fz_reduce_tokenizer_config(p1, &b)) { fprintf(stderr, "cannot read %s\n", p1); return 2; }
        add_buffer_target(c, &b, "tokenizer_config.json", 2);
        fz_free(&b);
    } else {
        fprintf(stderr, "test_mutations: unknown format '%s'\n", fmt);
        return 2;
    }
#undef CASE

    /* Is an 8 GiB address-space limit compatible with this CLI (not with ASan's shadow)? */
    {
        g_use_rlimit = 1;
        g_quiet = 1;
        stats probe = { 0 };
        int code;
        char *pargv[] = { (char *)cli, "info", "--help", NULL };
        if (run_cli(pargv, &probe, &code) != 0 || code != 0) g_use_rlimit = 0;
        g_quiet = 0;
    }

    char ids_path[1200], out_path[1200];
    snprintf(ids_path, sizeof ids_path, "%s/ids.i32", g_work);
    snprintf(out_path, sizeof out_path, "%s/logits.f32", g_work);
    int32_t ids[3] = { 1, 2, 3 };
    write_file(ids_path, ids, sizeof ids);

    /* First, every unmutated case must load (otherwise the test proves nothing). */
    stats st = { 0 };
    int total_weight = 0;
    for (int c = 0; c < n_cases; c++) total_weight += cases[c].weight;
    int failures_kept = 0;
    for (int it = -n_cases; it < iters; it++) {
        mcase *c;
        if (it < 0) c = &cases[it + n_cases];
        else {
            int r = (int)rnd_below((uint64_t)total_weight), k = 0;
            while (r >= cases[k].weight) r -= cases[k++].weight;
            c = &cases[k];
        }
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/case", g_work);
        mkdirs(dir);
        clear_dir(dir);
        int victim = it < 0 ? -1 : (int)rnd_below((uint64_t)c->n_files);
        /* Mutate JSON configs less often than the big files for folders. */
        if (victim >= 0 && c->n_files > 1 && c->files[victim].kind == 2 && rnd_below(3) == 0)
            victim = (int)rnd_below((uint64_t)c->n_files);
        fz_buf mutated = { 0 };
        for (int f = 0; f < c->n_files; f++) {
            char path[1300];
            snprintf(path, sizeof path, "%s/%s", dir, c->files[f].name);
            if (f == victim) {
                mutate(&c->files[f], &mutated);
                write_file(path, mutated.p, mutated.n);
            } else {
                write_file(path, c->files[f].orig.p, c->files[f].orig.n);
            }
        }
        char model[1300];
        if (c->is_dir) snprintf(model, sizeof model, "%s", dir);
        else snprintf(model, sizeof model, "%s/%s", dir, c->files[0].name);

        int bad, code;
        if (c->tokenizer) {
            char *a1[] = { (char *)cli, "tokenize", "-m", model, "-p", "Hello <|eot_id|> w\xc3\xb6rld 12345 'll", "--special", "--bos", NULL };
            bad = run_cli(a1, &st, &code);
            if (!bad && code == 0) {
                char *a2[] = { (char *)cli, "detokenize", "-m", model, "0", "1", "300", "999", (char *)c->detok_first, NULL };
                bad = run_cli(a2, &st, &code);
            }
        } else {
            char *a1[] = { (char *)cli, "info", "-m", model, NULL };
            bad = run_cli(a1, &st, &code);
            if (!bad && code == 0) {  /* a model that loads must also run */
                char *a2[] = { (char *)cli, "logits", "-m", model, "--ids", ids_path, "-o", out_path, "-t", "1", "-c", "16", NULL };
                bad = run_cli(a2, &st, &code);
            }
        }
        if (it < 0 && (bad || code != 0)) {
            fprintf(stderr, "test_mutations: the unmutated %s does not load; fix that first\n", c->label);
            return 1;
        }
        if (bad) {
            fprintf(stderr, "  iteration %d, case %s, mutated file %s\n", it, c->label,
                    victim >= 0 ? c->files[victim].name : "(none)");
            if (failures_kept < 20 && victim >= 0) {
                char keep[1400];
                snprintf(keep, sizeof keep, "%s/fail-%d-%s", g_work, it, c->files[victim].name);
                write_file(keep, mutated.p, mutated.n);
                fprintf(stderr, "  kept as %s\n", keep);
                failures_kept++;
            }
        }
        fz_free(&mutated);
    }
    printf("%s: %d mutated inputs, %d CLI runs: %d exit 0, %d clean one-line errors, %d failures\n", fmt, iters,
           st.runs, st.ok, st.clean_err, st.fail);
    printf("%d passed, %d failed\n", st.runs - st.fail, st.fail);
    fflush(stdout);
    for (int c = 0; c < n_cases; c++)
        for (int f = 0; f < cases[c].n_files; f++) {
            fz_free(&cases[c].files[f].orig);
            free(cases[c].files[f].gguf.f);
        }
    return st.fail ? 1 : 0;
}
