/* Progress lines for long work: one line redrawn in place on a terminal, a line per 10%
 * otherwise (logs, CI), nothing with --quiet. */
#include <string.h>
#include <unistd.h>

#include "cli.h"

void cli_progress_init(cli_progress *p, const char *cmd, bool bytes, bool quiet) {
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->bytes = bytes;
    p->mode = quiet ? 0 : isatty(STDERR_FILENO) ? 1 : 2;
    p->decile = -1;
    p->t0 = llama3_time_s();  /* the rate counts from here */
}

static void fmt_eta(double s, char *out, size_t cap) {
    if (s < 0 || s > 360000) { snprintf(out, cap, "--:--"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(out, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(out, cap, "%ld:%02ld", t / 60, t % 60);
}

void cli_progress_cb(void *ud, const char *item, uint64_t done, uint64_t total) {
    cli_progress *p = ud;
    if (!p->mode || total == 0) return;
    double now = llama3_time_s();
    p->started = true;
    if (done > total) done = total;
    int pct = (int)(100.0 * (double)done / (double)total);
    int decile = pct / 10;
    bool last = done == total;
    if (p->mode == 1 && (last ? p->decile == 10 : now - p->t_draw < 0.1)) return;  /* 100% once */
    if (p->mode == 2 && decile <= p->decile) return;
    p->t_draw = now;
    p->decile = decile;
    double el = now - p->t0, rate = el > 0 ? (double)done / el : 0;
    char eta[32], amount[64], speed[32];
    fmt_eta(rate > 0 ? (double)(total - done) / rate : -1, eta, sizeof eta);
    if (p->bytes) {
        snprintf(amount, sizeof amount, "%.1f/%.1f MB", done / 1e6, total / 1e6);
        snprintf(speed, sizeof speed, "%.1f MB/s", rate / 1e6);
    } else {
        snprintf(amount, sizeof amount, "%llu/%llu", (unsigned long long)done, (unsigned long long)total);
        snprintf(speed, sizeof speed, "%.2f/s", rate);
    }
    if (p->mode == 1)
        fprintf(stderr, "\r\033[K%s: %3d%% %s  %s  %s  ETA %s", p->cmd, pct, item ? item : "", amount, speed, eta);
    else
        fprintf(stderr, "%s: %3d%% %s  %s  %s  ETA %s\n", p->cmd, pct, item ? item : "", amount, speed, eta);
    fflush(stderr);
}

void cli_progress_end(cli_progress *p) {
    if (p->mode == 1 && p->started) fputc('\n', stderr);
    p->started = false;
}
