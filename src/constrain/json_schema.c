/* JSON Schema (the subset structured output needs) compiled to the node table that
 * json_match.c walks. Refuses what it cannot enforce, naming the keyword, so a schema is
 * never half honoured. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constrain/json_grammar.h"
#include "util.h"

/* Fixed nodes: the literals true/false and null, and "any value". */
enum { NODE_BOOL = 0, NODE_NULL = 1, NODE_ANY = 2 };

static int new_node(js_schema *s, llama3_error *err) {
    if (s->n_nodes == 65535) return l3_fail(err, LLAMA3_ERR_ARG, "the schema is too large");
    if (s->n_nodes == s->cap_nodes) {
        int cap = s->cap_nodes ? 2 * s->cap_nodes : 16;
        js_node *n = realloc(s->nodes, (size_t)cap * sizeof *n);
        if (!n) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
        s->nodes = n;
        s->cap_nodes = cap;
    }
    memset(&s->nodes[s->n_nodes], 0, sizeof s->nodes[0]);
    s->nodes[s->n_nodes].items = NODE_ANY;
    return s->n_nodes++;
}

/* Adds a literal (a compact JSON text) to a list; duplicates are dropped. */
static int add_text(char ***list, size_t **lens, int *n, const char *text, llama3_error *err) {
    size_t len = strlen(text);
    for (int i = 0; i < *n; i++)
        if ((*lens)[i] == len && !memcmp((*list)[i], text, len)) return 0;
    if (*n == JS_MAX_SET) return l3_fail(err, LLAMA3_ERR_ARG, "more than %d values or properties in one place", JS_MAX_SET);
    char **l = realloc(*list, (size_t)(*n + 1) * sizeof *l);
    if (l) *list = l;
    size_t *ln = realloc(*lens, (size_t)(*n + 1) * sizeof *ln);
    if (ln) *lens = ln;
    char *c = strdup(text);
    if (!l || !ln || !c) { free(c); return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); }
    (*list)[*n] = c;
    (*lens)[*n] = len;
    (*n)++;
    return 0;
}

static int add_value(js_schema *s, int node, json_t *v, llama3_error *err) {
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    js_node *n = &s->nodes[node];
    int rc = add_text(&n->lits, &n->lit_len, &n->n_lits, text, err);
    free(text);
    return rc;
}

