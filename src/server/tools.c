/* Tool calling in Llama 3.1's JSON format: OpenAI's `tools` become function definitions (as
 * JSON) in the first user message, the model answers {"name": ..., "parameters": {...}}, and
 * that answer becomes OpenAI's `tool_calls`. tool_choice "required" or a named function
 * constrains the reply to such a call (src/constrain/); "auto" lets the model choose and the
 * reply is read as a call when it is one; "none" leaves the tools out of the prompt. Earlier
 * calls (assistant messages with tool_calls) are written back in the same JSON form, and
 * `role: "tool"` results travel as Llama's ipython messages. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

void srv_tools_free(srv_tools *t) {
    json_decref(t->defs);
    for (int i = 0; i < t->n; i++) free(t->names[i]), free(t->params[i]);
    free(t->names);
    free(t->params);
    memset(t, 0, sizeof *t);
}

static int bad(char *msg, size_t cap, const char *fmt, const char *what) {
    snprintf(msg, cap, fmt, what);
    return 400;
}

int srv_tools_parse(json_t *root, srv_tools *t, char *msg, size_t cap) {
    memset(t, 0, sizeof *t);
    json_t *tools = json_object_get(root, "tools"), *choice = json_object_get(root, "tool_choice");
    json_t *par = json_object_get(root, "parallel_tool_calls");
    if (par && !json_is_null(par) && !json_is_boolean(par)) return bad(msg, cap, "%s", "'parallel_tool_calls' must be a boolean");
    t->parallel = !json_is_false(par);
    if (!tools || json_is_null(tools) || (json_is_array(tools) && json_array_size(tools) == 0)) {
        if (choice && !json_is_null(choice) && !(json_is_string(choice) && !strcmp(json_string_value(choice), "none")))
            return bad(msg, cap, "%s", "'tool_choice' needs 'tools'");
        return 0;
    }
    if (!json_is_array(tools) || json_array_size(tools) > 64)
        return bad(msg, cap, "%s", "'tools' must be an array of at most 64 {\"type\": \"function\", \"function\": {...}}");
    size_t n = json_array_size(tools), i;
    t->names = calloc(n, sizeof *t->names);
    t->params = calloc(n, sizeof *t->params);
    t->defs = json_array();
    if (!t->names || !t->params || !t->defs) return bad(msg, cap, "%s", "out of memory");
    json_t *tool;
    json_array_foreach(tools, i, tool) {
        const char *type = json_string_value(json_object_get(tool, "type"));
        json_t *fn = json_object_get(tool, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        json_t *params = json_object_get(fn, "parameters");
        if (!type || strcmp(type, "function") || !json_is_object(fn))
            return bad(msg, cap, "%s", "each of 'tools' must be {\"type\": \"function\", \"function\": {...}}");
        if (!name || !*name || strlen(name) > 64) return bad(msg, cap, "%s", "each tool function needs a 'name' (1..64 bytes)");
        if (params && !json_is_null(params) && !json_is_object(params))
            return bad(msg, cap, "tool '%.64s': 'parameters' must be a JSON Schema object", name);
        for (int k = 0; k < t->n; k++)
            if (!strcmp(t->names[k], name)) return bad(msg, cap, "tool '%.64s' is defined twice", name);
        t->names[t->n] = strdup(name);
        t->params[t->n] = json_is_object(params) ? json_dumps(params, JSON_COMPACT) : strdup("");
        if (!t->names[t->n] || !t->params[t->n]) { t->n++; return bad(msg, cap, "%s", "out of memory"); }
        t->n++;
        /* the definition the model reads: Meta's example shows the OpenAI-style object */
        json_array_append(t->defs, tool);
    }
    t->choice = SRV_TOOLS_AUTO;
    if (choice && !json_is_null(choice)) {
        const char *c = json_string_value(choice);
        const char *named = json_string_value(json_object_get(json_object_get(choice, "function"), "name"));
        if (c && !strcmp(c, "auto")) t->choice = SRV_TOOLS_AUTO;
        else if (c && !strcmp(c, "none")) t->choice = SRV_TOOLS_NONE;
        else if (c && !strcmp(c, "required")) t->choice = SRV_TOOLS_REQUIRED;
        else if (json_is_object(choice) && named) {
            t->choice = SRV_TOOLS_NAMED;
            t->named = -1;
            for (int k = 0; k < t->n; k++)
                if (!strcmp(t->names[k], named)) t->named = k;
            if (t->named < 0) return bad(msg, cap, "'tool_choice' names '%.64s', which is not in 'tools'", named);
        } else {
            return bad(msg, cap, "%s", "'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}");
        }
    }
    return 0;
}

