/* llama3 pull / list / rm: models from Hugging Face, in huggingface_hub's cache. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *PULL_HELP =
    "usage: llama3 pull OWNER/NAME[:QUANT] | OWNER/NAME/FILE [--meta] [--revision REV] [--quiet]\n"
    "\n"
    "Downloads a model from Hugging Face into the cache huggingface-cli uses, and prints its\n"
    "path. Every command that takes -m also takes hf:OWNER/NAME[:QUANT] (pulled first).\n"
    "  A GGUF repository: the file whose name ends in QUANT (default Q4_K_M, as llama.cpp's -hf;\n"
    "    case-insensitive), every part of a split file.\n"
    "  A transformers repository: config.json, generation_config.json, tokenizer.json,\n"
    "    tokenizer_config.json and the safetensors files (with their index).\n"
    "  --meta: Meta's checkpoint in the original/ folder (params.json, consolidated.*.pth,\n"
    "    tokenizer.model).\n"
    "Files already in the cache are not fetched again; an interrupted download resumes where it\n"
    "stopped; every file is checked against its sha256 (git blob id for small files) before it\n"
    "enters the cache, so a half-written or corrupted file is never used.\n"
    "\n"
    "  --meta            the original/ folder (Meta's format) of a transformers repository\n"
    "  --revision REV    branch, tag or commit (default main)\n"
    "  --quiet           no progress on stderr\n"
    "  -h, --help        this help\n"
    "\n"
    "Environment (huggingface_hub's):\n"
    "  HF_ENDPOINT       the Hub (default https://huggingface.co)\n"
    "  HF_TOKEN          access token for gated and private repositories (else the file\n"
    "                    huggingface-cli login writes: HF_TOKEN_PATH, or HF_HOME/token)\n"
    "  HF_HUB_CACHE      the cache (default HF_HOME/hub; HF_HOME defaults to ~/.cache/huggingface)\n"
    "  HF_HUB_OFFLINE=1  use the cache only; with no network the cache is used too\n"
    "\n"
    "Gated models (meta-llama/...): accept the license on the model's page, create a token at\n"
    "https://huggingface.co/settings/tokens and export HF_TOKEN. GGUF copies such as\n"
    "bartowski/Llama-3.2-1B-Instruct-GGUF need no token.\n";

static const char *LIST_HELP =
    "usage: llama3 list\n"
    "\n"
    "Lists the models in the Hugging Face cache (HF_HUB_CACHE, else HF_HOME/hub, else\n"
    "~/.cache/huggingface/hub): repository, revision, commit, files and size, one snapshot a line,\n"
    "including those huggingface-cli downloaded.\n";

static const char *RM_HELP =
    "usage: llama3 rm OWNER/NAME...\n"
    "\n"
    "Deletes repositories from the Hugging Face cache (every snapshot, blob and ref).\n";

enum { P_HELP = 1, P_META, P_REVISION, P_QUIET };
static const cli_opt PULL_OPTS[] = {
    { P_HELP, "-h|--help", CLI_FLAG, NULL },
    { P_META, "--meta", CLI_FLAG, NULL },
    { P_REVISION, "--revision", CLI_VALUE, NULL },
    { P_QUIET, "--quiet|-q", CLI_FLAG, NULL },
    { 0, NULL, 0, NULL },
};

static void human(uint64_t b, char *out, size_t cap) {
    if (b >= 1000000000ull) snprintf(out, cap, "%.2f GB", b / 1e9);
    else if (b >= 1000000ull) snprintf(out, cap, "%.1f MB", b / 1e6);
    else snprintf(out, cap, "%.1f kB", b / 1e3);
}

int cmd_pull(int argc, char **argv) {
    const char *cmd = "pull", *spec = NULL;
    llama3_hub_options ho = { 0 };
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        switch (cli_match(PULL_OPTS, argc, argv, &i, &v, cmd)) {
        case -1: return 1;
        case P_HELP: fputs(PULL_HELP, stdout); return 0;
        case P_META: ho.meta = 1; break;
        case P_REVISION: ho.revision = v; break;
        case P_QUIET: quiet = true; break;
        default:
            if (argv[i][0] == '-' || spec) return cli_unknown(cmd, argv[i]);
            spec = argv[i];
        }
    }
    llama3_error err = { 0 };
    if (!llama3_hub_available(&err)) return cli_error(cmd, "%s", err.msg);
    if (!spec) return cli_error(cmd, "which model? (llama3 pull OWNER/NAME[:QUANT], see --help)");
    signal(SIGXFSZ, SIG_IGN);  /* a file size limit shows as a failed write, reported as such */
    cli_progress pr;
    cli_progress_init(&pr, cmd, true, quiet);
    ho.progress = cli_progress_cb;
    ho.progress_data = &pr;
    llama3_hub_result res;
    int rc = llama3_hub_pull(spec, &ho, &res, &err);
    cli_progress_end(&pr);
    if (rc) return cli_error(cmd, "%s", err.msg);
    char size[32], got[32];
    human(res.bytes, size, sizeof size);
    human(res.downloaded, got, sizeof got);
    if (res.from_cache_only) fprintf(stderr, "llama3 pull: %s\n", res.note);
    else if (!quiet)
        fprintf(stderr, "llama3 pull: %s at %.12s: %d file%s, %s (%s downloaded)\n", spec, res.commit, res.n_files,
                res.n_files == 1 ? "" : "s", size, res.downloaded ? got : "nothing");
    printf("%s\n", res.path);
    llama3_hub_result_free(&res);
    return 0;
}

int cmd_list(int argc, char **argv) {
    const char *cmd = "list";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(LIST_HELP, stdout); return 0; }
        return cli_unknown(cmd, argv[i]);
    }
    llama3_error err = { 0 };
    llama3_hub_cached *v;
    int n;
    char *dir;
    if (llama3_hub_cache_dir(&dir, &err) || llama3_hub_list(&v, &n, &err)) return cli_error(cmd, "%s", err.msg);
    if (n == 0) fprintf(stderr, "no models in %s (llama3 pull OWNER/NAME[:QUANT] fetches one)\n", dir);
    else printf("%-44s %-10s %-12s %9s  %s\n", "REPOSITORY", "REVISION", "COMMIT", "SIZE", "FILES");
    for (int i = 0; i < n; i++) {
        char size[32];
        human(v[i].bytes, size, sizeof size);
        printf("%-44s %-10s %-12.12s %9s  %d: %s\n", v[i].repo, v[i].revision[0] ? v[i].revision : "-", v[i].commit, size,
               v[i].n_files, v[i].files);
    }
    free(v);
    free(dir);
    return 0;
}

int cmd_rm(int argc, char **argv) {
    const char *cmd = "rm";
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(RM_HELP, stdout); return 0; }
        if (argv[i][0] == '-') return cli_unknown(cmd, argv[i]);
        n++;
    }
    if (!n) return cli_error(cmd, "which repository? (llama3 rm OWNER/NAME; llama3 list shows them)");
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        llama3_error err = { 0 };
        uint64_t freed = 0;
        char size[32];
        if (llama3_hub_remove(argv[i], &freed, &err)) { rc = cli_error(cmd, "%s", err.msg); continue; }
        human(freed, size, sizeof size);
        fprintf(stderr, "llama3 rm: removed %s (%s)\n", argv[i], size);
    }
    return rc;
}
