/* Structured output (src/constrain/): the byte matcher against hand-written valid and invalid
 * documents, schemas it must refuse by name, and sampled replies: with random logits (the
 * gibberish of a random-weight model) and small token budgets, every reply constrained by a
 * schema must parse (jansson) and validate against the schema (the validator below, written
 * from the JSON Schema rules, not from the matcher).
 * usage: test_json_constraint VOCAB.gguf */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "constrain/json_grammar.h"
#include "llama3.h"

/* ---- an independent validator for the keywords the constraint supports ---- */
static int type_ok(const char *t, json_t *v) {
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "integer")) return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    return 0;
}

static int valid(json_t *v, json_t *schema) {
    json_t *type = json_object_get(schema, "type");
    if (json_is_string(type) && !type_ok(json_string_value(type), v)) return 0;
    if (json_is_array(type)) {
        size_t i;
        json_t *t;
        int any = 0;
        json_array_foreach(type, i, t) any |= type_ok(json_string_value(t), v);
        if (!any) return 0;
    }
    json_t *en = json_object_get(schema, "enum");
    if (en) {
        size_t i;
        json_t *e;
        int any = 0;
        json_array_foreach(en, i, e) any |= json_equal(e, v);
        if (!any) return 0;
    }
    json_t *props = json_object_get(schema, "properties");
    if (props && json_is_object(v)) {
        const char *k;
        json_t *pv;
        json_object_foreach(v, k, pv) {
            json_t *ps = json_object_get(props, k);
            if (ps && !valid(pv, ps)) return 0;
        }
    }
    json_t *req = json_object_get(schema, "required");
    if (req && json_is_object(v)) {
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r) if (!json_object_get(v, json_string_value(r))) return 0;
    }
    json_t *items = json_object_get(schema, "items");
    if (items && json_is_array(v)) {
        size_t i;
        json_t *it;
        json_array_foreach(v, i, it) if (!valid(it, items)) return 0;
    }
    return 1;
}

/* ---- the byte matcher on its own ---- */
static int matches(const char *schema, const char *text) {
    js_schema s;
    llama3_error err;
    if (js_schema_compile(&s, schema, schema ? strlen(schema) : 0, &err)) return -1;
    js_state st;
    js_start(&s, &st);
    int ok = 1;
    for (const char *p = text; *p && ok; p++) ok = js_step(&s, &st, (uint8_t)*p) == 0;
    ok = ok && js_complete(&s, &st);
    js_schema_free(&s);
    return ok;
}

static void test_matcher(void) {
    const char *any = "true";
    const char *good[] = { "{}", "{\"a\":[1,-2.5e+3,\"x\\u00e9\\n\",true,null,{\"b\":{}}]}", "[ 1 , 2 ]", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
                           "0", "-0.0", "1E5", "\"\\ud7ff\"" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) CHECK(matches(any, good[i]) == 1, "valid JSON refused: %s", good[i]);
    const char *bad[] = { "{,}", "{\"a\":1,}", "[1,]", "01", "1.", "-", "1e", "\"\\ud800\"", "\"a\x01\"", "\"\xc0\xaf\"",
                          "\"\xed\xa0\x80\"", "\"\\x\"", "tru", "nul", "{\"a\" 1}", "[1 2]", "{} {}", "\"abc",
                          "          1" /* more than 8 spaces */, "1234567890123456" /* 16 digits */ };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(matches(any, bad[i]) == 0, "invalid JSON accepted: %s", bad[i]);
    const char *obj = "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"},\"e\":{\"enum\":[\"x\",1,12]}},\"required\":[\"n\"]}";
    CHECK(matches(obj, "{\"n\":3}") == 1, "required only");
    CHECK(matches(obj, "{\"e\":12,\"n\":-4}") == 1, "enum then required");
    CHECK(matches(obj, "{\"e\":1}") == 0, "missing required");
    CHECK(matches(obj, "{\"n\":1.5}") == 0, "a fraction for an integer");
    CHECK(matches(obj, "{\"n\":1,\"n\":2}") == 0, "a key twice");
    CHECK(matches(obj, "{\"n\":1,\"z\":2}") == 0, "an undeclared key");
    CHECK(matches(obj, "{\"n\":1,\"e\":\"y\"}") == 0, "a value outside the enum");
    CHECK(matches(obj, "[]") == 0, "an array for an object");
    CHECK(matches(NULL, "[]") == 0 && matches(NULL, "{\"k\":[]}") == 1, "json_object: objects only");
    /* the shortest completion of a prefix makes a valid document */
    js_schema s;
    llama3_error err;
    CHECK(js_schema_compile(&s, obj, strlen(obj), &err) == 0, "%s", err.msg);
    js_state st;
    js_start(&s, &st);
    const char *prefix = "{\"e\":\"";
    for (const char *p = prefix; *p; p++) js_step(&s, &st, (uint8_t)*p);
    char out[64];
    int n = js_completion(&s, &st, out, sizeof out);
    CHECK(n == 9 && !memcmp(out, "x\",\"n\":0}", 9), "completion of %s: %.*s", prefix, n > 0 ? n : 0, out);
    js_schema_free(&s);
}

