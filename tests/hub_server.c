/* A stand-in for the Hugging Face Hub, for the pull tests (tests/test_hub_pull.sh): serves
 * folders as repositories in the Hub's URL layout, without the network.
 *   GET /api/models/OWNER/NAME/revision/REV[?blobs=true]  JSON: sha, siblings[] (rfilename,
 *       size, blobId, lfs {sha256, size} for weight files)
 *   GET /OWNER/NAME/resolve/REV/FILE   302 to /cdn/OWNER/NAME/FILE (the Hub redirects to its CDN)
 *   GET /cdn/OWNER/NAME/FILE           the bytes, with Range requests answered by 206
 * usage: hub_server [options] OWNER/NAME[/PREFIX]=DIR...   (prints the port it listens on)
 *   --log FILE           one line per request: METHOD URL range=FROM auth=yes|no -> STATUS
 *   --gated REPO=TOKEN   401 without a token, 403 with another one
 *   --cut FILE           the first response for FILE (a path in its repository) stops halfway
 *   --corrupt FILE       FILE is served with one byte changed (its sha256 no longer matches)
 *   --alias REPO/NAME=REPO/FILE  NAME also serves FILE's bytes (e.g. fake split GGUF parts)
 *   --size FILE=N        the API claims FILE has N bytes (a disk-space check)
 * Runs until stdin closes. */
#include <dirent.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

enum { MAX = 256 };
typedef struct file {
    char repo[128], name[512], path[1024];
    unsigned char *data;
    size_t size;
    long claimed;  /* --size, else -1 */
    int lfs, cut, corrupt;
} file;

static file files[MAX];
static int n_files;
static char gated_repo[128], gated_token[256];
static FILE *logf;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void die(const char *m, const char *a) {
    fprintf(stderr, "hub_server: %s %s\n", m, a ? a : "");
    exit(2);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open", path);
    fseek(f, 0, SEEK_END);
    long k = ftell(f);
    rewind(f);
    unsigned char *d = malloc((size_t)k + 1);
    if (!d || fread(d, 1, (size_t)k, f) != (size_t)k) die("cannot read", path);
    fclose(f);
    *n = (size_t)k;
    return d;
}

static int ends(const char *s, const char *x) {
    size_t a = strlen(s), b = strlen(x);
    return a >= b && !strcmp(s + a - b, x);
}

static file *add(const char *repo, const char *name, const char *path) {
    if (n_files == MAX) die("too many files", NULL);
    file *f = &files[n_files++];
    snprintf(f->repo, sizeof f->repo, "%s", repo);
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->path, sizeof f->path, "%s", path);
    f->data = slurp(path, &f->size);
    f->claimed = -1;
    f->lfs = ends(name, ".gguf") || ends(name, ".safetensors") || ends(name, ".pth") || ends(name, ".model");
    return f;
}

/* OWNER/NAME[/PREFIX]=DIR: every regular file of DIR (not recursive). */
static void add_dir(const char *arg) {
    char spec[1024];
    snprintf(spec, sizeof spec, "%s", arg);
    char *eq = strchr(spec, '=');
    if (!eq) die("expected OWNER/NAME[/PREFIX]=DIR:", arg);
    *eq = 0;
    const char *dir = eq + 1;
    char *s1 = strchr(spec, '/'), *prefix = s1 ? strchr(s1 + 1, '/') : NULL;
    if (prefix) *prefix++ = 0;
    DIR *d = opendir(dir);
    if (!d) die("cannot open folder", dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[1024], name[512];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &st) || !S_ISREG(st.st_mode)) continue;
        snprintf(name, sizeof name, "%s%s%s", prefix ? prefix : "", prefix ? "/" : "", de->d_name);
        add(spec, name, path);
    }
    closedir(d);
}

static file *find(const char *repo, const char *name) {
    for (int i = 0; i < n_files; i++)
        if (!strcmp(files[i].repo, repo) && !strcmp(files[i].name, name)) return &files[i];
    return NULL;
}

/* "REPO/FILE" (REPO is two components) -> the file. */
static file *find_path(const char *rp) {
    const char *s = strchr(rp, '/');
    s = s ? strchr(s + 1, '/') : NULL;
    if (!s) return NULL;
    char repo[128];
    snprintf(repo, sizeof repo, "%.*s", (int)(s - rp), rp);
    return find(repo, s + 1);
}

static void digest(const EVP_MD *md, const char *head, size_t head_n, const unsigned char *d, size_t n, char *hex) {
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned hn;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, md, NULL);
    if (head) EVP_DigestUpdate(c, head, head_n);
    EVP_DigestUpdate(c, d, n);
    EVP_DigestFinal_ex(c, h, &hn);
    EVP_MD_CTX_free(c);
    for (unsigned i = 0; i < hn; i++) sprintf(hex + 2 * i, "%02x", h[i]);
}

