/* Stand-in dispatcher for the convert / quantize / perplexity subcommands, so their tests run
 * whether or not tools/llama3.c lists them yet (convert.cmake uses the real llama3 binary
 * once it does). */
#include <stdio.h>
#include <string.h>

int cmd_convert(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "convert")) return cmd_convert(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "quantize")) return cmd_quantize(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "perplexity")) return cmd_perplexity(argc - 1, argv + 1);
    fprintf(stderr, "usage: test_convert_tool convert|quantize|perplexity ...\n");
    return 1;
}
