#include "formats/zip.h"

#include <stdlib.h>
#include <string.h>

#include "formats/crc32.h"

enum {
    ZIP_EOCD_SIG = 0x06054b50, ZIP_EOCD_LEN = 22,
    ZIP64_LOCATOR_SIG = 0x07064b50, ZIP64_LOCATOR_LEN = 20,
    ZIP64_EOCD_SIG = 0x06064b50, ZIP64_EOCD_LEN = 56,
    ZIP_CDIR_SIG = 0x02014b50, ZIP_CDIR_LEN = 46,
    ZIP_LOCAL_SIG = 0x04034b50, ZIP_LOCAL_LEN = 30,
    ZIP64_EXTRA_ID = 0x0001,
};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* True when [off, off+len) lies inside the archive. */
static int zip_in_bounds(const l3_zip *z, uint64_t off, uint64_t len) {
    uint64_t end;
    return l3_add_ok(off, len, &end) && end <= z->size;
}

/* The end-of-central-directory record is the last thing in the file, followed by a comment
 * of at most 65535 bytes: scan backwards for its signature. */
static int64_t zip_find_eocd(const l3_zip *z) {
    if (z->size < ZIP_EOCD_LEN) return -1;
    uint64_t last = z->size - ZIP_EOCD_LEN;
    uint64_t first = last > 65535 ? last - 65535 : 0;
    for (uint64_t off = last + 1; off-- > first;)
        if (rd32(z->data + off) == ZIP_EOCD_SIG && off + ZIP_EOCD_LEN + rd16(z->data + off + 20) == z->size)
            return (int64_t)off;
    return -1;
}

/* Fields stored as 0xFFFF.../ in the classic record live in the zip64 extra field, in order. */
static int zip_read_zip64_extra(const l3_zip *z, const uint8_t *extra, uint16_t extra_len,
                                l3_zip_entry *e, int need_size, int need_comp, int need_off,
                                llama3_error *err) {
    uint32_t pos = 0;
    while (pos + 4 <= extra_len) {
        uint16_t id = rd16(extra + pos), len = rd16(extra + pos + 2);
        if (pos + 4 + (uint32_t)len > extra_len) break;
        if (id == ZIP64_EXTRA_ID) {
            const uint8_t *f = extra + pos + 4;
            uint32_t need = 8u * (uint32_t)(need_size + need_comp + need_off), at = 0;
            if (len < need)
                return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: zip entry %s: short zip64 extra field",
                               z->path, e->name);
            if (need_size) { e->size = rd64(f + at); at += 8; }
            if (need_comp) { e->comp_size = rd64(f + at); at += 8; }
            if (need_off) { e->local_offset = rd64(f + at); }
            return 0;
        }
        pos += 4u + len;
    }
    return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: zip entry %s: zip64 sizes without a zip64 extra field",
                   z->path, e->name);
}

static int zip_read_directory(l3_zip *z, uint64_t cd_off, uint64_t cd_size, uint64_t n,
                              llama3_error *err) {
    if (!zip_in_bounds(z, cd_off, cd_size))
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: zip central directory outside the file (truncated?)",
                       z->path);
    /* Each record takes at least 46 bytes: bounds n before allocating. */
    if (n > cd_size / ZIP_CDIR_LEN)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: zip directory claims %llu entries in %llu bytes",
                       z->path, (unsigned long long)n, (unsigned long long)cd_size);
    z->entries = calloc(n ? n : 1, sizeof *z->entries);
    z->crc_ok = calloc(n ? n : 1, 1);
    if (!z->entries || !z->crc_ok) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", z->path);
    uint64_t pos = cd_off, end = cd_off + cd_size;
    for (uint64_t i = 0; i < n; i++) {
        if (pos + ZIP_CDIR_LEN > end || rd32(z->data + pos) != ZIP_CDIR_SIG)
            return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: zip central directory record %llu is malformed",
                           z->path, (unsigned long long)i);
        const uint8_t *r = z->data + pos;
        uint16_t name_len = rd16(r + 28), extra_len = rd16(r + 30), comment_len = rd16(r + 32);
        uint64_t rec_len = (uint64_t)ZIP_CDIR_LEN + name_len + extra_len + comment_len;
        if (pos + rec_len > end)
            return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: zip central directory record %llu is truncated",
                           z->path, (unsigned long long)i);
        l3_zip_entry *e = &z->entries[i];
        if (!(e->name = malloc((size_t)name_len + 1)))
            return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", z->path);
        memcpy(e->name, r + ZIP_CDIR_LEN, name_len);
        e->name[name_len] = 0;
        z->n_entries = i + 1;
        e->flags = rd16(r + 8);
        e->method = rd16(r + 10);
        e->crc32 = rd32(r + 16);
        e->comp_size = rd32(r + 20);
        e->size = rd32(r + 24);
        e->local_offset = rd32(r + 42);
        int need_size = e->size == UINT32_MAX, need_comp = e->comp_size == UINT32_MAX,
            need_off = e->local_offset == UINT32_MAX;
        if (need_size || need_comp || need_off) {
            int rc = zip_read_zip64_extra(z, r + ZIP_CDIR_LEN + name_len, extra_len, e, need_size,
                                          need_comp, need_off, err);
            if (rc) return rc;
        }
        pos += rec_len;
    }
    return 0;
}

