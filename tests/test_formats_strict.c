/* Loader strictness: files that parse but contradict themselves (a repeated name, two things
 * over the same bytes, a size that runs past where the next thing starts, a wrong checksum,
 * one shard given twice) must be refused with a message naming the problem. Each case first
 * loads a valid twin of the file, so the refusal is the checked property's doing. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/crc32.h"
#include "formats/gguf.h"
#include "formats/torch_pth.h"
#include "fuzz_common.h"
#include "test_formats.h"

typedef enum { AS_GGUF, AS_PTH } open_as;

/* The valid twin: true when the temp file `name` opens as a GGUF or a PyTorch checkpoint
 * (the error is printed otherwise). */
static int opens(const char *name, open_as as) {
    llama3_error err = { 0 };
    int rc;
    if (as == AS_GGUF) {
        l3_gguf *g = NULL;
        rc = l3_gguf_open(fmt_tmp(name), &g, &err);
        l3_gguf_close(g);
    } else {
        l3_pth *p = NULL;
        rc = l3_pth_open(fmt_tmp(name), &p, &err);
        l3_pth_close(p);
    }
    if (rc) fprintf(stderr, "%s: %s\n", name, err.msg);
    return rc == 0;
}

/* ---- GGUF ------------------------------------------------------------------------------- */

typedef struct gguf_t { const char *name; uint64_t offset; int n; } gguf_t;  /* F32 vector */

/* A GGUF v3 file: u32 keys keys[i] = i, F32 vectors, the data section padded to 32 bytes
 * after the tensor infos and data_len bytes long. */
static int write_gguf(const char *name, const char *const *keys, int n_keys, const gguf_t *t, int n_t,
                      uint64_t data_len) {
    fz_buf b = { 0 };
    fz_puts(&b, "GGUF");
    fz_put_u32(&b, 3);
    fz_put_u64(&b, (uint64_t)n_t);
    fz_put_u64(&b, (uint64_t)n_keys);
    for (int i = 0; i < n_keys; i++) {
        fz_put_u64(&b, strlen(keys[i]));
        fz_puts(&b, keys[i]);
        fz_put_u32(&b, GGUF_U32);
        fz_put_u32(&b, (uint32_t)i);
    }
    for (int i = 0; i < n_t; i++) {
        fz_put_u64(&b, strlen(t[i].name));
        fz_puts(&b, t[i].name);
        fz_put_u32(&b, 1);
        fz_put_u64(&b, (uint64_t)t[i].n);
        fz_put_u32(&b, 0);  /* F32 */
        fz_put_u64(&b, t[i].offset);
    }
    while (b.n % 32) fz_put_u8(&b, 0);
    for (uint64_t i = 0; i < data_len; i++) fz_put_u8(&b, (uint8_t)i);
    int rc = fmt_write(fmt_tmp(name), b.p, b.n);
    fz_free(&b);
    return rc;
}

static int gguf_expect(const char *name, const char *n1, const char *n2) {
    llama3_error err = { 0 };
    l3_gguf *g = (l3_gguf *)1;
    int rc = l3_gguf_open(fmt_tmp(name), &g, &err);
    CHECK(g == NULL);
    CHECK_ERROR(rc, err, name, n1, n2);
    return 0;
}

static int gguf_duplicate_key(void) {
    const char *keys[] = { "general.architecture", "llama.block_count", "general.architecture" };
    CHECK(write_gguf("unique.gguf", keys, 2, NULL, 0, 0) == 0 && opens("unique.gguf", AS_GGUF));
    CHECK(write_gguf("dup.gguf", keys, 3, NULL, 0, 0) == 0);
    return gguf_expect("dup.gguf", "metadata key 'general.architecture' appears twice", NULL);
}

static int gguf_tensors_overlap(void) {
    const gguf_t apart[] = { { "a", 0, 16 }, { "b", 64, 8 } };
    CHECK(write_gguf("apart.gguf", NULL, 0, apart, 2, 96) == 0 && opens("apart.gguf", AS_GGUF));
    const gguf_t same[] = { { "a", 0, 16 }, { "b", 0, 8 } };  /* b is a's first half */
    CHECK(write_gguf("same.gguf", NULL, 0, same, 2, 96) == 0);
    CHECK(gguf_expect("same.gguf", "tensor 'a' (offset 0, 64 bytes) overlaps tensor 'b' (offset 0)", NULL) == 0);
    const gguf_t partly[] = { { "b", 32, 16 }, { "a", 0, 16 } };  /* a's last 32 bytes are b's first */
    CHECK(write_gguf("partly.gguf", NULL, 0, partly, 2, 96) == 0);
    return gguf_expect("partly.gguf", "tensor 'a' (offset 0, 64 bytes) overlaps tensor 'b' (offset 32)", NULL);
}

