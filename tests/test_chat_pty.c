/* llama3 chat on a terminal (a pseudo-terminal from forkpty), typed at as a person would:
 *   line editing: "helo", Left, "l", Enter sends "hello";
 *   history: Up, Enter sends the previous line again;
 *   multi-line input: """a / b""" sends "a\nb"; a line ending in \ goes on on the next;
 *   a speed line after each answer; Ctrl-D on an empty line leaves with a newline, exit 0;
 *   Ctrl-C during an answer stops it ([interrupted], the prompt again); at the prompt it asks
 *   for a second one, which exits.
 * What the model received is read back from /save's JSON.
 * usage: test_chat_pty LLAMA3 MODEL TMPDIR */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int fails;
#define CHECK(cond, ...)                                                                            \
    do {                                                                                            \
        if (cond) printf("ok: " __VA_ARGS__);                                                       \
        else { printf("FAIL: " __VA_ARGS__); fails++; }                                             \
        printf("\n");                                                                               \
    } while (0)

typedef struct term {
    int fd;
    pid_t pid;
    char out[1 << 20];  /* everything the program wrote */
    size_t n, seen;     /* bytes read; where the last expect matched */
} term;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void start(term *t, const char *home, char **argv) {
    struct winsize ws = { .ws_row = 40, .ws_col = 200 };
    t->n = t->seen = 0;
    t->out[0] = 0;
    t->pid = forkpty(&t->fd, NULL, NULL, &ws);
    if (t->pid < 0) { perror("forkpty"); exit(2); }
    if (t->pid == 0) {
        setenv("TERM", "xterm", 1);
        setenv("HOME", home, 1);  /* no ~/.editrc of the user's */
        execv(argv[0], argv);
        _exit(127);
    }
}

/* Reads what is there for up to secs; returns 0 at EOF. */
static int pump(term *t, double secs) {
    struct pollfd p = { .fd = t->fd, .events = POLLIN };
    if (poll(&p, 1, (int)(secs * 1000)) <= 0) return 1;
    ssize_t k = read(t->fd, t->out + t->n, sizeof t->out - 1 - t->n);
    if (k <= 0) return 0;  /* EIO: the program ended */
    t->n += (size_t)k;
    t->out[t->n] = 0;
    return 1;
}

/* Waits for s to appear after the last match. */
static int expect(term *t, const char *s, double secs) {
    double end = now() + secs;
    for (;;) {
        char *at = strstr(t->out + t->seen, s);
        if (at) {
            t->seen = (size_t)(at - t->out) + strlen(s);
            return 1;
        }
        if (now() > end || !pump(t, end - now())) {
            at = strstr(t->out + t->seen, s);
            if (at) { t->seen = (size_t)(at - t->out) + strlen(s); return 1; }
            fprintf(stderr, "timed out waiting for '%s'; output so far:\n%s\n", s, t->out + (t->n > 2000 ? t->n - 2000 : 0));
            return 0;
        }
    }
}

static void type(term *t, const char *s) {
    for (; *s; s++) {
        if (write(t->fd, s, 1) != 1) return;
        usleep(2000);  /* a person types one key at a time */
    }
}

/* Reads until the program ends; returns its exit status (-1: did not end in secs). */
static int finish(term *t, double secs) {
    double end = now() + secs;
    while (now() < end && pump(t, end - now())) {}
    for (;;) {
        int st;
        pid_t r = waitpid(t->pid, &st, WNOHANG);
        if (r == t->pid) { close(t->fd); return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }
        if (now() > end) { kill(t->pid, SIGKILL); waitpid(t->pid, &st, 0); close(t->fd); return -1; }
        usleep(10000);
    }
}

