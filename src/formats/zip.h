/* Read-only view of a zip archive in memory: the central directory and the data of stored
 * (uncompressed) entries, as PyTorch writes its checkpoints. Zip64 sizes and offsets are
 * understood. Compressed, encrypted, truncated or corrupt (CRC-32) entries are refused when
 * their data is asked for, so an archive with a compressed entry we never read still opens. */
#ifndef LLAMA3_ZIP_H
#define LLAMA3_ZIP_H

#include <stdint.h>
#include "util.h"

typedef struct l3_zip_entry {
    char *name;              /* owned, NUL-terminated */
    uint16_t method;         /* 0 = stored */
    uint16_t flags;
    uint64_t comp_size, size;
    uint64_t local_offset;   /* of the local header */
    uint32_t crc32;          /* of the uncompressed data, from the central directory */
    uint64_t room_end;       /* the local header and data end by here: the next entry's local
                              * header or the central directory (set by l3_zip_open) */
} l3_zip_entry;

typedef struct l3_zip {
    const uint8_t *data;     /* the archive (not owned) */
    uint64_t size;
    uint64_t cd_offset;      /* where the central directory starts */
    const char *path;        /* for messages (not owned) */
    l3_zip_entry *entries;
    uint64_t n_entries;
    uint64_t *by_name;       /* entry indices sorted by name (unique): l3_zip_find in log time */
    uint8_t *crc_ok;         /* per entry: its CRC-32 was checked (each entry's bytes read once) */
} l3_zip;

/* Parses the central directory of the archive at data[0..size); refuses a name that appears
 * twice. */
int l3_zip_open(l3_zip *z, const uint8_t *data, uint64_t size, const char *path, llama3_error *err);
void l3_zip_close(l3_zip *z);
const l3_zip_entry *l3_zip_find(const l3_zip *z, const char *name);
/* Resolves a stored entry's bytes inside the archive; refuses other methods, entries that
 * run past the end of the archive or into the next entry (or the central directory), and data
 * whose CRC-32 differs from the directory's (checked on the first call for each entry: a pass
 * over its bytes). */
int l3_zip_entry_data(const l3_zip *z, const l3_zip_entry *e, const uint8_t **out,
                      uint64_t *len, llama3_error *err);

#endif