llama3_json_constraint *srv_tools_constraint(const srv_tools *t, const llama3_json_vocab *v, char *msg, size_t cap) {
    llama3_error err = { 0 };
    llama3_json_constraint *c;
    const int calls = t->parallel ? SRV_MAX_TOOL_CALLS : 1;
    if (t->choice == SRV_TOOLS_NAMED)
        c = llama3_json_constraint_tool_calls(v, (const char *const *)&t->names[t->named],
                                              (const char *const *)&t->params[t->named], 1, calls, &err);
    else
        c = llama3_json_constraint_tool_calls(v, (const char *const *)t->names, (const char *const *)t->params, t->n,
                                              calls, &err);
    if (!c) snprintf(msg, cap, "'tools' parameters: %s", err.msg);
    return c;
}

char *srv_tools_user_text(const srv_tools *t, const char *question) {
    char *defs = NULL;
    size_t total = 0;
    for (size_t i = 0; i < json_array_size(t->defs); i++) {
        char *d = json_dumps(json_array_get(t->defs, i), JSON_INDENT(4));
        if (!d) { free(defs); return NULL; }
        char *nd = realloc(defs, total + strlen(d) + 3);
        if (!nd) { free(d); free(defs); return NULL; }
        defs = nd;
        memcpy(defs + total, d, strlen(d));
        total += strlen(d);
        memcpy(defs + total, "\n\n", 3);
        total += 2;
        free(d);
    }
    static const char HEAD[] =
        "Given the following functions, please respond with a JSON for a function call with its proper arguments "
        "that best answers the given prompt.\n\n"
        "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}. "
        "Do not use variables.\n\n";
    size_t n = sizeof HEAD + total + strlen("Question: ") + strlen(question) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%sQuestion: %s", HEAD, defs ? defs : "", question);
    free(defs);
    return s;
}

/* One earlier call as the model writes it: {"name": ..., "parameters": {...}}. */
static char *call_text(json_t *call) {
    json_t *fn = json_object_get(call, "function");
    const char *name = json_string_value(json_object_get(fn, "name"));
    const char *args = json_string_value(json_object_get(fn, "arguments"));
    if (!name) return NULL;
    json_t *params = args ? json_loads(args, 0, NULL) : json_object();
    if (!json_is_object(params)) { json_decref(params); return NULL; }
    json_t *o = json_pack("{s:s,s:o}", "name", name, "parameters", params);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

char *srv_tools_calls_text(json_t *calls) {
    char *all = NULL;
    size_t len = 0;
    for (size_t i = 0; i < json_array_size(calls); i++) {
        char *one = call_text(json_array_get(calls, i));
        char *grown = one ? realloc(all, len + strlen(one) + 3) : NULL;
        if (!grown) { free(one); free(all); return NULL; }
        all = grown;
        if (i) memcpy(all + len, "; ", 2), len += 2;
        memcpy(all + len, one, strlen(one) + 1);
        len += strlen(one);
        free(one);
    }
    return all;
}

/* One call of a known tool as OpenAI's tool call object, else NULL. */
static json_t *reply_call(const srv_tools *t, json_t *doc) {
    const char *name = json_string_value(json_object_get(doc, "name"));
    json_t *params = json_object_get(doc, "parameters");
    if (!params) params = json_object_get(doc, "arguments");
    int known = 0;
    for (int k = 0; name && k < t->n && !known; k++) known = !strcmp(t->names[k], name);
    if (!known || !json_is_object(params)) return NULL;
    static atomic_ulong counter;
    char id[40];
    snprintf(id, sizeof id, "call_%lu", (unsigned long)++counter);
    char *args = json_dumps(params, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_t *call = args ? json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type", "function", "function", "name", name,
                                    "arguments", args) : NULL;
    free(args);
    return call;
}

static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

json_t *srv_tools_reply_calls(const srv_tools *t, const char *text, size_t len) {
    json_t *calls = json_array();
    size_t at = 0;
    for (;;) {
        while (at < len && is_space(text[at])) at++;
        if (at == len && json_array_size(calls) > 0) break;
        json_error_t je;
        json_t *doc = json_loadb(text + at, len - at, JSON_DISABLE_EOF_CHECK, &je);
        json_t *call = doc ? reply_call(t, doc) : NULL;
        json_decref(doc);
        if (!call || json_array_size(calls) == SRV_MAX_TOOL_CALLS) { json_decref(call); json_decref(calls); return NULL; }
        json_array_append_new(calls, call);
        at += (size_t)je.position;
        while (at < len && is_space(text[at])) at++;
        if (at < len && text[at] == ';') at++;  /* calls separated by ';' or by white space (newlines) */
    }
    if (!t->parallel && json_array_size(calls) > 1) { json_decref(calls); return NULL; }
    return calls;
}
