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

static int cmd_version(int argc, char **argv);

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
    { "pull", cmd_pull, "download a model from Hugging Face (OWNER/NAME[:QUANT]) into its cache" },
    { "list", cmd_list, "list the models in the Hugging Face cache" },
    { "rm", cmd_rm, "delete a model from the Hugging Face cache" },
    { "version", cmd_version, "version, git commit, build options, kernel sets and backends" },
};

static const char *VERSION_HELP =
    "usage: llama3 version [-m MODEL [--device DEV]]   (also llama3 --version, llama3 -v)\n"
    "\n"
    "Prints the version, the git commit it was built from, the build options, the compute\n"
    "backends built in and the CPU kernel sets this machine runs. With -m, also loads MODEL and\n"
    "prints the device it runs on.\n";

static int cmd_version(int argc, char **argv) {
    const char *cmd = "version";
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    int done = cli_model_args_only(&mo, argc, argv, cmd, VERSION_HELP);
    if (done >= 0) return done;
    const llama3_build_info *b = llama3_build();
    printf("llama3c %s (commit %s)\n", b->version, b->commit);
    printf("build:    %s\n", b->options);
    printf("backends: %s\n", b->backends);
    printf("cpu:      %s\n", llama3_cpu_info());
    int rc = 0;
    if (mo.model) {
        llama3_model *m;
        if (cli_open(&mo, cmd, &m, NULL, 1)) rc = 1;
        else {
            printf("model:    %s on %s\n", mo.model, llama3_model_device(m));
            llama3_model_free(m);
        }
    }
    return rc;
}

static void usage(FILE *f) {
    fprintf(f, "usage: llama3 COMMAND [options]   (llama3 COMMAND --help for details)\n\n"
               "Run Llama 3 / 3.1 / 3.2 models (GGUF files, Hugging Face folders, Meta folders) on the CPU.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        int missing = (COMMANDS[i].fn == cmd_serve && !llama3_server_available(NULL)) ||  /* no libmicrohttpd */
                      ((COMMANDS[i].fn == cmd_pull || COMMANDS[i].fn == cmd_list || COMMANDS[i].fn == cmd_rm) &&
                       !llama3_hub_available(NULL));  /* no libcurl */
        fprintf(f, "  %-12s %s%s\n", COMMANDS[i].name, COMMANDS[i].summary, missing ? " (not in this build)" : "");
    }
    fprintf(f, "\nModels: -m takes a GGUF file, a Hugging Face or Meta folder, or hf:OWNER/NAME[:QUANT]\n"
               "(downloaded first; see llama3 pull --help). llama3 --version prints the build.\n");
    fprintf(f, "\nEnvironment: LLAMA3_ISA=scalar|avx2|avx2vnni|avx512|amx forces a kernel set (for testing);\n"
               "             LLAMA3_INT8=0 turns the 8-bit activation paths off (f32 activations).\n");
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 1; }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-v")) return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    if (argv[1][0] == '-') fprintf(stderr, "llama3: unknown option %s (see llama3 --help)\n", argv[1]);
    else fprintf(stderr, "llama3: unknown command '%s' (see llama3 --help)\n", argv[1]);
    return 1;
}