/* Sorts the entry indices idx[0..n_entries) by cmp, ties by index (a merge sort: qsort has
 * no context argument for the comparator); tmp has room for n_entries. */
static void zip_sort(const l3_zip *z, uint64_t *idx, uint64_t *tmp,
                     int (*cmp)(const l3_zip *, uint64_t, uint64_t)) {
    const uint64_t n = z->n_entries;
    for (uint64_t width = 1; width < n; width *= 2) {
        for (uint64_t lo = 0; lo < n; lo += 2 * width) {
            uint64_t mid = lo + width < n ? lo + width : n;
            uint64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            uint64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                int c = cmp(z, idx[i], idx[j]);
                tmp[k++] = (c < 0 || (c == 0 && idx[i] < idx[j])) ? idx[i++] : idx[j++];
            }
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, n * sizeof *tmp);
    }
}

static int cmp_name(const l3_zip *z, uint64_t a, uint64_t b) { return strcmp(z->entries[a].name, z->entries[b].name); }

/* Names are indexed once, sorted, so the pickle's lookup per storage costs log n (a crafted
 * 6 MB checkpoint holds 50,000 entries and names them 300,000 times). A name that appears
 * twice is refused: readers that take the first or the last entry of a name would load
 * different tensors. */
static int zip_index_names(l3_zip *z, uint64_t *tmp, llama3_error *err) {
    z->by_name = malloc((z->n_entries ? z->n_entries : 1) * sizeof *z->by_name);
    if (!z->by_name) return l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", z->path);
    for (uint64_t i = 0; i < z->n_entries; i++) z->by_name[i] = i;
    zip_sort(z, z->by_name, tmp, cmp_name);
    for (uint64_t i = 1; i < z->n_entries; i++)
        if (cmp_name(z, z->by_name[i - 1], z->by_name[i]) == 0)
            return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: zip entry %s appears twice in the directory", z->path,
                           z->entries[z->by_name[i]].name);
    return 0;
}

static int cmp_offset(const l3_zip *z, uint64_t a, uint64_t b) {
    const uint64_t x = z->entries[a].local_offset, y = z->entries[b].local_offset;
    return (x > y) - (x < y);
}

/* Each entry's room (room_end): from its local header up to the next entry's local header in
 * file order, or up to the central directory after the last one; none for entries that share a
 * local header. l3_zip_entry_data refuses sizes that run past it. */
static void zip_entry_rooms(l3_zip *z, uint64_t cd_off, uint64_t *tmp) {
    const uint64_t n = z->n_entries;
    uint64_t *idx = tmp + n;
    for (uint64_t i = 0; i < n; i++) idx[i] = i;
    zip_sort(z, idx, tmp, cmp_offset);
    for (uint64_t k = 0; k < n; k++) {
        l3_zip_entry *e = &z->entries[idx[k]];
        uint64_t room = k + 1 < n ? z->entries[idx[k + 1]].local_offset : cd_off;
        if (room > cd_off) room = cd_off;
        if (k > 0 && z->entries[idx[k - 1]].local_offset == e->local_offset) room = e->local_offset;
        e->room_end = room;
    }
}

int l3_zip_open(l3_zip *z, const uint8_t *data, uint64_t size, const char *path, llama3_error *err) {
    memset(z, 0, sizeof *z);
    z->data = data;
    z->size = size;
    z->path = path;
    int64_t eocd = zip_find_eocd(z);
    if (eocd < 0)
        return l3_fail(err, LLAMA3_ERR_FORMAT,
                       "%s: not a zip archive or truncated (no end of central directory record)", path);
    const uint8_t *r = data + eocd;
    uint64_t n = rd16(r + 10), cd_size = rd32(r + 12), cd_off = rd32(r + 16);
    if (n == UINT16_MAX || cd_size == UINT32_MAX || cd_off == UINT32_MAX) {
        /* Zip64: a locator just before the classic record points at the zip64 record. */
        if (eocd < ZIP64_LOCATOR_LEN || rd32(data + eocd - ZIP64_LOCATOR_LEN) != ZIP64_LOCATOR_SIG)
            return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: zip64 archive without a zip64 locator", path);
        uint64_t z64 = rd64(data + eocd - ZIP64_LOCATOR_LEN + 8);
        if (!zip_in_bounds(z, z64, ZIP64_EOCD_LEN) || rd32(data + z64) != ZIP64_EOCD_SIG)
            return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: bad zip64 end of central directory record", path);
        n = rd64(data + z64 + 32);
        cd_size = rd64(data + z64 + 40);
        cd_off = rd64(data + z64 + 48);
    }
    z->cd_offset = cd_off;
    int rc = zip_read_directory(z, cd_off, cd_size, n, err);
    uint64_t *tmp = NULL;  /* the sorts' scratch, then (second half) the order by offset */
    if (rc == 0 && !(tmp = malloc((z->n_entries ? z->n_entries : 1) * 2 * sizeof *tmp)))
        rc = l3_fail(err, LLAMA3_ERR_MEMORY, "%s: out of memory", path);
    if (rc == 0) rc = zip_index_names(z, tmp, err);
    if (rc == 0) zip_entry_rooms(z, cd_off, tmp);
    free(tmp);
    if (rc) l3_zip_close(z);
    return rc;
}

