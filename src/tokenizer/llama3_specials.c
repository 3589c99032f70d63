/* Meta's 256 special tokens. Llama 3.0 and 3.1 name some ids differently (3.1 gave names to
 * reserved slots: <|eom_id|> = 128008, <|python_tag|> = 128010, ...). Every source is given
 * the 3.1 names, so ids decode the same whatever file they came from; the 3.0 names that 3.1
 * no longer uses (<|reserved_special_token_246..250|>) are accepted as aliases. */
#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void l3_llama3_special_name(int i, int v31, char *buf, size_t cap) {
    static const char *const named31[12] = {
        "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
        "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>",
        "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>",
        "<|python_tag|>", "<|image|>",
    };
    static const char *const named30[10] = {
        "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
        "<|reserved_special_token_1|>", "<|reserved_special_token_2|>",
        "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
        "<|reserved_special_token_4|>", "<|eot_id|>",
    };
    if (v31) {
        if (i < 12) snprintf(buf, cap, "%s", named31[i]);
        else snprintf(buf, cap, "<|reserved_special_token_%d|>", i - 10);
    } else {
        if (i < 10) snprintf(buf, cap, "%s", named30[i]);
        else snprintf(buf, cap, "<|reserved_special_token_%d|>", i - 5);
    }
}

int l3_tok_apply_llama3_specials(llama3_tokenizer *t, int32_t base, llama3_error *err) {
    char name[64];
    if (base >= 0) {
        t->llama3_layout = 1;
        t->llama3_base = base;
        for (int i = 0; i < 256; i++) {
            l3_llama3_special_name(i, 1, name, sizeof name);
            if (l3_tok_set(t, base + i, name, strlen(name), L3_TT_CONTROL) != 0)
                return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory naming special tokens");
        }
        return 0;
    }
    /* Aliases: 3.0 names not taken by 3.1 (the map's first insert wins, so no 3.1 name moves). */
    size_t need = 0;
    for (int i = 0; i < 256; i++) {
        l3_llama3_special_name(i, 0, name, sizeof name);
        need += strlen(name);
    }
    t->alias_blob = malloc(need);
    if (!t->alias_blob) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory naming special tokens");
    size_t at = 0;
    for (int i = 0; i < 256; i++) {
        l3_llama3_special_name(i, 0, name, sizeof name);
        size_t n = strlen(name);
        memcpy(t->alias_blob + at, name, n);
        if (l3_hmap_put(&t->special, t->alias_blob + at, n, t->llama3_base + i, INT32_MAX) != 0)
            return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory naming special tokens");
        at += n;
    }
    return 0;
}
