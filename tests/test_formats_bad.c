/* Bad input, generated at test time in a temp dir from the fixtures: each case must fail
 * with a message that names the problem, without crashing (the suite also runs under
 * ASan/UBSan). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/safetensors.h"
#include "formats/torch_pth.h"
#include "loader.h"
#include "test_formats.h"

/* ---- safetensors ------------------------------------------------------------------------ */

static int st_expect(const char *header, size_t data_len, const char *n1, const char *n2) {
    uint8_t data[64] = {0};
    const char *path = fmt_tmp("bad.safetensors");
    CHECK(data_len <= sizeof data && fmt_write_safetensors(path, header, data, data_len) == 0);
    llama3_error err = {0};
    l3_safetensors *st = (l3_safetensors *)1;
    int rc = l3_st_open(path, &st, &err);
    CHECK(st == NULL);
    CHECK_ERROR(rc, err, "bad.safetensors", n1, n2);
    return 0;
}

static int st_truncated_header(void) {
    const char *path = fmt_tmp("short.safetensors");
    CHECK(fmt_write(path, "\x10\x00\x00", 3) == 0);
    llama3_error err = {0};
    l3_safetensors *st;
    CHECK_ERROR(l3_st_open(path, &st, &err), err, "truncated safetensors header");
    return 0;
}

static int st_header_beyond_file(void) {
    /* A real golden with its length field raised past the end of the file. */
    uint8_t *buf;
    size_t len;
    CHECK(fmt_read(fmt_fixture("models/gqa/golden-bf16.safetensors"), &buf, &len) == 0);
    uint64_t huge = (uint64_t)len;  /* > len - 8 */
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(huge >> (8 * i));
    const char *path = fmt_tmp("long.safetensors");
    int wrc = fmt_write(path, buf, len);
    free(buf);
    CHECK(wrc == 0);
    llama3_error err = {0};
    l3_safetensors *st;
    CHECK_ERROR(l3_st_open(path, &st, &err), err, "header length", "beyond the end of the file");
    return 0;
}

static int st_offsets_overlap(void) {
    return st_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap", NULL);
}

static int st_offsets_outside(void) {
    return st_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
                     "tensor a", "outside the data section");
}

static int st_span_vs_shape(void) {
    return st_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                     "tensor a", "needs 12");
}

static int st_shape_overflow(void) {
    return st_expect("{\"a\":{\"dtype\":\"BF16\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]}}", 8,
                     "tensor a", "overflows");
}

static int st_unknown_dtype(void) {
    return st_expect("{\"a\":{\"dtype\":\"Q9\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "unknown dtype", "Q9");
}

static int st_malformed_json(void) {
    return st_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],", 8, "malformed JSON", NULL);
}

static int st_negative_offset(void) {
    return st_expect("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[-2,0]}}", 8, "data_offsets", NULL);
}

/* ---- Hugging Face folders --------------------------------------------------------------- */

/* Text of a fixture file with one substring replaced. */
static char *fixture_text_replace(const char *rel, const char *from, const char *to) {
    uint8_t *buf;
    size_t len;
    if (fmt_read(fmt_fixture(rel), &buf, &len)) return NULL;
    char *hit = memmem(buf, len, from, strlen(from));
    size_t fl = strlen(from), tl = strlen(to);
    char *out = hit ? malloc(len - fl + tl + 1) : NULL;
    if (out) {
        size_t pre = (size_t)(hit - (char *)buf);
        memcpy(out, buf, pre);
        memcpy(out + pre, to, tl);
        memcpy(out + pre + tl, hit + fl, len - pre - fl);
        out[len - fl + tl] = 0;
    }
    free(buf);
    return out;
}

static int write_fixture_replaced(const char *rel, const char *from, const char *to, const char *tmp_name) {
    char *text = fixture_text_replace(rel, from, to);
    CHECK(text);
    int rc = fmt_write(fmt_tmp(tmp_name), text, strlen(text));
    free(text);
    CHECK(rc == 0);
    return 0;
}

static int load_tmp_hf(llama3_error *err) {
    l3_weights w;
    memset(&w, 0, sizeof w);
    int rc = l3_load_hf(fmt_tmp_dir(), NULL, &w, err);
    l3_weights_free(&w);
    return rc;
}