static int type_bit(const char *name) {
    static const struct { const char *name; int bit; } T[] = {
        { "object", JS_T_OBJECT }, { "array", JS_T_ARRAY }, { "string", JS_T_STRING }, { "number", JS_T_NUMBER },
        { "integer", JS_T_INTEGER }, { "boolean", JS_T_BOOLEAN }, { "null", JS_T_NULL },
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (!strcmp(name, T[i].name)) return T[i].bit;
    return 0;
}

static int add_property(js_schema *s, int node, const char *key, int child, llama3_error *err) {
    json_t *k = json_string(key);
    char *text = k ? json_dumps(k, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(k);
    if (!text) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    js_node *n = &s->nodes[node];
    int before = n->n_props;
    int rc = add_text(&n->keys, &n->key_len, &n->n_props, text, err);
    free(text);
    if (rc) return rc;
    if (n->n_props == before) return 0;  /* already there */
    int *pn = realloc(n->prop_node, (size_t)n->n_props * sizeof *pn);
    if (!pn) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    n->prop_node = pn;
    pn[n->n_props - 1] = child;
    return 0;
}

static int prop_index(const js_node *n, const char *key) {
    size_t len = strlen(key);
    for (int i = 0; i < n->n_props; i++)
        if (n->key_len[i] == len + 2 && !memcmp(n->keys[i] + 1, key, len)) return i;
    return -1;
}

/* Compiles schema v; returns its node (>= 0) or a negative status. */
static int compile(js_schema *s, json_t *v, int depth, llama3_error *err) {
    if (json_is_true(v)) return NODE_ANY;
    if (!json_is_object(v)) return l3_fail(err, LLAMA3_ERR_ARG, "a schema must be a JSON object");
    if (depth >= JS_MAX_DEPTH - 1) return l3_fail(err, LLAMA3_ERR_ARG, "the schema nests deeper than %d levels", JS_MAX_DEPTH - 1);
    static const char *const IGNORED[] = { "title", "description", "$schema", "$id", "$comment", "default", "examples",
                                           "additionalProperties" /* never generated: the output validates anyway */ };
    static const char *const KNOWN[] = { "type", "properties", "required", "items", "enum", "const" };
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        int ok = 0;
        for (size_t i = 0; i < sizeof IGNORED / sizeof IGNORED[0] && !ok; i++) ok = !strcmp(key, IGNORED[i]);
        for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0] && !ok; i++) ok = !strcmp(key, KNOWN[i]);
        if (!ok) return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "the schema keyword '%.60s' is not supported", key);
    }
    json_t *ap = json_object_get(v, "additionalProperties");
    if (ap && !json_is_boolean(ap) && !json_is_object(ap))
        return l3_fail(err, LLAMA3_ERR_ARG, "'additionalProperties' must be a boolean or a schema");
    int node = new_node(s, err);
    if (node < 0) return node;
    json_t *type = json_object_get(v, "type"), *en = json_object_get(v, "enum"), *cn = json_object_get(v, "const");
    json_t *props = json_object_get(v, "properties"), *req = json_object_get(v, "required"), *items = json_object_get(v, "items");
    unsigned types = 0;
    if (json_is_string(type)) {
        if (!(types = (unsigned)type_bit(json_string_value(type))))
            return l3_fail(err, LLAMA3_ERR_ARG, "unknown type '%.40s'", json_string_value(type));
    } else if (json_is_array(type) && json_array_size(type) > 0) {
        size_t i;
        json_t *t;
        json_array_foreach(type, i, t) {
            int bit = json_is_string(t) ? type_bit(json_string_value(t)) : 0;
            if (!bit) return l3_fail(err, LLAMA3_ERR_ARG, "'type' lists an unknown type");
            types |= (unsigned)bit;
        }
    } else if (type) {
        return l3_fail(err, LLAMA3_ERR_ARG, "'type' must be a type name or a list of them");
    } else {
        types = props || req ? JS_T_OBJECT : items ? JS_T_ARRAY : JS_T_ANY;
    }
    if (types & JS_T_NUMBER) types &= ~(unsigned)JS_T_INTEGER;  /* an integer is a number */
    s->nodes[node].types = types;
    if (en || cn) {
        if (en && (!json_is_array(en) || json_array_size(en) == 0))
            return l3_fail(err, LLAMA3_ERR_ARG, "'enum' must be a non-empty array");
        size_t i;
        json_t *e;
        int rc;
        if (cn && (rc = add_value(s, node, cn, err))) return rc;
        json_array_foreach(en, i, e) if ((rc = add_value(s, node, e, err))) return rc;
        return node;
    }
    if (props) {
        if (!json_is_object(props)) return l3_fail(err, LLAMA3_ERR_ARG, "'properties' must be an object");
        const char *pk;
        json_t *pv;
        json_object_foreach(props, pk, pv) {
            int child = compile(s, pv, depth + 1, err);
            if (child < 0) return child;
            int rc = add_property(s, node, pk, child, err);
            if (rc) return rc;
        }
    }
    if (req) {
        if (!json_is_array(req)) return l3_fail(err, LLAMA3_ERR_ARG, "'required' must be an array of property names");
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r) {
            if (!json_is_string(r)) return l3_fail(err, LLAMA3_ERR_ARG, "'required' must be an array of property names");
            int k = prop_index(&s->nodes[node], json_string_value(r));
            if (k < 0) {  /* required without a schema: any value */
                int rc = add_property(s, node, json_string_value(r), NODE_ANY, err);
                if (rc) return rc;
                k = s->nodes[node].n_props - 1;
            }
            s->nodes[node].required |= 1ull << k;
        }
    }
    if (items) {
        if (!json_is_object(items) && !json_is_boolean(items))
            return l3_fail(err, LLAMA3_ERR_ARG, "'items' must be one schema (tuples are not supported)");
        int child = compile(s, items, depth + 1, err);
        if (child < 0) return child;
        s->nodes[node].items = child;
    }
    return node;
}

