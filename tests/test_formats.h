/* Shared helpers of the checkpoint-format tests (test_formats*.c). */
#ifndef LLAMA3_TEST_FORMATS_H
#define LLAMA3_TEST_FORMATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "llama3.h"

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                                \
        }                                                                            \
    } while (0)

/* rc must be an error and err->msg must contain every non-NULL needle. */
#define CHECK_ERROR(rc, err, ...)                                                    \
    do {                                                                             \
        if (fmt_expect_error((rc), &(err), __FILE__, __LINE__, __VA_ARGS__, NULL)) return 1; \
    } while (0)

int fmt_expect_error(int rc, const llama3_error *err, const char *file, int line, ...);

/* Paths: fixture (under LLAMA3_FIXTURES) and a private temp dir, emptied at exit. */
const char *fmt_fixture(const char *rel);   /* static buffer, valid until the next call */
const char *fmt_tmp(const char *name);      /* static buffer, valid until the next call */
const char *fmt_tmp_dir(void);

int fmt_read(const char *path, uint8_t **data, size_t *len);
int fmt_write(const char *path, const void *data, size_t len);
int fmt_link_fixture(const char *fixture_rel, const char *tmp_name);  /* symlink into the temp dir */

/* A safetensors file from a JSON header and a data section. */
int fmt_write_safetensors(const char *path, const char *header, const void *data, size_t len);

/* A zip of stored entries. */
typedef struct fmt_zip_entry { const char *name; const void *data; size_t len; } fmt_zip_entry;
int fmt_write_zip(const char *path, const fmt_zip_entry *entries, int n);

/* PyTorch checkpoints: a pickle buffer; {"w": 2x2 float tensor over storage "0" with the
 * given strides}; l3_pth_open(tmp_name) must fail with every non-NULL needle in its message;
 * the central-directory record of the first entry whose name ends with suffix. */
typedef struct fmt_pickle { uint8_t b[512]; size_t n; } fmt_pickle;
void fmt_pickle_state_dict(fmt_pickle *p, int stride0, int stride1);
int fmt_pth_expect(const char *tmp_name, const char *n1, const char *n2);
uint8_t *fmt_find_cdir(uint8_t *buf, size_t len, const char *suffix);

/* l3_load_meta on the temp dir (the weights freed): its status. */
int fmt_load_tmp_meta(llama3_error *err);

typedef struct fmt_case { const char *name; int (*fn)(void); } fmt_case;
extern const fmt_case FMT_GOOD_CASES[];
extern const fmt_case FMT_BAD_CASES[];
extern const fmt_case FMT_STRICT_CASES[];

#endif