/* The bound on tensor data is exact: a last tensor that ends on the file's last byte loads,
 * one byte less of file is refused. */
static int gguf_last_tensor_past_end(void) {
    const gguf_t t[] = { { "a", 0, 8 }, { "b", 32, 8 } };
    CHECK(write_gguf("exact.gguf", NULL, 0, t, 2, 64) == 0 && opens("exact.gguf", AS_GGUF));
    CHECK(write_gguf("short.gguf", NULL, 0, t, 2, 63) == 0);
    return gguf_expect("short.gguf", "tensor 'b': data (offset 32, 32 bytes) lies beyond the end of the file", NULL);
}

/* ---- PyTorch zips ----------------------------------------------------------------------- */

static const float k_values[4] = { 1.5f, -2.0f, 3.25f, 4.0f };

static void put_le(uint8_t *p, int bytes, uint64_t v) {
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes; i-- > 0;) v = v << 8 | p[i];
    return v;
}

/* Offset of the data of the entry whose name ends with suffix (through its local header). */
static size_t entry_data_at(uint8_t *buf, size_t len, const char *suffix) {
    const uint8_t *r = fmt_find_cdir(buf, len, suffix);
    size_t local = r ? get_le(r + 42, 4) : len;
    if (local + 30 > len) return 0;
    return local + 30 + get_le(buf + local + 26, 2) + get_le(buf + local + 28, 2);
}

/* One flipped bit in a tensor's bytes: the entry's CRC-32 no longer matches. */
static int pth_crc_mismatch(void) {
    fmt_pickle pk = { 0 };
    fmt_pickle_state_dict(&pk, 2, 1);
    fmt_zip_entry e[] = { { "archive/data.pkl", pk.b, pk.n }, { "archive/data/0", k_values, sizeof k_values } };
    CHECK(fmt_write_zip(fmt_tmp("ok.pth"), e, 2) == 0 && opens("ok.pth", AS_PTH));
    uint8_t *buf;
    size_t len;
    CHECK(fmt_read(fmt_tmp("ok.pth"), &buf, &len) == 0);
    size_t at = entry_data_at(buf, len, "archive/data/0");
    if (at) buf[at + 5] ^= 0x10;
    int rc = at ? fmt_write(fmt_tmp("flip.pth"), buf, len) : -1;
    free(buf);
    CHECK(rc == 0);
    CHECK(fmt_pth_expect("flip.pth", "zip entry archive/data/0 is corrupt: CRC-32 of its 16 bytes", NULL) == 0);
    /* the same in a checkpoint written by PyTorch (sizes and CRCs in the central directory) */
    CHECK(fmt_read(fmt_fixture("models/gqa/meta/consolidated.00.pth"), &buf, &len) == 0);
    at = entry_data_at(buf, len, "/data/0");
    if (at) buf[at + 100] ^= 1;
    rc = at ? fmt_write(fmt_tmp("consolidated.00.pth"), buf, len) : -1;
    free(buf);
    CHECK(rc == 0);
    return fmt_pth_expect("consolidated.00.pth", "consolidated.00/data/0 is corrupt: CRC-32", NULL);
}

/* Two entries of one name: the first or the last one would be the tensor, depending on the
 * reader. */
static int pth_duplicate_entry(void) {
    fmt_pickle pk = { 0 };
    fmt_pickle_state_dict(&pk, 2, 1);
    static const float other[4] = { 9, 9, 9, 9 };
    fmt_zip_entry e[] = { { "archive/data.pkl", pk.b, pk.n }, { "archive/data/0", k_values, sizeof k_values },
                          { "archive/data/0", other, sizeof other } };
    CHECK(fmt_write_zip(fmt_tmp("once.pth"), e, 2) == 0 && opens("once.pth", AS_PTH));
    CHECK(fmt_write_zip(fmt_tmp("twice.pth"), e, 3) == 0);
    return fmt_pth_expect("twice.pth", "zip entry archive/data/0 appears twice in the directory", NULL);
}

