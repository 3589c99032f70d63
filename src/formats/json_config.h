/* Typed reads of model configuration JSON files (config.json, params.json, index.json),
 * through jansson. Every error names the file and the key, and what was expected. */
#ifndef LLAMA3_JSON_CONFIG_H
#define LLAMA3_JSON_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include "util.h"

/* Reads and parses path; the root must be an object. *out is a new reference. */
int l3_json_load(const char *path, json_t **out, llama3_error *err);

/* A key that is absent or null is "missing": an error when required, else *out is kept. */
int l3_json_int(const json_t *obj, const char *key, bool required, int *out, const char *path,
                llama3_error *err);
/* Integers are accepted where a float is expected (JSON does not tell 1 from 1.0). */
int l3_json_float(const json_t *obj, const char *key, bool required, float *out, const char *path,
                  llama3_error *err);
int l3_json_bool(const json_t *obj, const char *key, bool required, bool *out, const char *path,
                 llama3_error *err);

#endif