static int hf_shape_vs_config(void) {
    CHECK(write_fixture_replaced("models/gqa/hf/config.json", "\"intermediate_size\": 896",
                                 "\"intermediate_size\": 1024", "config.json") == 0);
    CHECK(fmt_link_fixture("models/gqa/hf/model.safetensors", "model.safetensors") == 0);
    llama3_error err = {0};
    CHECK_ERROR(load_tmp_hf(&err), err, "model.layers.0.mlp.gate_proj.weight: shape [896,256], expected [1024,256] from config.json");
    return 0;
}

static int hf_dtype_vs_config(void) {
    const char *cfg = "{\"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2,"
                      " \"num_key_value_heads\": 1, \"vocab_size\": 4, \"intermediate_size\": 16}";
    CHECK(fmt_write(fmt_tmp("config.json"), cfg, strlen(cfg)) == 0);
    int32_t data[32] = {0};
    CHECK(fmt_write_safetensors(fmt_tmp("model.safetensors"),
                                "{\"model.embed_tokens.weight\":{\"dtype\":\"I32\",\"shape\":[4,8],\"data_offsets\":[0,128]}}",
                                data, sizeof data) == 0);
    llama3_error err = {0};
    CHECK_ERROR(load_tmp_hf(&err), err, "model.embed_tokens.weight: dtype I32, expected BF16, F16 or F32");
    return 0;
}

static int hf_missing_shard(void) {
    CHECK(fmt_link_fixture("models/mqa31/hf/config.json", "config.json") == 0);
    CHECK(fmt_link_fixture("models/mqa31/hf/model.safetensors.index.json", "model.safetensors.index.json") == 0);
    CHECK(fmt_link_fixture("models/mqa31/hf/model-00001-of-00002.safetensors", "model-00001-of-00002.safetensors") == 0);
    llama3_error err = {0};
    CHECK_ERROR(load_tmp_hf(&err), err, "model-00002-of-00002.safetensors", "cannot open");
    return 0;
}

static int hf_missing_weights(void) {
    CHECK(fmt_link_fixture("models/gqa/hf/config.json", "config.json") == 0);
    llama3_error err = {0};
    CHECK_ERROR(load_tmp_hf(&err), err, "neither model.safetensors nor model.safetensors.index.json");
    return 0;
}

static int hf_malformed_config_json(void) {
    const char *cfg = "{\"hidden_size\": 256, \"num_hidden_layers\": 3,";
    CHECK(fmt_write(fmt_tmp("config.json"), cfg, strlen(cfg)) == 0);
    llama3_error err = {0};
    CHECK_ERROR(load_tmp_hf(&err), err, "config.json", "malformed JSON");
    return 0;
}

static int hf_malformed_index_json(void) {
    CHECK(fmt_link_fixture("models/mqa31/hf/config.json", "config.json") == 0);
    CHECK(write_fixture_replaced("models/mqa31/hf/model.safetensors.index.json", "\"weight_map\": {",
                                 "\"weight_map\": {{", "model.safetensors.index.json") == 0);
    llama3_error err = {0};
    CHECK_ERROR(load_tmp_hf(&err), err, "model.safetensors.index.json", "malformed JSON");
    return 0;
}

static int hf_index_leaves_folder(void) {
    CHECK(fmt_link_fixture("models/mqa31/hf/config.json", "config.json") == 0);
    CHECK(write_fixture_replaced("models/mqa31/hf/model.safetensors.index.json",
                                 "\"model-00001-of-00002.safetensors\"", "\"../../etc/passwd\"",
                                 "model.safetensors.index.json") == 0);
    llama3_error err = {0};
    CHECK_ERROR(load_tmp_hf(&err), err, "must be a file name in the same folder");
    return 0;
}

static int hf_missing_key(void) {
    CHECK(write_fixture_replaced("models/gqa/hf/config.json", "\"vocab_size\"", "\"vocab_sz\"", "config.json") == 0);
    llama3_error err = {0};
    CHECK_ERROR(load_tmp_hf(&err), err, "config.json", "missing key \"vocab_size\"");
    return 0;
}

static int hf_head_dim_mismatch(void) {
    CHECK(write_fixture_replaced("models/gqa/hf/config.json", "\"head_dim\": 64", "\"head_dim\": 32", "config.json") == 0);
    CHECK(fmt_link_fixture("models/gqa/hf/model.safetensors", "model.safetensors") == 0);
    llama3_error err = {0};
    CHECK_ERROR(load_tmp_hf(&err), err, "head_dim 32 differs from hidden_size / num_attention_heads = 64");
    return 0;
}

