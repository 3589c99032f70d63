/* Meta's ChatFormat (llama3 chat_format.py):
 *   <|begin_of_text|>
 *   per message: <|start_header_id|> role <|end_header_id|> "\n\n" content.strip() <|eot_id|>
 *   then the open header <|start_header_id|> assistant <|end_header_id|> "\n\n".
 * Role and content are encoded as plain text (special-token text in a message stays text). */
#include "tokenizer/tokenizer.h"

#include <limits.h>
#include <string.h>

int l3_tokenizer_has_llama3_chat(const llama3_tokenizer *t) {
    return t && t->id_start_header >= 0 && t->id_end_header >= 0 && t->id_eot >= 0 &&
           !t->chat_template_other;
}

static int check_chat(const llama3_tokenizer *t, llama3_error *err) {
    if (!t) return l3_fail(err, LLAMA3_ERR_ARG, "chat: no tokenizer");
    if (t->chat_template_other)
        return l3_fail(err, LLAMA3_ERR_UNSUPPORTED,
                       "chat: the model's chat template is not Llama 3's (only the Llama 3 format is built in)");
    if (!l3_tokenizer_has_llama3_chat(t))
        return l3_fail(err, LLAMA3_ERR_UNSUPPORTED,
                       "chat: this vocabulary lacks <|start_header_id|>, <|end_header_id|> or <|eot_id|>");
    return 0;
}

/* Python's str.strip(): drops leading and trailing whitespace characters. */
static void strip(const char **s, size_t *n) {
    const unsigned char *u = (const unsigned char *)*s;
    size_t a = 0, b = *n;
    while (a < b) {
        int k = l3_utf8_valid_len(u + a, b - a);
        if (!k || !l3_unicode_isspace(l3_utf8_decode(u + a, k))) break;
        a += (size_t)k;
    }
    while (b > a) {
        size_t c = b - 1;  /* back to the start of the last character */
        while (c > a && (u[c] & 0xC0) == 0x80 && b - c < 4) c--;
        int k = l3_utf8_valid_len(u + c, b - c);
        if (!k || (size_t)k != b - c || !l3_unicode_isspace(l3_utf8_decode(u + c, k))) break;
        b = c;
    }
    *s += a;
    *n = b - a;
}

static int encode_header(const llama3_tokenizer *t, const char *role, l3_idsink *out, llama3_error *err) {
    static const char *const roles[] = { "system", "user", "assistant", "ipython" };
    int ok = 0;
    for (size_t i = 0; role && i < sizeof roles / sizeof roles[0]; i++) ok |= strcmp(role, roles[i]) == 0;
    if (!ok)
        return l3_fail(err, LLAMA3_ERR_ARG, "chat: role '%.64s' is not one of system, user, assistant, ipython",
                       role ? role : "(null)");
    l3_sink_push(out, t->id_start_header);
    int rc = l3_tokenize_sink(t, role, strlen(role), 0, out, err);
    if (rc) return rc;
    l3_sink_push(out, t->id_end_header);
    return l3_tokenize_sink(t, "\n\n", 2, 0, out, err);
}

static int encode_message(const llama3_tokenizer *t, const char *role, const char *content, l3_idsink *out,
                          llama3_error *err) {
    int rc = encode_header(t, role, out, err);
    if (rc) return rc;
    const char *c = content ? content : "";
    size_t n = strlen(c);
    strip(&c, &n);
    if ((rc = l3_tokenize_sink(t, c, n, 0, out, err))) return rc;
    l3_sink_push(out, t->id_eot);
    return 0;
}

static int finish(const l3_idsink *out, llama3_error *err) {
    if (out->n > INT_MAX) return l3_fail(err, LLAMA3_ERR_ARG, "chat: too many tokens");
    return (int)out->n;
}

static int check_buf(int32_t *ids, int cap, llama3_error *err) {
    if (cap < 0 || (!ids && cap > 0)) return l3_fail(err, LLAMA3_ERR_ARG, "chat: bad output buffer");
    return 0;
}

int l3_chat_encode_message(const llama3_tokenizer *t, const char *role, const char *content,
                           int32_t *ids, int cap, llama3_error *err) {
    int rc = check_chat(t, err);
    if (rc || (rc = check_buf(ids, cap, err))) return rc;
    l3_idsink out = { ids, cap, 0 };
    if ((rc = encode_message(t, role, content, &out, err))) return rc;
    return finish(&out, err);
}

int l3_chat_encode_assistant_header(const llama3_tokenizer *t, int32_t *ids, int cap, llama3_error *err) {
    int rc = check_chat(t, err);
    if (rc || (rc = check_buf(ids, cap, err))) return rc;
    l3_idsink out = { ids, cap, 0 };
    if ((rc = encode_header(t, "assistant", &out, err))) return rc;
    return finish(&out, err);
}

int llama3_chat_encode(const llama3_tokenizer *t, const llama3_message *msgs, int n_msgs,
                       int32_t *ids, int cap, llama3_error *err) {
    int rc = check_chat(t, err);
    if (rc || (rc = check_buf(ids, cap, err))) return rc;
    if (n_msgs < 0 || (n_msgs > 0 && !msgs)) return l3_fail(err, LLAMA3_ERR_ARG, "chat: bad message list");
    if (t->bos < 0) return l3_fail(err, LLAMA3_ERR_UNSUPPORTED, "chat: this vocabulary has no <|begin_of_text|>");
    l3_idsink out = { ids, cap, 0 };
    l3_sink_push(&out, t->bos);
    for (int i = 0; i < n_msgs; i++)
        if ((rc = encode_message(t, msgs[i].role, msgs[i].content, &out, err))) return rc;
    if ((rc = encode_header(t, "assistant", &out, err))) return rc;
    return finish(&out, err);
}