typedef enum { CD_SIZE, LOCAL_NAME_LEN, LOCAL_EXTRA_LEN, LOCAL_SIZE } zip_patch;

/* A state dict archive (fz_zip's layout: entries back to back, data 64-byte aligned; zip64:
 * sizes in zip64 extra fields) whose archive/data/0 (the tensor's 16 bytes) is the last
 * entry or is followed by archive/version; `patch` adds one to one of data/0's fields, so that
 * its data ends one byte into what follows (< 0: unpatched). */
static int write_overrun(const char *name, int zip64, int data_last, int patch) {
    fmt_pickle pk = { 0 };
    fmt_pickle_state_dict(&pk, 2, 1);
    fz_buf data[3] = { { pk.b, pk.n, pk.n }, { (uint8_t *)k_values, sizeof k_values, sizeof k_values },
                       { (uint8_t *)"3\n", 2, 2 } };
    const char *names[3] = { "archive/data.pkl", "archive/data/0", "archive/version" };
    if (data_last) {
        fz_buf d = data[1];
        data[1] = data[2], data[2] = d;
        names[1] = "archive/version", names[2] = "archive/data/0";
    }
    fz_buf b = { 0 };
    (zip64 ? fz_zip64 : fz_zip)(&b, 3, names, data);
    uint8_t *r = fmt_find_cdir(b.p, b.n, "archive/data/0");
    CHECK(r);
    uint8_t *lh = b.p + get_le(r + 42, 4);
    const uint64_t nl = get_le(lh + 26, 2);
    uint8_t *cd_sizes = zip64 ? r + 46 + nl + 4 : r + 20, *local_sizes = zip64 ? lh + 30 + nl + 4 : lh + 18;
    const int w = zip64 ? 8 : 4;
    switch (patch) {
    case CD_SIZE: put_le(cd_sizes, w, 17); put_le(cd_sizes + w, w, 17); break;
    case LOCAL_NAME_LEN: put_le(lh + 26, 2, nl + 1); break;
    case LOCAL_EXTRA_LEN: put_le(lh + 28, 2, get_le(lh + 28, 2) + 1); break;
    case LOCAL_SIZE: put_le(local_sizes, w, 17); put_le(local_sizes + w, w, 17); break;
    }
    int rc = fmt_write(fmt_tmp(name), b.p, b.n);
    fz_free(&b);
    CHECK(rc == 0);
    return 0;
}

/* Sizes that run into the next entry or the central directory: two entries over the same
 * bytes, or data that other zip readers delimit differently. */
static int pth_entry_overruns(void) {
    static const struct { const char *name; int zip64, data_last, patch; const char *says; } cases[] = {
        { "cd_size.pth", 0, 0, CD_SIZE, "(17 bytes from offset 256, the directory's size) runs into the next entry at offset 272" },
        { "name_len.pth", 0, 0, LOCAL_NAME_LEN, "(16 bytes from offset 257, the directory's size) runs into the next entry at offset 272" },
        { "extra_len.pth", 0, 0, LOCAL_EXTRA_LEN, "(16 bytes from offset 257, the directory's size) runs into the next entry at offset 272" },
        { "local_size.pth", 0, 0, LOCAL_SIZE, "(17 bytes from offset 256, the local header's size) runs into the next entry at offset 272" },
        { "cd_size64.pth", 1, 0, CD_SIZE, "(17 bytes from offset 384, the directory's size) runs into the next entry at offset 400" },
        { "local_size64.pth", 1, 0, LOCAL_SIZE, "(17 bytes from offset 384, the local header's size) runs into the next entry at offset 400" },
        { "last.pth", 0, 1, CD_SIZE, "(17 bytes from offset 320, the directory's size) runs into the central directory at offset 336" },
    };
    for (int zip64 = 0; zip64 < 2; zip64++)
        for (int last = 0; last < 2; last++) CHECK(write_overrun("ok.pth", zip64, last, -1) == 0 && opens("ok.pth", AS_PTH));
    int wrong = 0;  /* every case runs, so a failure shows each outcome */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(write_overrun(cases[i].name, cases[i].zip64, cases[i].data_last, cases[i].patch) == 0);
        wrong += fmt_pth_expect(cases[i].name, "zip entry archive/data/0: its data", cases[i].says) != 0;
    }
    CHECK(wrong == 0);
    return 0;
}

