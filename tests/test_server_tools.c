/* A reply read as tool calls (src/server/tools.c): one or more JSON calls of the offered
 * functions, separated by ';' or white space (Llama 3.1 writes several either way), each
 * becoming one of OpenAI's tool_calls; anything else is text. And the calls written back into
 * the prompt. */
#include <jansson.h>
#include <string.h>

#include "check.h"
#include "server/server.h"

static int n_calls(const srv_tools *t, const char *text) {
    json_t *calls = srv_tools_reply_calls(t, text, strlen(text));
    int n = calls ? (int)json_array_size(calls) : -1;
    json_decref(calls);
    return n;
}

int main(void) {
    json_error_t je;
    json_t *req = json_loads("{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"add\"}},"
                             "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"}}]}", 0, &je);
    srv_tools t;
    char msg[256];
    CHECK(srv_tools_parse(req, &t, msg, sizeof msg) == 0 && t.parallel, "%s", msg);
    const char *A = "{\"name\": \"add\", \"parameters\": {\"a\": 1, \"b\": 2}}";
    const char *W = "{\"name\":\"get_weather\",\"parameters\":{\"city\":\"Paris\"}}";
    char text[512];
    CHECK(n_calls(&t, A) == 1, "one call");
    snprintf(text, sizeof text, "%s; %s", A, W);
    CHECK(n_calls(&t, text) == 2, "';' between calls");
    snprintf(text, sizeof text, "%s;%s;", A, W);
    CHECK(n_calls(&t, text) == 2, "';' after the last call");
    snprintf(text, sizeof text, "\n%s\n%s\n", A, W);
    CHECK(n_calls(&t, text) == 2, "a call a line");
    snprintf(text, sizeof text, "%s; and then?", A);
    CHECK(n_calls(&t, text) == -1, "text after a call: text");
    snprintf(text, sizeof text, "%s; {\"name\": \"sub\", \"parameters\": {}}", A);
    CHECK(n_calls(&t, text) == -1, "an unknown function: text");
    CHECK(n_calls(&t, "The answer is 3.") == -1 && n_calls(&t, "") == -1 && n_calls(&t, ";") == -1, "plain text");
    text[0] = 0;
    for (int i = 0; i < SRV_MAX_TOOL_CALLS + 1; i++) strcat(strcat(text, W), ";");
    CHECK(n_calls(&t, text) == -1, "more than %d calls: text", SRV_MAX_TOOL_CALLS);
    /* the calls' content: names and arguments in order */
    snprintf(text, sizeof text, "%s; %s", A, W);
    json_t *calls = srv_tools_reply_calls(&t, text, strlen(text));
    const char *n1 = json_string_value(json_object_get(json_object_get(json_array_get(calls, 1), "function"), "name"));
    const char *a0 = json_string_value(json_object_get(json_object_get(json_array_get(calls, 0), "function"), "arguments"));
    CHECK(n1 && !strcmp(n1, "get_weather") && a0 && !strcmp(a0, "{\"a\":1,\"b\":2}"), "calls in order");
    /* written back as the model writes them */
    char *back = srv_tools_calls_text(calls);
    CHECK(back && !strcmp(back, "{\"name\":\"add\",\"parameters\":{\"a\":1,\"b\":2}}; "
                                "{\"name\":\"get_weather\",\"parameters\":{\"city\":\"Paris\"}}"), "written back: %s", back);
    free(back);
    json_decref(calls);
    srv_tools_free(&t);
    /* parallel_tool_calls: false: one call or text */
    json_object_set_new(req, "parallel_tool_calls", json_false());
    CHECK(srv_tools_parse(req, &t, msg, sizeof msg) == 0 && !t.parallel, "%s", msg);
    snprintf(text, sizeof text, "%s; %s", A, W);
    CHECK(n_calls(&t, A) == 1 && n_calls(&t, text) == -1, "without parallel calls: one call only");
    srv_tools_free(&t);
    json_decref(req);
    return check_failures != 0;
}
