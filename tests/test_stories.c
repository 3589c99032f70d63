/* stories260K (a real trained model): greedy decoding from BOS must reproduce greedy.json's
 * ids, and the text must start as Karpathy documented. usage: test_stories CLI FIXTURE_DIR */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: test_stories CLI DIR\n"); return 2; }
    char path[1024], cmd[4096];
    snprintf(path, sizeof path, "%s/greedy.json", argv[2]);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    json_t *want = root ? json_object_get(root, "greedy_ids") : NULL;
    if (!json_is_array(want)) { fprintf(stderr, "%s: %s\n", path, je.text); return 2; }
    size_t n_want = json_array_size(want);  /* BOS first, then the generated ids */
    snprintf(cmd, sizeof cmd, "'%s' run -m '%s/stories260K.gguf' --prompt-ids 1 -n %zu --temp 0 --print-ids 2>/dev/null",
             argv[1], argv[2], n_want - 1);
    FILE *p = popen(cmd, "r");
    if (!p) { perror("popen"); return 2; }
    size_t n = 0;
    int v, ok = 1;
    while (fscanf(p, "%d", &v) == 1) {
        if (n + 1 >= n_want || v != json_integer_value(json_array_get(want, n + 1))) {
            if (ok) fprintf(stderr, "first mismatch at generated id %zu: got %d\n", n, v);
            ok = 0;
        }
        n++;
    }
    int rc = pclose(p);
    printf("%s: run exits 0\n", rc == 0 ? "ok  " : "FAIL");
    printf("%s: %zu generated ids equal greedy.json's %zu\n", ok && n == n_want - 1 ? "ok  " : "FAIL", n, n_want - 1);
    int pass = rc == 0 && ok && n == n_want - 1;

    /* and as text, through the SentencePiece vocabulary */
    snprintf(cmd, sizeof cmd, "'%s' run -m '%s/stories260K.gguf' --prompt-ids 1 -n 40 --temp 0 2>/dev/null", argv[1], argv[2]);
    p = popen(cmd, "r");
    char text[4096] = { 0 };
    size_t r = p ? fread(text, 1, sizeof text - 1, p) : 0;
    text[r] = 0;
    if (p) pclose(p);
    const char *expect = json_string_value(json_object_get(root, "text"));
    int text_ok = expect && strncmp(text, expect, 40) == 0;
    printf("%s: text starts \"%.40s\"\n", text_ok ? "ok  " : "FAIL", text);
    pass = pass && text_ok;
    json_decref(root);
    printf("%s\n", pass ? "PASSED" : "FAILED");
    return pass ? 0 : 1;
}
