/* The helpers include/llama3_tools.h declares for the command-line tool: internal functions
 * under their public names. */
#include "llama3_tools.h"
#include "threads.h"
#include "tokenizer/tokenizer.h"
#include "util.h"

double llama3_time_s(void) { return l3_time_s(); }

int llama3_read_file(const char *path, size_t max, char **out, size_t *len, llama3_error *err) {
    return l3_read_file(path, max, out, len, err);
}

int llama3_physical_cores(void) { return l3_physical_cores(); }

int llama3_tokenizer_has_chat(const llama3_tokenizer *t) { return l3_tokenizer_has_llama3_chat(t); }

int llama3_chat_encode_message(const llama3_tokenizer *t, const char *role, const char *content, int32_t *ids,
                               int cap, llama3_error *err) {
    return l3_chat_encode_message(t, role, content, ids, cap, err);
}

int llama3_chat_encode_assistant_header(const llama3_tokenizer *t, int32_t *ids, int cap, llama3_error *err) {
    return l3_chat_encode_assistant_header(t, ids, cap, err);
}
