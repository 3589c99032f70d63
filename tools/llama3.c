/* llama3: the command-line tool. Each subcommand is a thin wrapper over the library in its
 * own tools/cmd_*.c file; this file only dispatches. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command COMMANDS[] = {
    { "run", cmd_run, "generate text from a prompt" },
    { "chat", cmd_chat, "interactive multi-turn chat (Llama 3 chat format)" },
    { "serve", cmd_serve, "OpenAI-compatible HTTP server with continuous batching" },
    { "info", cmd_info, "print a model's ModelArgs and sizes" },
    { "logits", cmd_logits, "write the raw logits of a sequence of ids (prefill or decode)" },
    { "tokenize", cmd_tokenize, "text to token ids" },
    { "detokenize", cmd_detokenize, "token ids to text" },
    { "convert", cmd_convert, "write any model (GGUF, HF or Meta folder) as GGUF, optionally quantized" },
    { "quantize", cmd_quantize, "re-encode a GGUF file's weights to another type" },
    { "perplexity", cmd_perplexity, "perplexity, and KL divergence against a base model" },
    { "bench", cmd_bench, "prompt and generation speed (like llama-bench)" },
    { "synth", cmd_synth, "write a random-weight model of a real Llama 3 shape" },
};

static void usage(FILE *f) {
    fprintf(f, "usage: llama3 COMMAND [options]   (llama3 COMMAND --help for details)\n\n"
               "Run Llama 3 / 3.1 / 3.2 models (GGUF files, Hugging Face folders, Meta folders) on the CPU.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        int missing = COMMANDS[i].fn == cmd_serve && !llama3_server_available(NULL);  /* no libmicrohttpd */
        fprintf(f, "  %-12s %s%s\n", COMMANDS[i].name, COMMANDS[i].summary, missing ? " (not in this build)" : "");
    }
    fprintf(f, "\nEnvironment: LLAMA3_ISA=scalar|avx2|avx2vnni|avx512 forces a kernel set (for testing);\n"
               "             LLAMA3_INT8=0 turns the 8-bit activation paths off (f32 activations).\n");
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 1; }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "llama3: unknown command '%s' (see llama3 --help)\n", argv[1]);
    return 1;
}