static void test_refused(const llama3_json_vocab *v) {
    const struct { const char *schema, *word; int code; } R[] = {
        { "{\"type\":\"string\",\"pattern\":\"^a\"}", "pattern", LLAMA3_ERR_UNSUPPORTED },
        { "{\"anyOf\":[{\"type\":\"string\"}]}", "anyOf", LLAMA3_ERR_UNSUPPORTED },
        { "{\"type\":\"integer\",\"minimum\":3}", "minimum", LLAMA3_ERR_UNSUPPORTED },
        { "{\"properties\":{\"a\":{\"$ref\":\"#/x\"}}}", "$ref", LLAMA3_ERR_UNSUPPORTED },
        { "{\"type\":\"strange\"}", "strange", LLAMA3_ERR_ARG },
        { "{\"type\":\"array\",\"items\":[{}]}", "tuples", LLAMA3_ERR_ARG },
        { "{\"type\":", "not JSON", LLAMA3_ERR_ARG },
    };
    for (size_t i = 0; i < sizeof R / sizeof R[0]; i++) {
        llama3_error err = { 0 };
        llama3_json_constraint *c = llama3_json_constraint_new(v, R[i].schema, strlen(R[i].schema), &err);
        CHECK(!c && err.code == R[i].code && strstr(err.msg, R[i].word), "schema %s: code %d '%s'", R[i].schema, err.code, err.msg);
        llama3_json_constraint_free(c);
    }
}

/* Samples replies of at most `budget` tokens from random logits under c; returns the text. */
static char *sample_reply(llama3_json_constraint *c, const llama3_tokenizer *t, int n_vocab, int budget, uint64_t seed,
                          int *complete) {
    llama3_sampler_params p = llama3_sampler_defaults();
    p.temperature = 1, p.top_p = 1, p.seed = seed;
    llama3_sampler *smp = llama3_sampler_new(&p, n_vocab);
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    char *text = calloc(1, 1);
    size_t len = 0;
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int k = 0; k < budget; k++) {
        for (int i = 0; i < n_vocab; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            logits[i] = (float)(x >> 40) / (float)(1 << 24) * 8.0f;
        }
        llama3_json_constraint_apply(c, logits, budget - k);
        int32_t id = llama3_sample(smp, logits);
        CHECK(llama3_json_constraint_accept(c, id) == 0, "token %d refused after being allowed", id);
        if (id >= 128000) break;  /* an end token (allowed only once the document is complete) */
        size_t n;
        const char *b = llama3_token_bytes(t, id, &n);
        char *nt = realloc(text, len + n + 1);
        text = nt;
        memcpy(text + len, b, n);
        len += n;
        text[len] = 0;
    }
    *complete = llama3_json_constraint_complete(c);
    free(logits);
    llama3_sampler_free(smp);
    return text;
}