void l3_zip_close(l3_zip *z) {
    for (uint64_t i = 0; i < z->n_entries; i++) free(z->entries[i].name);
    free(z->entries);
    free(z->by_name);
    free(z->crc_ok);
    z->entries = NULL;
    z->by_name = NULL;
    z->crc_ok = NULL;
    z->n_entries = 0;
}

const l3_zip_entry *l3_zip_find(const l3_zip *z, const char *name) {
    if (!z->by_name) {  /* not indexed (a hand-built l3_zip): scan */
        for (uint64_t i = 0; i < z->n_entries; i++)
            if (strcmp(z->entries[i].name, name) == 0) return &z->entries[i];
        return NULL;
    }
    uint64_t lo = 0, hi = z->n_entries;  /* first position whose name is >= name */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (strcmp(z->entries[z->by_name[mid]].name, name) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo < z->n_entries && strcmp(z->entries[z->by_name[lo]].name, name) == 0) return &z->entries[z->by_name[lo]];
    return NULL;
}

int l3_zip_entry_data(const l3_zip *z, const l3_zip_entry *e, const uint8_t **out,
                      uint64_t *len, llama3_error *err) {
    if (e->flags & 1)
        return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "%s: zip entry %s is encrypted", z->path, e->name);
    if (e->method != 0 || e->comp_size != e->size)
        return l3_fail(err, LLAMA3_ERR_UNSUPPORTED,
                       "%s: zip entry %s is compressed (method %u); only stored entries are supported",
                       z->path, e->name, e->method);
    if (!zip_in_bounds(z, e->local_offset, ZIP_LOCAL_LEN) ||
        rd32(z->data + e->local_offset) != ZIP_LOCAL_SIG)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: zip entry %s: bad local header", z->path, e->name);
    const uint8_t *lh = z->data + e->local_offset;
    /* The local header has its own name and extra lengths (PyTorch pads the extra field so
     * the data is 64-byte aligned). */
    const uint16_t name_len = rd16(lh + 26), extra_len = rd16(lh + 28);
    uint64_t start = e->local_offset + ZIP_LOCAL_LEN + name_len + extra_len;
    if (!zip_in_bounds(z, start, e->size))
        return l3_fail(err, LLAMA3_ERR_FORMAT,
                       "%s: zip entry %s is truncated (%llu bytes at offset %llu, archive is %llu bytes)",
                       z->path, e->name, (unsigned long long)e->size, (unsigned long long)start,
                       (unsigned long long)z->size);
    /* Every size the archive states must fit the entry's room: the directory's (zip64 or
     * not), and the local header's own when it states them (flag bit 3 puts them in a data
     * descriptor after the data instead; 0xFFFFFFFF in a zip64 extra field). Otherwise two
     * entries share bytes, or another zip reader sees other data than this one. */
    l3_zip_entry local = *e;
    local.comp_size = rd32(lh + 18);
    local.size = rd32(lh + 22);
    int rc = 0;
    if (!(e->flags & 8) && (local.size == UINT32_MAX || local.comp_size == UINT32_MAX))
        rc = zip_read_zip64_extra(z, lh + ZIP_LOCAL_LEN + name_len, extra_len, &local, local.size == UINT32_MAX,
                                  local.comp_size == UINT32_MAX, 0, err);
    if (rc) return rc;
    const uint64_t sizes[3] = { e->size, e->flags & 8 ? 0 : local.size, e->flags & 8 ? 0 : local.comp_size };
    static const char *const whose[3] = { "directory's size", "local header's size", "local header's compressed size" };
    for (int k = 0; k < 3; k++) {
        uint64_t end;
        if (!l3_add_ok(start, sizes[k], &end) || end > e->room_end)
            return l3_fail(err, LLAMA3_ERR_FORMAT,
                           "%s: zip entry %s: its data (%llu bytes from offset %llu, the %s) runs into %s at offset %llu",
                           z->path, e->name, (unsigned long long)sizes[k], (unsigned long long)start, whose[k],
                           e->room_end == z->cd_offset ? "the central directory" : "the next entry",
                           (unsigned long long)e->room_end);
    }
    /* A flipped bit in a weight would go unnoticed by every other check. */
    const uint64_t i = (uint64_t)(e - z->entries);
    if (!z->crc_ok[i]) {
        const uint32_t crc = l3_crc32(0, z->data + start, e->size);
        if (crc != e->crc32)
            return l3_fail(err, LLAMA3_ERR_FORMAT,
                           "%s: zip entry %s is corrupt: CRC-32 of its %llu bytes is %08x, the directory says %08x",
                           z->path, e->name, (unsigned long long)e->size, crc, e->crc32);
        z->crc_ok[i] = 1;
    }
    *out = z->data + start;
    *len = e->size;
    return 0;
}