static MHD_RESULT reply(struct MHD_Connection *c, unsigned code, const char *body, const char *type) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", type);
    MHD_RESULT ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static char *api_json(const char *repo) {
    json_t *sib = json_array();
    char commit[41];
    digest(EVP_sha1(), NULL, 0, (const unsigned char *)repo, strlen(repo), commit);
    for (int i = 0; i < n_files; i++) {
        file *f = &files[i];
        if (strcmp(f->repo, repo)) continue;
        char head[64], blob[41], sha[65];
        int k = snprintf(head, sizeof head, "blob %zu", f->size);
        digest(EVP_sha1(), head, (size_t)k + 1, f->data, f->size, blob);
        json_int_t size = f->claimed >= 0 ? f->claimed : (json_int_t)f->size;
        json_t *s = json_pack("{s:s, s:s, s:I}", "rfilename", f->name, "blobId", blob, "size", size);
        if (f->lfs) {
            digest(EVP_sha256(), NULL, 0, f->data, f->size, sha);
            json_object_set_new(s, "lfs", json_pack("{s:s, s:I, s:i}", "sha256", sha, "size", size, "pointerSize", 134));
        }
        json_array_append_new(sib, s);
    }
    json_t *root = json_pack("{s:s, s:s, s:o}", "id", repo, "sha", commit, "siblings", sib);
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}

typedef struct stream { const file *f; size_t from, stop; } stream;

static ssize_t read_cb(void *cls, uint64_t pos, char *buf, size_t max) {
    stream *s = cls;
    size_t at = s->from + (size_t)pos;
    if (at >= s->stop) return MHD_CONTENT_READER_END_WITH_ERROR;  /* the cut */
    size_t n = s->stop - at < max ? s->stop - at : max;
    memcpy(buf, s->f->data + at, n);
    if (s->f->corrupt && at <= s->f->size / 2 && s->f->size / 2 < at + n) buf[s->f->size / 2 - at] ^= 0x5a;
    return (ssize_t)n;
}

static MHD_RESULT handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                         const char *version, const char *upload, size_t *upload_n, void **state) {
    (void)cls, (void)version, (void)upload, (void)upload_n;
    if (!*state) {  /* headers only so far */
        *state = c;
        return MHD_YES;
    }
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
    unsigned code = 404;
    MHD_RESULT ret;
    char repo[256] = "";
    const char *p;
    if (strcmp(method, "GET")) code = 405;
    else if (!strncmp(url, "/api/models/", 12) && (p = strstr(url + 12, "/revision/")))
        snprintf(repo, sizeof repo, "%.*s", (int)(p - url - 12), url + 12);
    else if (strncmp(url, "/cdn/", 5) && (p = strstr(url, "/resolve/")))
        snprintf(repo, sizeof repo, "%.*s", (int)(p - url - 1), url + 1);
    if (repo[0] && gated_repo[0] && !strcmp(repo, gated_repo)) {
        char want[300];
        snprintf(want, sizeof want, "Bearer %s", gated_token);
        if (!auth) code = 401;
        else if (strcmp(auth, want)) code = 403;
    }
    if (code == 401 || code == 403) {
        ret = reply(c, code, code == 401 ? "{\"error\":\"Access to model is restricted. You must be authenticated.\"}"
                                         : "{\"error\":\"Access to model is restricted.\"}", "application/json");
    } else if (!strncmp(url, "/api/models/", 12) && repo[0]) {
        int any = 0;
        for (int i = 0; i < n_files; i++) any |= !strcmp(files[i].repo, repo);
        if (any) {
            char *j = api_json(repo);
            ret = reply(c, code = 200, j, "application/json");
            free(j);
        } else ret = reply(c, code = 404, "{\"error\":\"Repository not found\"}", "application/json");
    } else if (repo[0]) {  /* resolve: REPO/resolve/REV/FILE -> the CDN */
        const char *rest = strstr(url, "/resolve/") + 9, *fname = strchr(rest, '/');
        file *f = fname ? find(repo, fname + 1) : NULL;
        if (!f) ret = reply(c, code = 404, "{\"error\":\"Entry not found\"}", "application/json");
        else {
            char loc[1024];
            snprintf(loc, sizeof loc, "/cdn/%s/%s", repo, f->name);
            struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
            MHD_add_response_header(r, "Location", loc);
            ret = MHD_queue_response(c, code = 302, r);
            MHD_destroy_response(r);
        }
    } else if (!strncmp(url, "/cdn/", 5) && !strcmp(method, "GET")) {
        file *f = find_path(url + 5);
        size_t from = 0;
        if (range && sscanf(range, "bytes=%zu-", &from) != 1) from = 0;
        if (!f) ret = reply(c, code = 404, "not found", "text/plain");
        else if (from >= f->size && f->size) ret = reply(c, code = 416, "range not satisfiable", "text/plain");
        else {
            stream *s = malloc(sizeof *s);
            s->f = f;
            s->from = from;
            s->stop = f->size;
            pthread_mutex_lock(&mu);
            if (f->cut) {  /* once: stop halfway through the file */
                f->cut = 0;
                s->stop = f->size / 2 > from ? f->size / 2 : from + 1;
            }
            pthread_mutex_unlock(&mu);
            struct MHD_Response *r = MHD_create_response_from_callback(f->size - from, 1 << 16, read_cb, s, free);
            code = from ? 206 : 200;
            if (from) {
                char cr[128];
                snprintf(cr, sizeof cr, "bytes %zu-%zu/%zu", from, f->size - 1, f->size);
                MHD_add_response_header(r, "Content-Range", cr);
            }
            ret = MHD_queue_response(c, code, r);
            MHD_destroy_response(r);
        }
    } else ret = reply(c, code, "not found", "text/plain");
    if (logf) {
        pthread_mutex_lock(&mu);
        fprintf(logf, "%s %s range=%s auth=%s -> %u\n", method, url, range ? range : "-", auth ? "yes" : "no", code);
        fflush(logf);
        pthread_mutex_unlock(&mu);
    }
    return ret;
}

