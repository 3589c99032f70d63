/* llama3 info: ModelArgs and sizes of a model. */
#include <string.h>

#include "cli.h"

static const char *INFO_HELP =
    "usage: llama3 info -m MODEL [-c CTX] [--kv-type f16|f32|q8_0] [--device DEV]\n"
    "\n"
    "Prints the model's ModelArgs (every field of Meta's dataclass), head_dim, parameter count,\n"
    "bytes of weights and KV-cache bytes per token (and for the whole -c context), the device\n"
    "it loads on, and the CPU kernel sets this machine runs (the one in use last).\n";

int cmd_info(int argc, char **argv) {
    const char *cmd = "info";
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    for (int i = 1; i < argc; i++) {
        int r = cli_model_opt(&mo, argc, argv, &i, cmd);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(INFO_HELP, stdout); return 0; }
        return cli_error(cmd, "unknown option '%s' (see llama3 info --help)", argv[i]);
    }
    llama3_model *m;
    if (cli_open(&mo, cmd, &m, NULL, 1)) return 1;
    const llama3_args *a = llama3_model_args(m);
    int ctx = mo.n_ctx ? mo.n_ctx : (a->max_seq_len < 4096 ? a->max_seq_len : 4096);
    llama3_error err = { 0 };
    int64_t kv = llama3_kv_bytes_per_token(m, mo.kv_type, &err);
    if (kv < 0) {
        llama3_model_free(m);
        return cli_error(cmd, "%s", err.msg);
    }
    size_t kv_per_token = (size_t)kv;
    const int rank = llama3_world_rank(), n_procs = llama3_world_size();
    if (rank > 0) {  /* rank 0 prints the model; each other process its own share */
        printf("rank %d of %d:          weights %.2f MiB, kv bytes per token %zu\n", rank, n_procs,
               llama3_model_rank_weight_bytes(m) / 1048576.0, kv_per_token / (size_t)n_procs);
        llama3_model_free(m);
        return 0;
    }
    printf("model:              %s\n", mo.model);
    printf("format:             %s\n", llama3_model_format(m));
    printf("dim:                %d\n", a->dim);
    printf("n_layers:           %d\n", a->n_layers);
    printf("n_heads:            %d\n", a->n_heads);
    printf("n_kv_heads:         %d\n", a->n_kv_heads);
    printf("vocab_size:         %d\n", a->vocab_size);
    if (a->multiple_of) printf("multiple_of:        %d\n", a->multiple_of);
    else printf("multiple_of:        (not in file; FFN width given directly)\n");
    if (a->ffn_dim_multiplier > 0) printf("ffn_dim_multiplier: %g\n", a->ffn_dim_multiplier);
    else printf("ffn_dim_multiplier: None\n");
    printf("ffn hidden_dim:     %d\n", a->hidden_dim);
    printf("norm_eps:           %g\n", a->norm_eps);
    printf("rope_theta:         %g\n", a->rope_theta);
    if (a->rope_freqs_in_file)
        printf("rope scaling:       llama3, per-frequency factors from rope_freqs.weight (largest %g)\n",
               a->rope_scale_factor);
    else if (a->use_scaled_rope)
        printf("rope scaling:       llama3 (factor %g, low %g, high %g, original context %d)\n", a->rope_scale_factor,
               a->rope_low_freq_factor, a->rope_high_freq_factor, a->rope_original_ctx);
    else printf("rope scaling:       none\n");
    printf("max_batch_size:     %d\n", a->max_batch_size);
    printf("max_seq_len:        %d (trained context)\n", a->max_seq_len);
    printf("head_dim:           %d\n", a->head_dim);
    printf("parameters:         %llu\n", (unsigned long long)llama3_model_param_count(m));
    printf("weight bytes:       %llu (%.2f MiB)\n", (unsigned long long)llama3_model_weight_bytes(m),
           llama3_model_weight_bytes(m) / 1048576.0);
    printf("kv bytes per token: %zu (%s)\n", kv_per_token, llama3_kv_type_name(mo.kv_type));
    printf("kv bytes at -c %d: %zu (%.2f MiB)\n", ctx, kv_per_token * ctx, kv_per_token * ctx / 1048576.0);
    llama3_tokenizer *t = llama3_model_tokenizer(m);
    if (t) printf("tokenizer:          %d tokens\n", llama3_tokenizer_n_vocab(t));
    else printf("tokenizer:          none\n");
    printf("device:             %s\n", llama3_model_device(m));
    if (n_procs > 1)
        printf("rank 0 of %d:          weights %.2f MiB, kv bytes per token %zu (model parallel over %s)\n", n_procs,
               llama3_model_rank_weight_bytes(m) / 1048576.0, kv_per_token / (size_t)n_procs, llama3_world_transport());
    printf("cpu kernel sets:    %s\n", llama3_cpu_info());
    llama3_model_free(m);
    return 0;
}
