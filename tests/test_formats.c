/* Checkpoint-format tests: `test_formats CASE` runs one case (each is its own CTest test). */
#include "test_formats.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"

#ifndef LLAMA3_FIXTURES_DIR
#define LLAMA3_FIXTURES_DIR "../shared/fixtures"
#endif

static char tmp_dir[256];

int fmt_expect_error(int rc, const llama3_error *err, const char *file, int line, ...) {
    if (rc == 0) {
        fprintf(stderr, "%s:%d: expected an error, got success\n", file, line);
        return 1;
    }
    if (rc != err->code) {
        fprintf(stderr, "%s:%d: status %d but err->code %d (%s)\n", file, line, rc, err->code, err->msg);
        return 1;
    }
    va_list ap;
    va_start(ap, line);
    for (const char *needle; (needle = va_arg(ap, const char *));) {
        if (!strstr(err->msg, needle)) {
            fprintf(stderr, "%s:%d: error \"%s\" does not mention \"%s\"\n", file, line, err->msg, needle);
            va_end(ap);
            return 1;
        }
    }
    va_end(ap);
    printf("expected error: %s\n", err->msg);
    return 0;
}

const char *fmt_fixture(const char *rel) {
    static char buf[1024];
    const char *root = getenv("LLAMA3_FIXTURES");
    snprintf(buf, sizeof buf, "%s/%s", root && *root ? root : LLAMA3_FIXTURES_DIR, rel);
    return buf;
}

const char *fmt_tmp(const char *name) {
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", tmp_dir, name);
    return buf;
}

const char *fmt_tmp_dir(void) { return tmp_dir; }

int fmt_read(const char *path, uint8_t **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc(n > 0 ? (size_t)n : 1);
    *len = n > 0 ? (size_t)n : 0;
    size_t got = *data ? fread(*data, 1, *len, f) : 0;
    fclose(f);
    if (!*data || got != *len) { free(*data); *data = NULL; return -1; }
    return 0;
}

int fmt_write(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t put = fwrite(data, 1, len, f);
    return fclose(f) == 0 && put == len ? 0 : -1;
}

int fmt_link_fixture(const char *fixture_rel, const char *tmp_name) {
    char target[1024];
    snprintf(target, sizeof target, "%s", fmt_fixture(fixture_rel));
    return symlink(target, fmt_tmp(tmp_name));
}

int fmt_write_safetensors(const char *path, const char *header, const void *data, size_t len) {
    size_t hlen = strlen(header);
    size_t total = 8 + hlen + len;
    uint8_t *buf = malloc(total);
    if (!buf) return -1;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, header, hlen);
    if (len) memcpy(buf + 8 + hlen, data, len);
    int rc = fmt_write(path, buf, total);
    free(buf);
    return rc;
}

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xffff); put16(p + 2, v >> 16); }

int fmt_write_zip(const char *path, const fmt_zip_entry *entries, int n) {
    size_t cap = 22;
    for (int i = 0; i < n; i++) cap += 30 + 46 + 2 * strlen(entries[i].name) + entries[i].len;
    uint8_t *buf = calloc(1, cap), *p = buf;
    uint32_t *offsets = calloc((size_t)n + 1, sizeof *offsets);
    if (!buf || !offsets) { free(buf); free(offsets); return -1; }
    for (int i = 0; i < n; i++) {  /* local headers + data */
        size_t nl = strlen(entries[i].name);
        offsets[i] = (uint32_t)(p - buf);
        put32(p, 0x04034b50); put16(p + 4, 20);
        put32(p + 14, fz_crc32(entries[i].data, entries[i].len));
        put32(p + 18, (uint32_t)entries[i].len); put32(p + 22, (uint32_t)entries[i].len);
        put16(p + 26, (uint32_t)nl);
        memcpy(p + 30, entries[i].name, nl);
        memcpy(p + 30 + nl, entries[i].data, entries[i].len);
        p += 30 + nl + entries[i].len;
    }
    uint8_t *cd = p;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(entries[i].name);
        put32(p, 0x02014b50); put16(p + 4, 20); put16(p + 6, 20);
        put32(p + 16, fz_crc32(entries[i].data, entries[i].len));
        put32(p + 20, (uint32_t)entries[i].len); put32(p + 24, (uint32_t)entries[i].len);
        put16(p + 28, (uint32_t)nl); put32(p + 42, offsets[i]);
        memcpy(p + 46, entries[i].name, nl);
        p += 46 + nl;
    }
    put32(p, 0x06054b50);
    put16(p + 8, (uint32_t)n); put16(p + 10, (uint32_t)n);
    put32(p + 12, (uint32_t)(p - cd)); put32(p + 16, (uint32_t)(cd - buf));
    p += 22;
    int rc = fmt_write(path, buf, (size_t)(p - buf));
    free(buf);
    free(offsets);
    return rc;
}

static void remove_tmp_dir(void) {
    DIR *d = opendir(tmp_dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(fmt_tmp(e->d_name));
    closedir(d);
    rmdir(tmp_dir);
}

static const fmt_case *find_case(const fmt_case *cases, const char *name) {
    for (; cases->name; cases++)
        if (strcmp(cases->name, name) == 0) return cases;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE\n", argv[0]);
        return 2;
    }
    const fmt_case *c = find_case(FMT_GOOD_CASES, argv[1]);
    if (!c) c = find_case(FMT_BAD_CASES, argv[1]);
    if (!c) c = find_case(FMT_STRICT_CASES, argv[1]);
    if (!c) {
        fprintf(stderr, "unknown case %s\n", argv[1]);
        return 2;
    }
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/l3fmt-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 2;
    }
    int rc = c->fn();
    remove_tmp_dir();
    printf("%s: %s\n", c->name, rc ? "FAIL" : "ok");
    return rc;
}