static void test_sampled(const llama3_json_vocab *v, const llama3_tokenizer *t) {
    const char *schemas[] = {
        NULL,
        "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"},"
        "\"score\":{\"type\":\"number\"},\"ok\":{\"type\":\"boolean\"},\"none\":{\"type\":\"null\"},"
        "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"color\":{\"enum\":[\"red\",\"green\",\"blue\"]},"
        "\"nested\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"},\"y\":{\"type\":[\"number\",\"null\"]}},"
        "\"required\":[\"x\",\"y\"]}},\"required\":[\"name\",\"age\",\"color\",\"nested\"]}",
        "{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}",
        "{\"enum\":[1,12,\"a\",null,true]}",
        "{\"type\":\"string\"}",
    };
    int n_vocab = llama3_tokenizer_n_vocab(t), runs = 0, replies_with_text = 0;
    for (size_t si = 0; si < sizeof schemas / sizeof schemas[0]; si++) {
        json_t *schema = schemas[si] ? json_loads(schemas[si], 0, NULL) : json_pack("{s:s}", "type", "object");
        for (int r = 0; r < 6; r++) {
            llama3_error err = { 0 };
            llama3_json_constraint *c = llama3_json_constraint_new(v, schemas[si], schemas[si] ? strlen(schemas[si]) : 0, &err);
            CHECK(c, "schema %zu: %s", si, err.msg);
            if (!c) break;
            int complete, budget = 30 + 17 * r;
            char *text = sample_reply(c, t, n_vocab, budget, 1000 * si + (uint64_t)r, &complete);
            json_error_t je;
            json_t *doc = json_loads(text, JSON_DECODE_ANY, &je);
            CHECK(complete, "schema %zu run %d: incomplete reply '%s'", si, r, text);
            CHECK(doc && valid(doc, schema), "schema %zu run %d: reply does not parse or validate: '%s' (%s)", si, r, text,
                  doc ? "invalid" : je.text);
            replies_with_text += strlen(text) > 8;
            runs++;
            json_decref(doc);
            free(text);
            llama3_json_constraint_free(c);
        }
        json_decref(schema);
    }
    CHECK(replies_with_text > runs / 2, "most replies should be more than a minimal document (%d of %d)", replies_with_text, runs);
    /* a tool call: the name picks the parameters' schema */
    const char *names[] = { "get_weather", "add" };
    const char *params[] = { "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}",
                             "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"number\"},\"b\":{\"type\":\"number\"}},\"required\":[\"a\",\"b\"]}" };
    int seen[2] = { 0, 0 };
    for (int r = 0; r < 12; r++) {
        llama3_error err = { 0 };
        llama3_json_constraint *c = llama3_json_constraint_tool_call(v, names, params, 2, &err);
        CHECK(c, "%s", err.msg);
        if (!c) break;
        int complete;
        char *text = sample_reply(c, t, n_vocab, 40 + 5 * r, 77 + (uint64_t)r, &complete);
        json_t *doc = json_loads(text, 0, NULL);
        const char *name = json_string_value(json_object_get(doc, "name"));
        int k = name && !strcmp(name, names[0]) ? 0 : name && !strcmp(name, names[1]) ? 1 : -1;
        json_t *ps = k >= 0 ? json_loads(params[k], 0, NULL) : NULL;
        CHECK(doc && k >= 0 && json_object_size(doc) == 2 && valid(json_object_get(doc, "parameters"), ps),
              "tool call %d: '%s'", r, text);
        if (k >= 0) seen[k]++;
        json_decref(ps);
        json_decref(doc);
        free(text);
        llama3_json_constraint_free(c);
    }
    CHECK(seen[0] && seen[1], "both functions get called (%d, %d)", seen[0], seen[1]);
    /* up to 3 calls in a row, separated by ';': each one valid, never a fourth, and a reply
     * always whole (a call begins only when one still fits the budget) */
    int several = 0;
    for (int r = 0; r < 12; r++) {
        llama3_error err = { 0 };
        llama3_json_constraint *c = llama3_json_constraint_tool_calls(v, names, params, 2, 3, &err);
        CHECK(c, "%s", err.msg);
        if (!c) break;
        int complete;
        char *text = sample_reply(c, t, n_vocab, 30 + 15 * r, 501 + (uint64_t)r, &complete);
        CHECK(complete, "tool calls %d: not whole: '%s'", r, text);
        size_t at = 0, n = strlen(text);
        int calls = 0;
        while (at < n) {
            json_error_t je;
            json_t *doc = json_loadb(text + at, n - at, JSON_DISABLE_EOF_CHECK, &je);
            const char *name = json_string_value(json_object_get(doc, "name"));
            int k = name && !strcmp(name, names[0]) ? 0 : name && !strcmp(name, names[1]) ? 1 : -1;
            json_t *ps = k >= 0 ? json_loads(params[k], 0, NULL) : NULL;
            CHECK(doc && k >= 0 && valid(json_object_get(doc, "parameters"), ps), "tool calls %d, call %d: '%s'", r, calls, text);
            json_decref(ps);
            json_decref(doc);
            if (!doc) break;
            calls++;
            at += je.position;
            while (at < n && strchr(" \t\n\r", text[at])) at++;
            if (at < n) CHECK(text[at] == ';', "tool calls %d: ';' between calls: '%s'", r, text);
            at++;
        }
        CHECK(calls >= 1 && calls <= 3, "tool calls %d: %d calls: '%s'", r, calls, text);
        several += calls > 1;
        free(text);
        llama3_json_constraint_free(c);
    }
    CHECK(several > 0, "some replies make several calls");
    llama3_error err = { 0 };
    CHECK(!llama3_json_constraint_tool_calls(v, names, params, 2, 0, &err), "max_calls 0 refused");
}

int main(int argc, char **argv) {
    test_matcher();
    if (argc < 2) { fprintf(stderr, "usage: test_json_constraint VOCAB\n"); return 2; }
    llama3_error err = { 0 };
    llama3_tokenizer *t = llama3_tokenizer_load(argv[1], &err);
    if (!t) { fprintf(stderr, "%s\n", err.msg); return 1; }
    llama3_json_vocab *v = llama3_json_vocab_new(t, &err);
    CHECK(v, "%s", err.msg);
    if (v) {
        test_refused(v);
        test_sampled(v, t);
    }
    llama3_json_vocab_free(v);
    llama3_tokenizer_free(t);
    if (!check_failures) printf("json constraint: ok\n");
    return check_failures != 0;
}
