/* Constrained JSON: a JSON Schema subset compiled to a table of nodes, and a byte-at-a-time
 * matcher over it that accepts exactly the texts that parse as JSON and validate against the
 * schema (json_schema.c: compiling; json_match.c: matching and the shortest completion).
 * json_constraint.c runs the matcher over the vocabulary's token bytes. */
#ifndef LLAMA3_JSON_GRAMMAR_H
#define LLAMA3_JSON_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#include "llama3.h"

#define JS_MAX_DEPTH 24     /* nested objects and arrays */
#define JS_MAX_SET 64       /* properties of an object, values of an enum */
#define JS_MAX_WS 8         /* whitespace bytes in a row (a model cannot pad forever) */
#define JS_MAX_DIGITS 15    /* digits of an integer or fraction part (exact as a double) */

/* What a value may be; a schema node allows a set of these (its first byte tells which). */
enum {
    JS_T_OBJECT = 1, JS_T_ARRAY = 2, JS_T_STRING = 4, JS_T_NUMBER = 8, JS_T_INTEGER = 16,
    JS_T_BOOLEAN = 32, JS_T_NULL = 64, JS_T_ANY = 127,
};

typedef struct js_node {
    unsigned types;          /* JS_T_* allowed (unused when n_lits > 0) */
    /* enum / const: the values as compact JSON texts; the value must be one of them */
    int n_lits;
    char **lits;
    size_t *lit_len;
    /* object: declared properties (their keys as JSON string texts, with quotes); none
     * declared = any keys with any values */
    int n_props;
    char **keys;
    size_t *key_len;
    int *prop_node;
    uint64_t required;
    int ordered;             /* properties only in declared order (a tool call: name first) */
    /* tool call: the object {"name": one of the names, "parameters": variant[name]} */
    int tool_call;
    int *variant;            /* [n_lits of the name node] */
    int items;               /* array: the items' node (-1 = any) */
} js_node;

typedef struct js_schema {
    js_node *nodes;
    int n_nodes, cap_nodes;
    int root;
    int max_docs;            /* documents in a row, each after a ';' (0 or 1: one) */
} js_schema;

/* Compiles a JSON Schema text (objects, arrays, strings, numbers, integers, booleans, null,
 * type lists, enum, const, properties, required, items, additionalProperties; annotations
 * such as title and description are ignored; any other keyword is refused naming it).
 * schema NULL: any JSON object (OpenAI's json_object). */
int js_schema_compile(js_schema *s, const char *schema, size_t len, llama3_error *err);
/* A tool call: {"name": names[i], "parameters": <schemas[i]>} for one of the n functions
 * (schemas[i] NULL or "" = any object). */
int js_schema_tool_call(js_schema *s, const char *const *names, const char *const *schemas, int n,
                        llama3_error *err);
void js_schema_free(js_schema *s);

/* The matcher's state: a stack of open containers and a lexer for the value being read.
 * Copied by value while exploring tokens, so only the used part of the stack is copied. */
typedef struct js_frame {
    uint64_t used;           /* object: properties given */
    uint16_t node;
    uint8_t phase;
    uint8_t prop;            /* object: the property whose key or value is being read */
    uint8_t variant;         /* tool call: the function named */
} js_frame;

typedef struct js_state {
    uint64_t lit_mask;       /* literal: the candidates still matching */
    uint16_t want;           /* the node of the value expected or being read */
    uint16_t lit_node;       /* literal: the node whose literals (or keys) are matched */
    uint16_t lit_pos;        /* literal: bytes matched; number: digits in the current part */
    uint8_t lex, sub, ws, is_key, lit_keys, done;
    uint8_t utf8_lo, utf8_hi;
    uint8_t docs;            /* documents begun before this one (each ended by ';') */
    uint8_t depth;
    js_frame stack[JS_MAX_DEPTH];
} js_state;

void js_start(const js_schema *s, js_state *st);
/* Feeds one byte (after a whole document, ';' begins another while fewer than max_docs have
 * begun); 0 when the text so far can still become a valid document, -1 otherwise
 * (st is then unspecified). */
int js_step(const js_schema *s, js_state *st, uint8_t b);
/* 1 when the text so far is a whole valid document (more bytes may still be possible: a
 * number can grow). */
int js_complete(const js_schema *s, const js_state *st);
/* The shortest bytes that make the text a whole valid document (at most cap; returns their
 * number, or -1 when longer than cap). */
int js_completion(const js_schema *s, const js_state *st, char *out, int cap);
/* Bytes of st worth copying (the used part of the stack). */
static inline size_t js_state_size(const js_state *st) {
    return offsetof(js_state, stack) + (size_t)st->depth * sizeof(js_frame);
}

#endif