/* ---- Meta folders ----------------------------------------------------------------------- */

/* Two shards of one file load rank 0's slice twice with every merged shape right. The fixture's
 * two real shards load; then shard 0 as consolidated.01.pth too, made as `how`. */
static int meta_shard_twice(const char *how) {
    CHECK(fmt_link_fixture("models/gqa/meta2/params.json", "params.json") == 0);
    CHECK(fmt_link_fixture("models/gqa/meta2/consolidated.00.pth", "consolidated.00.pth") == 0);
    CHECK(fmt_link_fixture("models/gqa/meta2/consolidated.01.pth", "consolidated.01.pth") == 0);
    llama3_error err = { 0 };
    int rc = fmt_load_tmp_meta(&err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    CHECK(rc == 0);
    char shard0[1024], shard1[1024];
    snprintf(shard0, sizeof shard0, "%s", fmt_tmp("consolidated.00.pth"));
    snprintf(shard1, sizeof shard1, "%s", fmt_tmp("consolidated.01.pth"));
    CHECK(unlink(shard0) == 0 && unlink(shard1) == 0);
    uint8_t *buf;
    size_t len;
    CHECK(fmt_read(fmt_fixture("models/gqa/meta2/consolidated.00.pth"), &buf, &len) == 0);
    rc = fmt_write(shard0, buf, len);
    if (rc == 0 && !strcmp(how, "copy")) rc = fmt_write(shard1, buf, len);
    if (rc == 0 && !strcmp(how, "hardlink")) rc = link(shard0, shard1);
    if (rc == 0 && !strcmp(how, "symlink")) rc = symlink("consolidated.00.pth", shard1);
    free(buf);
    CHECK(rc == 0);
    CHECK_ERROR(fmt_load_tmp_meta(&err), err, "consolidated.01.pth is",
                strcmp(how, "copy") ? "the same file as (a link to) consolidated.00.pth" : "a byte-for-byte copy of consolidated.00.pth",
                "each model-parallel rank needs its own shard");
    return 0;
}

/* The zip CRC-32: the check value, and a buffer big enough to be cut into pieces on several
 * threads gives what a run of small (single-threaded) calls gives. */
static int crc32_pieces(void) {
    CHECK(l3_crc32(0, "123456789", 9) == 0xCBF43926u);
    const size_t n = (size_t)97 << 20;  /* pieces of 32 MiB and more, and a ragged tail */
    uint8_t *buf = malloc(n);
    CHECK(buf != NULL);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) x ^= x << 13, x ^= x >> 7, x ^= x << 17, buf[i] = (uint8_t)x;
    uint32_t chained = 0;
    for (size_t at = 0; at < n; at += (size_t)5 << 20) chained = l3_crc32(chained, buf + at, n - at < (5u << 20) ? n - at : 5u << 20);
    const uint32_t whole = l3_crc32(0, buf, n), continued = l3_crc32(l3_crc32(0, buf, 1000), buf + 1000, n - 1000);
    free(buf);
    CHECK(whole == chained && continued == chained);
    return 0;
}

static int meta_shard_hardlink(void) { return meta_shard_twice("hardlink"); }
static int meta_shard_symlink(void) { return meta_shard_twice("symlink"); }
static int meta_shard_copy(void) { return meta_shard_twice("copy"); }

const fmt_case FMT_STRICT_CASES[] = {
    {"gguf_duplicate_key", gguf_duplicate_key},
    {"gguf_tensors_overlap", gguf_tensors_overlap},
    {"gguf_last_tensor_past_end", gguf_last_tensor_past_end},
    {"pth_crc_mismatch", pth_crc_mismatch},
    {"crc32_pieces", crc32_pieces},
    {"pth_duplicate_entry", pth_duplicate_entry},
    {"pth_entry_overruns", pth_entry_overruns},
    {"meta_shard_hardlink", meta_shard_hardlink},
    {"meta_shard_symlink", meta_shard_symlink},
    {"meta_shard_copy", meta_shard_copy},
    {NULL, NULL},
};
