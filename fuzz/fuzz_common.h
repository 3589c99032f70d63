/* Helpers shared by the fuzz harnesses, the replay driver and the seed generator.
 *
 * The parsers read files (memory maps), so a harness writes its input into a private scratch
 * folder under /dev/shm (or $TMPDIR, /tmp) created once per process and removed at exit.
 * Multi-file formats (Hugging Face and Meta folders) get a tiny, valid companion model built
 * in memory, so a fuzzed config.json meets real tensors and a fuzzed safetensors/.pth file
 * meets a real config. */
#ifndef LLAMA3_FUZZ_COMMON_H
#define LLAMA3_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "llama3.h"

/* A growable byte buffer. */
typedef struct fz_buf { uint8_t *p; size_t n, cap; } fz_buf;
void fz_put(fz_buf *b, const void *p, size_t n);
void fz_put_u8(fz_buf *b, uint8_t v);
void fz_put_u16(fz_buf *b, uint16_t v);
void fz_put_u32(fz_buf *b, uint32_t v);
void fz_put_u64(fz_buf *b, uint64_t v);
void fz_puts(fz_buf *b, const char *s);
void fz_free(fz_buf *b);

/* The process's scratch folder (created on first use; aborts if impossible). */
const char *fz_scratch(void);
/* A fresh sub-folder of the scratch folder, emptied: "<scratch>/<name>". Static storage. */
const char *fz_dir(const char *name);
/* Writes data to dir/name; returns the path (static storage, overwritten by the next call)
 * or aborts on I/O failure (a harness bug, not a finding). */
const char *fz_write(const char *dir, const char *name, const void *data, size_t len);
void fz_unlink(const char *dir, const char *name);

/* The tiny companion model: dim 16, 2 heads / 1 kv head (head_dim 8), 1 layer, FFN 64,
 * vocab 32, float32 weights. */
enum { FZ_DIM = 16, FZ_HEADS = 2, FZ_KV_HEADS = 1, FZ_LAYERS = 1, FZ_FFN = 64, FZ_VOCAB = 32 };
extern const char FZ_HF_CONFIG[];     /* config.json for it */
extern const char FZ_META_PARAMS[];   /* params.json for it (multiple_of 32 gives FFN 64) */
/* model.safetensors with Hugging Face names; shard = -1 for all tensors, or 0/1 for the
 * two halves of a sharded copy (see FZ_HF_INDEX). */
void fz_tiny_safetensors(fz_buf *out, int shard);
extern const char FZ_HF_INDEX[];      /* model.safetensors.index.json for the 2 shards */
extern const char *const FZ_HF_SHARD_NAMES[2];
/* consolidated.00.pth (PyTorch zip + pickle protocol 2) with Meta names. */
void fz_tiny_pth(fz_buf *out);
/* The pickle alone, with storages in entries "<prefix>/data/<i>" (fz_tiny_pth uses "tiny"). */
void fz_tiny_pickle(fz_buf *out);
/* Zip's CRC-32, a bit at a time: written into test archives independently of the reader's
 * table-driven l3_crc32. */
uint32_t fz_crc32(const uint8_t *p, size_t n);
/* A stored-entries zip of the given entries (data 64-byte aligned, as torch.save writes), and
 * the same with every size in zip64 extra fields (the 32-bit fields 0xFFFFFFFF). */
void fz_zip(fz_buf *out, int n, const char *const *names, const fz_buf *data);
void fz_zip64(fz_buf *out, int n, const char *const *names, const fz_buf *data);

/* Runs a model that loaded: when its shapes are tiny, one token through a 1-thread session
 * (logits checked finite or not, never read out of bounds). Frees nothing. */
void fz_exercise_model(llama3_model *m);
/* Every failure must say what went wrong, on one line: abort() otherwise (a finding). */
void fz_check_error(const llama3_error *err);
/* Loads a model folder (or file); on success exercises it, on failure checks the error. */
void fz_load_model(const char *path);
/* Meta's tokenizer.model from the fixtures (exits with a message naming `who` if absent). */
llama3_tokenizer *fz_llama3_tokenizer(const char *who);

/* Exercises a tokenizer: encode a few fixed strings in both special modes, decode every id
 * of the result and a few out-of-range ids, streaming detokenizer with small buffers. */
void fz_exercise_tokenizer(const llama3_tokenizer *t);

/* Splits data at every occurrence of the 4-byte separator "\x00\xff\x00\xff" into at most
 * max parts (the last part takes the rest). Returns the number of parts. */
int fz_split(const uint8_t *data, size_t len, const uint8_t **parts, size_t *lens, int max);

/* Smaller valid copies of the real tokenizer files, for seeds and mutation tests:
 * the first `lines` ranks of a tokenizer.model; a tokenizer.json keeping the ids below max_id
 * (and every added token), the merges among them and everything else as it was. 0 or -1. */
int fz_reduce_tiktoken(const char *src, int lines, fz_buf *out);
int fz_reduce_tokenizer_json(const char *src, int max_id, fz_buf *out);
/* A tokenizer_config.json with only the chat template and bos/eos of src. 0 or -1. */
int fz_reduce_tokenizer_config(const char *src, fz_buf *out);

/* Fixtures folder ($LLAMA3_FIXTURES, else the path compiled in as LLAMA3_FIXTURES_DIR). */
const char *fz_fixtures(void);

#endif