static int start(js_schema *s, llama3_error *err) {
    memset(s, 0, sizeof *s);
    int rc;
    for (int i = 0; i < 3; i++)
        if ((rc = new_node(s, err)) < 0) return rc;
    json_t *t = json_true(), *f = json_false(), *n = json_null();
    if ((rc = add_value(s, NODE_BOOL, t, err)) || (rc = add_value(s, NODE_BOOL, f, err)) ||
        (rc = add_value(s, NODE_NULL, n, err)))
        return rc;
    s->nodes[NODE_ANY].types = JS_T_ANY;
    return 0;
}

int js_schema_compile(js_schema *s, const char *schema, size_t len, llama3_error *err) {
    int rc = start(s, err);
    if (rc) { js_schema_free(s); return rc; }
    if (!schema) {
        if ((rc = new_node(s, err)) < 0) { js_schema_free(s); return rc; }
        s->nodes[rc].types = JS_T_OBJECT;
        s->root = rc;
        return 0;
    }
    json_error_t je;
    json_t *v = json_loadb(schema, len, JSON_DECODE_ANY, &je);
    if (!v) {
        js_schema_free(s);
        return l3_fail(err, LLAMA3_ERR_ARG, "the schema is not JSON: %s", je.text);
    }
    rc = compile(s, v, 0, err);
    json_decref(v);
    if (rc < 0) { js_schema_free(s); return rc; }
    s->root = rc;
    return 0;
}

int js_schema_tool_call(js_schema *s, const char *const *names, const char *const *schemas, int n, llama3_error *err) {
    int rc = start(s, err), root = -1, name = -1;
    if (!rc && n <= 0) rc = l3_fail(err, LLAMA3_ERR_ARG, "no functions to call");
    if (!rc && (root = rc = new_node(s, err)) >= 0 && (name = rc = new_node(s, err)) >= 0) rc = 0;
    for (int i = 0; !rc && i < n; i++) {
        json_t *str = json_string(names[i]);
        if (!str) { rc = l3_fail(err, LLAMA3_ERR_ARG, "a function name is not UTF-8 text"); break; }
        int before = s->nodes[name].n_lits;
        rc = add_value(s, name, str, err);
        json_decref(str);
        if (!rc && s->nodes[name].n_lits == before) rc = l3_fail(err, LLAMA3_ERR_ARG, "function '%.60s' is given twice", names[i]);
    }
    if (!rc) {
        s->nodes[root].types = JS_T_OBJECT;
        s->nodes[root].tool_call = 1;
        s->nodes[root].ordered = 1;
        s->nodes[root].variant = calloc((size_t)n, sizeof(int));
        if (!s->nodes[root].variant) rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    }
    for (int i = 0; !rc && i < n; i++) {
        int v;
        if (!schemas[i] || !schemas[i][0]) {
            if ((v = new_node(s, err)) < 0) { rc = v; break; }
            s->nodes[v].types = JS_T_OBJECT;
        } else {
            json_error_t je;
            json_t *j = json_loads(schemas[i], 0, &je);
            if (!j) { rc = l3_fail(err, LLAMA3_ERR_ARG, "the parameters of '%.60s' are not JSON", names[i]); break; }
            v = compile(s, j, 1, err);
            json_decref(j);
            if (v < 0) { rc = v; break; }
        }
        s->nodes[root].variant[i] = v;
    }
    if (!rc && !(rc = add_property(s, root, "name", name, err)) && !(rc = add_property(s, root, "parameters", NODE_ANY, err)))
        s->nodes[root].required = 3;
    if (rc) { js_schema_free(s); return rc; }
    s->root = root;
    return 0;
}

void js_schema_free(js_schema *s) {
    for (int i = 0; i < s->n_nodes; i++) {
        js_node *n = &s->nodes[i];
        for (int k = 0; k < n->n_lits; k++) free(n->lits[k]);
        for (int k = 0; k < n->n_props; k++) free(n->keys[k]);
        free(n->lits);
        free(n->lit_len);
        free(n->keys);
        free(n->key_len);
        free(n->prop_node);
        free(n->variant);
    }
    free(s->nodes);
    memset(s, 0, sizeof *s);
}