static const char *user_message(json_t *root, int k) {  /* the k-th user message */
    json_t *msgs = json_object_get(root, "messages"), *m;
    size_t i;
    json_array_foreach(msgs, i, m) {
        if (!strcmp(json_string_value(json_object_get(m, "role")), "user") && k-- == 0)
            return json_string_value(json_object_get(m, "content"));
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: test_chat_pty LLAMA3 MODEL TMPDIR\n"); return 2; }
    static term t;
    char save[4096], cmd[4200];
    snprintf(save, sizeof save, "%s/pty.json", argv[3]);

    /* 1. editing, history, multi-line input, the speed line, Ctrl-D */
    char *a1[] = { argv[1], "chat", "-m", argv[2], "--temp", "0", "-n", "3", "-c", "512", NULL };
    start(&t, argv[3], a1);
    CHECK(expect(&t, "> ", 30), "the prompt");
    type(&t, "helo\033[Dl\r");  /* Left arrow, then the missing letter */
    CHECK(expect(&t, "[prompt ", 30) && expect(&t, "tokens/s | answer 3 tokens", 5), "a speed line after the answer");
    CHECK(expect(&t, "> ", 10), "the prompt again");
    type(&t, "\033[A\r");  /* Up: the previous line */
    CHECK(expect(&t, "[prompt ", 30) && expect(&t, "> ", 10), "the history's line answered");
    type(&t, "\"\"\"a\r");
    CHECK(expect(&t, ". ", 10), "a continuation prompt inside \"\"\"");
    type(&t, "b\"\"\"\r");
    CHECK(expect(&t, "[prompt ", 30) && expect(&t, "> ", 10), "the \"\"\" message answered");
    type(&t, "c\\\r");
    CHECK(expect(&t, ". ", 10), "a continuation prompt after \\");
    type(&t, "d\r");
    CHECK(expect(&t, "[prompt ", 30) && expect(&t, "> ", 10), "the \\ message answered");
    snprintf(cmd, sizeof cmd, "/save %s\r", save);
    type(&t, cmd);
    CHECK(expect(&t, "saved 8 messages", 10) && expect(&t, "> ", 10), "/save");
    size_t before = t.n;
    type(&t, "\004");  /* Ctrl-D on an empty line */
    int st = finish(&t, 20);
    CHECK(st == 0, "Ctrl-D on an empty line: exit status 0 (got %d)", st);
    CHECK(t.n > before && strchr(t.out + before, '\n'), "Ctrl-D: a newline after the prompt");
    json_error_t je;
    json_t *root = json_load_file(save, 0, &je);
    const char *m0 = root ? user_message(root, 0) : NULL, *m1 = root ? user_message(root, 1) : NULL;
    const char *m2 = root ? user_message(root, 2) : NULL, *m3 = root ? user_message(root, 3) : NULL;
    CHECK(m0 && !strcmp(m0, "hello"), "line editing: 'helo', Left, 'l' sent \"hello\" (got \"%s\")", m0 ? m0 : "(none)");
    CHECK(m1 && !strcmp(m1, "hello"), "history: Up sent \"hello\" again (got \"%s\")", m1 ? m1 : "(none)");
    CHECK(m2 && !strcmp(m2, "a\nb"), "\"\"\"a / b\"\"\" sent \"a\\nb\" (got \"%s\")", m2 ? m2 : "(none)");
    CHECK(m3 && !strcmp(m3, "c\nd"), "c\\ / d sent \"c\\nd\" (got \"%s\")", m3 ? m3 : "(none)");
    json_decref(root);

    /* 2. Ctrl-C: during an answer it stops it; at the prompt, twice in a row exits */
    char *a2[] = { argv[1], "chat", "-m", argv[2], "--temp", "0", "-n", "0", "-c", "8192", NULL };
    start(&t, argv[3], a2);
    CHECK(expect(&t, "> ", 30), "the prompt (second run)");
    type(&t, "hello\r");
    expect(&t, "hello\r\n", 10);  /* the echo; then wait for the answer to stream */
    size_t echo_end = t.seen;
    double until = now() + 10;
    while (t.n < echo_end + 40 && now() < until) pump(&t, 0.2);
    type(&t, "\003");
    CHECK(expect(&t, "[interrupted]", 20), "Ctrl-C during an answer: [interrupted]");
    CHECK(expect(&t, "> ", 20), "Ctrl-C during an answer: the prompt again");
    usleep(300000);  /* as a person would: a signal between the prompt and the read is not seen */
    type(&t, "\003");
    CHECK(expect(&t, "Ctrl-C again to exit", 10), "Ctrl-C at the prompt: asks for another");
    usleep(300000);  /* (the same: the prompt is read again after the message) */
    type(&t, "\003");
    st = finish(&t, 20);
    CHECK(st == 0, "a second Ctrl-C at the prompt: exit status 0 (got %d)", st);

    printf("%d failure(s)\n", fails);
    return fails ? 1 : 0;
}
