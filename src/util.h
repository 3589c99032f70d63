/* Small shared helpers: error messages, checked size arithmetic, file mapping. */
#ifndef LLAMA3_UTIL_H
#define LLAMA3_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "llama3.h"

/* Fill err (if not NULL) with code and a printf-style one-line message; returns code. */
int l3_fail(llama3_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Checked arithmetic on sizes coming from files: false on overflow. */
static inline bool l3_mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool l3_add_ok(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* A read-only memory map of a whole file. */
typedef struct l3_mapping {
    const uint8_t *data;
    size_t size;
    char *path;  /* owned copy, for error messages */
} l3_mapping;

int l3_map_file(const char *path, l3_mapping *out, llama3_error *err);
void l3_unmap(l3_mapping *m);
/* Replaces a mapping by a copy of its bytes in anonymous memory at the same address (pointers
 * into it stay valid; the file is no longer used): llama.cpp's --no-mmap. */
int l3_mapping_read_in(l3_mapping *m, llama3_error *err);

/* Read a whole (small) file into a NUL-terminated malloc'd buffer, refusing files > max. */
int l3_read_file(const char *path, size_t max, char **out, size_t *len, llama3_error *err);

bool l3_is_dir(const char *path);
bool l3_file_exists(const char *path);
/* Appends n bytes to a NUL-terminated growing buffer (*buf of *len bytes in *cap), doubling it;
 * refuses (returns false, buffer unchanged) when the result would exceed max bytes. */
bool l3_buf_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n, size_t max);

/* dir + "/" + name into a malloc'd string. */
char *l3_path_join(const char *dir, const char *name);

double l3_time_s(void);
/* the same clock in nanoseconds */
int64_t l3_time_ns(void);

/* size bytes (rounded up to a line) starting on a 64-byte cache line, for buffers the kernels
 * load 64 bytes at a time: malloc's 16-byte alignment puts every such load of a large buffer
 * across two lines, which costs two. Freed with free(). */
void *l3_alloc_lines(size_t size);

#endif