static int hf_unsupported_rope_scaling(void) {
    CHECK(write_fixture_replaced("models/mqa31/hf/config.json", "\"llama3\"", "\"yarn\"", "config.json") == 0);
    llama3_error err = {0};
    CHECK_ERROR(load_tmp_hf(&err), err, "rope_scaling type \"yarn\" unsupported");
    return 0;
}

/* transformers 5 writes "rope_parameters" (with rope_theta inside) instead of rope_scaling. */
static int hf_rope_parameters_v5(void) {
    CHECK(write_fixture_replaced("models/mqa31/hf/config.json", "\"rope_scaling\": {",
                                 "\"rope_parameters\": {\"rope_theta\": 123456.0,", "config.json") == 0);
    CHECK(fmt_link_fixture("models/mqa31/hf/model.safetensors.index.json", "model.safetensors.index.json") == 0);
    CHECK(fmt_link_fixture("models/mqa31/hf/model-00001-of-00002.safetensors", "model-00001-of-00002.safetensors") == 0);
    CHECK(fmt_link_fixture("models/mqa31/hf/model-00002-of-00002.safetensors", "model-00002-of-00002.safetensors") == 0);
    llama3_error err = {0};
    l3_weights w;
    memset(&w, 0, sizeof w);
    int rc = l3_load_hf(fmt_tmp_dir(), NULL, &w, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    int ok = rc == 0 && w.args.rope_theta == 123456.0f && w.args.use_scaled_rope && w.args.rope_scale_factor == 8;
    l3_weights_free(&w);
    CHECK(ok);
    return 0;
}

/* ---- Meta folders ----------------------------------------------------------------------- */

int fmt_load_tmp_meta(llama3_error *err) {
    l3_weights w;
    memset(&w, 0, sizeof w);
    int rc = l3_load_meta(fmt_tmp_dir(), NULL, &w, err);
    l3_weights_free(&w);
    return rc;
}

static int meta_shard_gap(void) {
    CHECK(fmt_link_fixture("models/gqa/meta2/params.json", "params.json") == 0);
    CHECK(fmt_link_fixture("models/gqa/meta2/consolidated.01.pth", "consolidated.01.pth") == 0);
    llama3_error err = {0};
    CHECK_ERROR(fmt_load_tmp_meta(&err), err, "missing shard consolidated.00.pth");
    return 0;
}

static int meta_shard_missing_by_shape(void) {
    CHECK(fmt_link_fixture("models/gqa/meta2/params.json", "params.json") == 0);
    CHECK(fmt_link_fixture("models/gqa/meta2/consolidated.00.pth", "consolidated.00.pth") == 0);
    llama3_error err = {0};
    CHECK_ERROR(fmt_load_tmp_meta(&err), err, "tok_embeddings.weight: shape [256,256], expected [512,256] from params.json",
                "shard missing");
    return 0;
}

static int meta_shards_disagree(void) {
    CHECK(fmt_link_fixture("models/gqa/meta2/params.json", "params.json") == 0);
    CHECK(fmt_link_fixture("models/gqa/meta2/consolidated.00.pth", "consolidated.00.pth") == 0);
    CHECK(fmt_link_fixture("models/gqa/meta/consolidated.00.pth", "consolidated.01.pth") == 0);
    llama3_error err = {0};
    CHECK_ERROR(fmt_load_tmp_meta(&err), err, "tok_embeddings.weight", "after merging the shards", "expected [512,256]");
    return 0;
}

static int meta_malformed_params_json(void) {
    CHECK(write_fixture_replaced("models/gqa/meta/params.json", "\"dim\": 256,", "\"dim\": 256,,", "params.json") == 0);
    CHECK(fmt_link_fixture("models/gqa/meta/consolidated.00.pth", "consolidated.00.pth") == 0);
    llama3_error err = {0};
    CHECK_ERROR(fmt_load_tmp_meta(&err), err, "params.json", "malformed JSON");
    return 0;
}

/* ---- PyTorch zip + pickle --------------------------------------------------------------- */

int fmt_pth_expect(const char *name, const char *n1, const char *n2) {
    llama3_error err = {0};
    l3_pth *p = (l3_pth *)1;
    int rc = l3_pth_open(fmt_tmp(name), &p, &err);
    CHECK(p == NULL);
    CHECK_ERROR(rc, err, n1, n2);
    return 0;
}

static void pk_bytes(fmt_pickle *p, const void *d, size_t n) { memcpy(p->b + p->n, d, n); p->n += n; }
static void pk_op(fmt_pickle *p, const char *ops) { pk_bytes(p, ops, strlen(ops)); }
static void pk_str(fmt_pickle *p, const char *s) {
    uint32_t n = (uint32_t)strlen(s);
    uint8_t hdr[5] = {'X', (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    pk_bytes(p, hdr, 5);
    pk_bytes(p, s, n);
}
static void pk_int1(fmt_pickle *p, int v) { uint8_t b[2] = {'K', (uint8_t)v}; pk_bytes(p, b, 2); }

/* {"w": 2x2 float tensor over storage "0" with the given strides}. */
void fmt_pickle_state_dict(fmt_pickle *p, int stride0, int stride1) {
    pk_op(p, "\x80\x02}(");
    pk_str(p, "w");
    pk_op(p, "ctorch._utils\n_rebuild_tensor_v2\n((");
    pk_str(p, "storage");
    pk_op(p, "ctorch\nFloatStorage\n");
    pk_str(p, "0");
    pk_str(p, "cpu");
    pk_int1(p, 4);
    pk_op(p, "tQ");
    pk_int1(p, 0);
    pk_int1(p, 2); pk_int1(p, 2); pk_op(p, "\x86");
    pk_int1(p, stride0); pk_int1(p, stride1); pk_op(p, "\x86");
    pk_op(p, "\x89" "ccollections\nOrderedDict\n)RtRu.");
}

static int write_pth(const char *name, const fmt_pickle *pk) {
    static const float values[4] = {1.5f, -2.0f, 3.25f, 4.0f};
    fmt_zip_entry e[] = {{"archive/data.pkl", pk->b, pk->n}, {"archive/data/0", values, sizeof values}};
    return fmt_write_zip(fmt_tmp(name), e, 2);
}

/* Positive control for the hand-built archives: the entry data is deliberately not 4-byte
 * aligned, so the reader must copy it. */
static int pth_crafted_ok(void) {
    fmt_pickle pk = {0};
    fmt_pickle_state_dict(&pk, 2, 1);
    CHECK(write_pth("ok.pth", &pk) == 0);
    llama3_error err = {0};
    l3_pth *p;
    int rc = l3_pth_open(fmt_tmp("ok.pth"), &p, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    CHECK(rc == 0);
    const l3_pth_tensor *t = l3_pth_find(p, "w");
    CHECK(p->n_tensors == 1 && t && t->l3type == 0 && t->n_dims == 2 && t->shape[0] == 2 && t->nbytes == 16);
    CHECK((uintptr_t)t->data % 4 == 0);
    float v[4];
    memcpy(v, t->data, sizeof v);
    CHECK(v[0] == 1.5f && v[1] == -2.0f && v[2] == 3.25f && v[3] == 4.0f);
    l3_pth_close(p);
    return 0;
}

static int pth_noncontiguous(void) {
    fmt_pickle pk = {0};
    fmt_pickle_state_dict(&pk, 1, 2);  /* a transposed view */
    CHECK(write_pth("t.pth", &pk) == 0);
    return fmt_pth_expect("t.pth", "not contiguous", NULL);
}

/* GLOBAL os.system + REDUCE: refused at the GLOBAL, and nothing runs. */
static int pth_evil_global(void) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "touch %s", fmt_tmp("pwned"));
    fmt_pickle pk = {0};
    pk_op(&pk, "\x80\x02" "cos\nsystem\n");
    pk_str(&pk, cmd);
    pk_op(&pk, "\x85R.");
    CHECK(write_pth("evil.pth", &pk) == 0);
    CHECK(fmt_pth_expect("evil.pth", "GLOBAL os.system is not allowed", "refused") == 0);
    CHECK(access(fmt_tmp("pwned"), F_OK) != 0);
    return 0;
}

static int pth_unsupported_opcode(void) {
    fmt_pickle pk = {0};
    pk_op(&pk, "\x80\x02}(");
    pk_str(&pk, "w");
    pk_op(&pk, "G\x3f\xf0\x00\x00\x00\x00\x00\x00u.");  /* BINFLOAT 1.0 */
    CHECK(write_pth("op.pth", &pk) == 0);
    return fmt_pth_expect("op.pth", "opcode 0x47 ('G') is outside the state-dict subset", NULL);
}

static int pth_not_a_dict(void) {
    fmt_pickle pk = {0};
    pk_op(&pk, "\x80\x02]."); /* an empty list */
    CHECK(write_pth("list.pth", &pk) == 0);
    return fmt_pth_expect("list.pth", "does not hold a dict", NULL);
}

/* Central-directory record of the first entry whose name ends with suffix. */
uint8_t *fmt_find_cdir(uint8_t *buf, size_t len, const char *suffix) {
    size_t sl = strlen(suffix);
    for (size_t i = 0; i + 46 < len; i++) {
        if (memcmp(buf + i, "PK\x01\x02", 4) != 0) continue;
        size_t nl = buf[i + 28] | (size_t)buf[i + 29] << 8;
        if (i + 46 + nl <= len && nl >= sl && memcmp(buf + i + 46 + nl - sl, suffix, sl) == 0) return buf + i;
    }
    return NULL;
}

static int patch_fixture_pth(const char *suffix, int method, uint32_t size, const char *out) {
    uint8_t *buf;
    size_t len;
    CHECK(fmt_read(fmt_fixture("models/gqa/meta/consolidated.00.pth"), &buf, &len) == 0);
    uint8_t *r = fmt_find_cdir(buf, len, suffix);
    if (r && method >= 0) { r[10] = (uint8_t)method; r[11] = 0; }
    if (r && size) for (int i = 0; i < 4; i++) r[20 + i] = r[24 + i] = (uint8_t)(size >> (8 * i));
    int rc = r ? fmt_write(fmt_tmp(out), buf, len) : -1;
    free(buf);
    CHECK(rc == 0);
    return 0;
}

static int pth_compressed_entry(void) {
    CHECK(patch_fixture_pth("/data.pkl", 8, 0, "deflated.pth") == 0);
    return fmt_pth_expect("deflated.pth", "data.pkl is compressed (method 8)", NULL);
}

static int pth_truncated_entry(void) {
    CHECK(patch_fixture_pth("/data/0", -1, 0x7fffff00u, "bigentry.pth") == 0);
    return fmt_pth_expect("bigentry.pth", "data/0 is truncated", NULL);
}

static int pth_truncated_file(void) {
    uint8_t *buf;
    size_t len;
    CHECK(fmt_read(fmt_fixture("models/gqa/meta/consolidated.00.pth"), &buf, &len) == 0);
    int rc = fmt_write(fmt_tmp("half.pth"), buf, len / 2);
    free(buf);
    CHECK(rc == 0);
    return fmt_pth_expect("half.pth", "truncated", "no end of central directory");
}

const fmt_case FMT_BAD_CASES[] = {
    {"st_truncated_header", st_truncated_header},
    {"st_header_beyond_file", st_header_beyond_file},
    {"st_offsets_overlap", st_offsets_overlap},
    {"st_offsets_outside", st_offsets_outside},
    {"st_span_vs_shape", st_span_vs_shape},
    {"st_shape_overflow", st_shape_overflow},
    {"st_unknown_dtype", st_unknown_dtype},
    {"st_malformed_json", st_malformed_json},
    {"st_negative_offset", st_negative_offset},
    {"hf_shape_vs_config", hf_shape_vs_config},
    {"hf_dtype_vs_config", hf_dtype_vs_config},
    {"hf_missing_shard", hf_missing_shard},
    {"hf_missing_weights", hf_missing_weights},
    {"hf_malformed_config_json", hf_malformed_config_json},
    {"hf_malformed_index_json", hf_malformed_index_json},
    {"hf_index_leaves_folder", hf_index_leaves_folder},
    {"hf_missing_key", hf_missing_key},
    {"hf_head_dim_mismatch", hf_head_dim_mismatch},
    {"hf_unsupported_rope_scaling", hf_unsupported_rope_scaling},
    {"hf_rope_parameters_v5", hf_rope_parameters_v5},
    {"meta_shard_gap", meta_shard_gap},
    {"meta_shard_missing_by_shape", meta_shard_missing_by_shape},
    {"meta_shards_disagree", meta_shards_disagree},
    {"meta_malformed_params_json", meta_malformed_params_json},
    {"pth_crafted_ok", pth_crafted_ok},
    {"pth_noncontiguous", pth_noncontiguous},
    {"pth_evil_global", pth_evil_global},
    {"pth_unsupported_opcode", pth_unsupported_opcode},
    {"pth_not_a_dict", pth_not_a_dict},
    {"pth_compressed_entry", pth_compressed_entry},
    {"pth_truncated_entry", pth_truncated_entry},
    {"pth_truncated_file", pth_truncated_file},
    {NULL, NULL},
};