int main(int argc, char **argv) {
    const char *cuts[16], *corrupts[16], *sizes[16], *aliases[16];
    int n_cut = 0, n_corrupt = 0, n_size = 0, n_alias = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 < argc && !strcmp(a, "--log")) {
            if (!(logf = fopen(argv[++i], "a"))) die("cannot open", argv[i]);
        } else if (i + 1 < argc && !strcmp(a, "--gated")) {
            const char *eq = strchr(argv[++i], '=');
            if (!eq) die("--gated REPO=TOKEN", NULL);
            snprintf(gated_repo, sizeof gated_repo, "%.*s", (int)(eq - argv[i]), argv[i]);
            snprintf(gated_token, sizeof gated_token, "%s", eq + 1);
        } else if (i + 1 < argc && !strcmp(a, "--cut") && n_cut < 16) cuts[n_cut++] = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--corrupt") && n_corrupt < 16) corrupts[n_corrupt++] = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--size") && n_size < 16) sizes[n_size++] = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--alias") && n_alias < 16) aliases[n_alias++] = argv[++i];
        else if (a[0] == '-') die("unknown option", a);
        else add_dir(a);
    }
    for (int i = 0; i < n_alias; i++) {  /* REPO/NAME=REPO/FILE */
        char spec[1024];
        snprintf(spec, sizeof spec, "%s", aliases[i]);
        char *eq = strchr(spec, '=');
        file *src = eq ? find_path(eq + 1) : NULL;
        if (!src) die("--alias: no such file", aliases[i]);
        *eq = 0;
        char *s = strchr(spec, '/');
        s = s ? strchr(s + 1, '/') : NULL;
        if (!s) die("--alias REPO/NAME=REPO/FILE", aliases[i]);
        *s = 0;
        add(spec, s + 1, src->path);
    }
    for (int i = 0; i < n_cut; i++) {
        file *f = find_path(cuts[i]);
        if (!f) die("--cut: no such file", cuts[i]);
        f->cut = 1;
    }
    for (int i = 0; i < n_corrupt; i++) {
        file *f = find_path(corrupts[i]);
        if (!f) die("--corrupt: no such file", corrupts[i]);
        f->corrupt = 1;
    }
    for (int i = 0; i < n_size; i++) {
        char spec[1024];
        snprintf(spec, sizeof spec, "%s", sizes[i]);
        char *eq = strchr(spec, '=');
        if (!eq) die("--size FILE=N", sizes[i]);
        *eq = 0;
        file *f = find_path(spec);
        if (!f) die("--size: no such file", spec);
        f->claimed = atol(eq + 1);
    }
    struct sockaddr_in lo = { .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                                            NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&lo,
                                            MHD_OPTION_END);
    if (!d) die("cannot start the server", NULL);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("%u\n", info ? info->port : 0);
    fflush(stdout);
    char buf[64];
    while (fread(buf, 1, sizeof buf, stdin) > 0) {}
    MHD_stop_daemon(d);
    for (int i = 0; i < n_files; i++) free(files[i].data);
    if (logf) fclose(logf);
    return 0;
}
