#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int l3_fail(llama3_error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        for (char *p = err->msg; *p; p++)  /* messages are one line */
            if (*p == '\n' || *p == '\r') *p = ' ';
        err->code = code;
    }
    return code;
}

int l3_map_file(const char *path, l3_mapping *out, llama3_error *err) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return l3_fail(err, LLAMA3_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return l3_fail(err, LLAMA3_ERR_IO, "%s: not a regular file", path);
    }
    out->size = (size_t)st.st_size;
    /* an empty file gets a valid zero-length pointer, so parsers may compute
     * data + size without NULL + 0 (undefined behaviour, reported by UBSan). */
    static const uint8_t empty_file[1];
    out->data = empty_file;
    if (out->size > 0) {
        void *p = mmap(NULL, out->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return l3_fail(err, LLAMA3_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        }
        out->data = p;
#ifdef MADV_HUGEPAGE
        /* Weights stream once per token: a file read in under this advice lands in the page
         * cache as 2 MiB folios, mapped with one TLB entry each (4 KiB pages cost Q4_0 decode
         * 10-30% at 2 threads here). Advice only: ignored where unsupported. */
        madvise(p, out->size, MADV_HUGEPAGE);
#endif
    }
    close(fd);
    out->path = strdup(path);
    return 0;
}

int l3_mapping_read_in(l3_mapping *m, llama3_error *err) {
    if (!m->data || m->size == 0) return 0;
    void *mem = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: cannot allocate %zu bytes to read it into (--no-mmap)", m->path,
                       m->size);
    memcpy(mem, m->data, m->size);
    mprotect(mem, m->size, PROT_READ);
    void *at = mremap(mem, m->size, m->size, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)m->data);
    if (at == MAP_FAILED) {
        munmap(mem, m->size);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: cannot move the copy in place: %s", m->path, strerror(errno));
    }
    return 0;
}

void l3_unmap(l3_mapping *m) {
    if (m->data && m->size > 0) munmap((void *)m->data, m->size);
    free(m->path);
    memset(m, 0, sizeof *m);
}

int l3_read_file(const char *path, size_t max, char **out, size_t *len, llama3_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return l3_fail(err, LLAMA3_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) { fclose(f); return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path); }
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                free(buf); fclose(f);
                return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: file larger than %zu bytes", path, max);
            }
            cap = cap * 2 > max ? max : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) { free(buf); fclose(f); return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path); }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    if (ferror(f)) { free(buf); fclose(f); return l3_fail(err, LLAMA3_ERR_IO, "%s: read error", path); }
    fclose(f);
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
}

bool l3_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool l3_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *l3_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

int64_t l3_time_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double l3_time_s(void) { return l3_time_ns() * 1e-9; }

void *l3_alloc_lines(size_t size) { return aligned_alloc(64, size ? (size + 63) / 64 * 64 : 64); }

bool l3_buf_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n, size_t max) {
    if (n > max || *len > max - n) return false;
    if (*len + n + 1 > *cap) {
        size_t c = (*len + n + 1) * 2;
        if (c > max + 1) c = max + 1;
        char *b = realloc(*buf, c);
        if (!b) return false;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = 0;
    return true;
}
