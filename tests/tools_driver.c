/* Test-only stand-in for the llama3 dispatcher while tools/llama3.c does not list synth and
 * bench yet (bench_tools.cmake uses the real llama3 once it does). */
#include <stdio.h>
#include <string.h>

int cmd_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_info(int argc, char **argv);

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "synth")) return cmd_synth(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "bench")) return cmd_bench(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "info")) return cmd_info(argc - 1, argv + 1);
    fprintf(stderr, "usage: llama3-tools-test synth|bench|info ...\n");
    return 1;
}
