#include "formats/json_config.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

/* Config files are small; anything bigger is not one. */
#define JSON_CONFIG_MAX_BYTES (64u * 1024 * 1024)

int l3_json_load(const char *path, json_t **out, llama3_error *err) {
    *out = NULL;
    char *text;
    size_t len;
    int rc = l3_read_file(path, JSON_CONFIG_MAX_BYTES, &text, &len, err);
    if (rc) return rc;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!root)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: malformed JSON at line %d column %d: %s", path,
                       jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: expected a JSON object at the top level", path);
    }
    *out = root;
    return 0;
}

static const json_t *json_field(const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int json_missing(bool required, const char *key, const char *path, llama3_error *err) {
    return required ? l3_fail(err, LLAMA3_ERR_FORMAT, "%s: missing key \"%s\"", path, key) : 0;
}

int l3_json_int(const json_t *obj, const char *key, bool required, int *out, const char *path,
                llama3_error *err) {
    const json_t *v = json_field(obj, key);
    if (!v) return json_missing(required, key, path, err);
    if (!json_is_integer(v) || json_integer_value(v) < INT_MIN || json_integer_value(v) > INT_MAX)
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: \"%s\" must be an integer that fits 32 bits", path, key);
    *out = (int)json_integer_value(v);
    return 0;
}

int l3_json_float(const json_t *obj, const char *key, bool required, float *out, const char *path,
                  llama3_error *err) {
    const json_t *v = json_field(obj, key);
    if (!v) return json_missing(required, key, path, err);
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: \"%s\" must be a finite number", path, key);
    *out = (float)json_number_value(v);
    return 0;
}

int l3_json_bool(const json_t *obj, const char *key, bool required, bool *out, const char *path,
                 llama3_error *err) {
    const json_t *v = json_field(obj, key);
    if (!v) return json_missing(required, key, path, err);
    if (!json_is_boolean(v))
        return l3_fail(err, LLAMA3_ERR_FORMAT, "%s: \"%s\" must be true or false", path, key);
    *out = json_is_true(v);
    return 0;
}
