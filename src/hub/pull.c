/* llama3_hub_pull: which files of a repository make the model, and getting them into the cache.
 *   GGUF repository: the file whose quantization is QUANT (default Q4_K_M), every part of a
 *     split file (NAME-00001-of-0000N.gguf ...);
 *   transformers repository: config.json, generation_config.json, tokenizer.json,
 *     tokenizer_config.json, the safetensors files and their index;
 *   Meta's checkpoint (meta = 1, or a repository that has only it): original/ (params.json,
 *     consolidated.*.pth, tokenizer.model).
 * The file list comes from GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true, files
 * from GET {endpoint}/{repo}/resolve/{commit}/{file}. Offline, or when the network fails, the
 * same choice is made among the files of the cached snapshot. */
#include "hub/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util.h"

typedef struct sibling {
    char *name;       /* path in the repository */
    uint64_t size;
    char *sha256;     /* LFS files */
    char *blob_id;    /* git blob id (others) */
} sibling;

typedef struct repo_files {
    sibling *f;
    int n;
} repo_files;

static void files_free(repo_files *r) {
    for (int i = 0; i < r->n; i++) {
        free(r->f[i].name);
        free(r->f[i].sha256);
        free(r->f[i].blob_id);
    }
    free(r->f);
    r->f = NULL;
    r->n = 0;
}

static const sibling *find(const repo_files *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->f[i].name, name)) return &r->f[i];
    return NULL;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

/* ---- the spec ------------------------------------------------------------------------------ */

typedef struct spec {
    char repo[256];
    char quant[64];   /* "" = not given */
    char file[1024];  /* "" = not given */
} spec;

static int parse_spec(const char *s, spec *sp, llama3_error *err) {
    memset(sp, 0, sizeof *sp);
    if (!strncmp(s, "hf:", 3)) s += 3;
    const char *slash = strchr(s, '/');
    const char *end = slash ? slash + 1 + strcspn(slash + 1, "/:") : s + strlen(s);
    if ((size_t)(end - s) >= sizeof sp->repo)
        return l3_fail(err, LLAMA3_ERR_ARG, "'%s': repository name too long", s);
    memcpy(sp->repo, s, (size_t)(end - s));
    int rc = hub_check_repo(sp->repo, err);
    if (rc) return rc;
    if (*end == ':') {
        if (!end[1] || strlen(end + 1) >= sizeof sp->quant || strchr(end + 1, '/'))
            return l3_fail(err, LLAMA3_ERR_ARG, "'%s': expected OWNER/NAME:QUANT (e.g. Q4_K_M)", s);
        snprintf(sp->quant, sizeof sp->quant, "%s", end + 1);
    } else if (*end == '/') {
        const char *f = end + 1;
        if (!*f || strlen(f) >= sizeof sp->file || strstr(f, "..") || f[0] == '/' || strstr(f, "//"))
            return l3_fail(err, LLAMA3_ERR_ARG, "'%s': expected OWNER/NAME/FILE", s);
        snprintf(sp->file, sizeof sp->file, "%s", f);
    }
    return 0;
}

/* ---- choosing the files -------------------------------------------------------------------- */

/* The quantization named in a GGUF file name: after the last '-' or '.' of its base name, a
 * split suffix -00001-of-00003 removed. *split_k/n: the part (0 when not split). */
static void gguf_quant(const char *path, char *quant, size_t cap, int *split_k, int *split_n, size_t *stem_len) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base) - 5;  /* ".gguf" */
    int k = 0, tot = 0, used = 0;
    *split_k = *split_n = 0;
    if (n > 15 && sscanf(base + n - 15, "-%5d-of-%5d%n", &k, &tot, &used) == 2 && used == 15) {
        *split_k = k;
        *split_n = tot;
        n -= 15;
    }
    *stem_len = (size_t)(base - path) + n;
    size_t b = n;
    while (b > 0 && base[b - 1] != '-' && base[b - 1] != '.') b--;
    snprintf(quant, cap, "%.*s", (int)(n - b), base + b);
}

typedef struct choice {
    const sibling **f;
    int n;
    char *model_rel;  /* what to load, relative to the snapshot ("" = the snapshot itself) */
} choice;

static int choose_add(choice *c, const sibling *s) {
    const sibling **nf = realloc(c->f, (size_t)(c->n + 1) * sizeof *nf);
    if (!nf) return LLAMA3_ERR_MEMORY;
    c->f = nf;
    c->f[c->n++] = s;
    return 0;
}

/* The distinct quantizations among the GGUF files, for a message. */
static void list_quants(const repo_files *r, char *out, size_t cap) {
    out[0] = 0;
    for (int i = 0; i < r->n; i++) {
        if (!ends_with(r->f[i].name, ".gguf")) continue;
        char q[64], padded[70];
        int k, n;
        size_t stem;
        gguf_quant(r->f[i].name, q, sizeof q, &k, &n, &stem);
        if (!q[0] || k > 1) continue;
        snprintf(padded, sizeof padded, " %s,", q);
        char hay[1100];
        snprintf(hay, sizeof hay, " %s,", out);
        if (strstr(hay, padded)) continue;
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s", len ? ", " : "", q);
    }
}

static int choose_gguf(const repo_files *r, const spec *sp, const char *repo, choice *c, llama3_error *err) {
    const char *want = sp->quant[0] ? sp->quant : "Q4_K_M";
    const sibling *first = NULL;
    int n_quants = 0;
    for (int i = 0; i < r->n && !first; i++) {
        if (!ends_with(r->f[i].name, ".gguf")) continue;
        char q[64];
        int k, n;
        size_t stem;
        gguf_quant(r->f[i].name, q, sizeof q, &k, &n, &stem);
        if (!strcasecmp(q, want) && k <= 1) first = &r->f[i];
    }
    char quants[1024];
    list_quants(r, quants, sizeof quants);
    for (const char *p = quants; *p; p++) n_quants += *p == ',';
    if (!first && !sp->quant[0] && quants[0] && n_quants == 0) {
        /* no quantization asked for, and the repository has one: that one */
        for (int i = 0; i < r->n && !first; i++) {
            char q[64];
            int k, n;
            size_t stem;
            if (!ends_with(r->f[i].name, ".gguf")) continue;
            gguf_quant(r->f[i].name, q, sizeof q, &k, &n, &stem);
            if (k <= 1) first = &r->f[i];
        }
    }
    if (!first)
        return l3_fail(err, LLAMA3_ERR_IO, "%s has no GGUF file for %s%s; it has: %s (pull %s:QUANT)", repo, want,
                       sp->quant[0] ? "" : " (the default)", quants, repo);
    return choose_add(c, first) ? LLAMA3_ERR_MEMORY : 0;
}

/* first is a GGUF file: add the other parts when it is part 1 of a split file. */
static int add_split_parts(const repo_files *r, const char *repo, choice *c, llama3_error *err) {
    const sibling *first = c->f[c->n - 1];
    char q[64];
    int k, n;
    size_t stem;
    gguf_quant(first->name, q, sizeof q, &k, &n, &stem);
    for (int part = 2; k == 1 && part <= n; part++) {
        char name[1200];
        snprintf(name, sizeof name, "%.*s-%05d-of-%05d.gguf", (int)stem, first->name, part, n);
        const sibling *s = find(r, name);
        if (!s) return l3_fail(err, LLAMA3_ERR_IO, "%s: part %d of the split file %s is missing (%s)", repo, part, first->name, name);
        if (choose_add(c, s)) return LLAMA3_ERR_MEMORY;
    }
    return 0;
}

static int choose_meta(const repo_files *r, const char *dir, const char *repo, choice *c, llama3_error *err) {
    char params[64];
    snprintf(params, sizeof params, "%s%sparams.json", dir, *dir ? "/" : "");
    if (!find(r, params))
        return l3_fail(err, LLAMA3_ERR_IO, "%s has no Meta checkpoint (no %s)", repo, params);
    size_t dl = strlen(dir);
    for (int i = 0; i < r->n; i++) {
        const char *name = r->f[i].name;
        if (dl && (strncmp(name, dir, dl) || name[dl] != '/')) continue;
        const char *base = name + (dl ? dl + 1 : 0);
        if (strchr(base, '/')) continue;
        if (!strcmp(base, "params.json") || !strcmp(base, "tokenizer.model") ||
            (!strncmp(base, "consolidated.", 13) && ends_with(base, ".pth")))
            if (choose_add(c, &r->f[i])) return LLAMA3_ERR_MEMORY;
    }
    c->model_rel = strdup(dir);
    return c->model_rel ? 0 : LLAMA3_ERR_MEMORY;
}

static int choose_transformers(const repo_files *r, const char *repo, choice *c, llama3_error *err) {
    static const char *const wanted[] = { "config.json", "generation_config.json", "tokenizer.json",
                                          "tokenizer_config.json", "model.safetensors.index.json" };
    int n_weights = 0;
    for (int i = 0; i < r->n; i++) {
        const char *name = r->f[i].name;
        bool take = !strchr(name, '/') && ends_with(name, ".safetensors");
        n_weights += take;
        for (size_t k = 0; k < sizeof wanted / sizeof wanted[0]; k++) take = take || !strcmp(name, wanted[k]);
        if (take && choose_add(c, &r->f[i])) return LLAMA3_ERR_MEMORY;
    }
    if (!n_weights)
        return l3_fail(err, LLAMA3_ERR_IO, "%s has config.json but no .safetensors weights%s", repo,
                       find(r, "original/params.json") ? " (its Meta checkpoint: pull with --meta)" : "");
    c->model_rel = strdup("");
    return c->model_rel ? 0 : LLAMA3_ERR_MEMORY;
}

static int choose(const repo_files *r, const spec *sp, bool meta, const char *repo, choice *c, llama3_error *err) {
    memset(c, 0, sizeof *c);
    int rc;
    if (sp->file[0]) {
        const sibling *s = find(r, sp->file);
        if (!s) return l3_fail(err, LLAMA3_ERR_IO, "%s has no file %s", repo, sp->file);
        if ((rc = choose_add(c, s))) return rc;
        if (ends_with(s->name, ".gguf") && (rc = add_split_parts(r, repo, c, err))) return rc;
        c->model_rel = strdup(sp->file);
        return c->model_rel ? 0 : LLAMA3_ERR_MEMORY;
    }
    bool has_gguf = false;
    for (int i = 0; i < r->n; i++) has_gguf = has_gguf || ends_with(r->f[i].name, ".gguf");
    if (meta) {
        if (sp->quant[0]) return l3_fail(err, LLAMA3_ERR_ARG, "--meta takes a repository without :QUANT");
        return choose_meta(r, find(r, "params.json") && !find(r, "original/params.json") ? "" : "original", repo, c, err);
    }
    if (has_gguf) {
        if ((rc = choose_gguf(r, sp, repo, c, err)) || (rc = add_split_parts(r, repo, c, err))) return rc;
        c->model_rel = strdup(c->f[0]->name);
        return c->model_rel ? 0 : LLAMA3_ERR_MEMORY;
    }
    if (sp->quant[0])
        return l3_fail(err, LLAMA3_ERR_IO, "%s has no GGUF files, so no :%s; pull %s for its safetensors", repo, sp->quant,
                       repo);
    if (find(r, "config.json")) return choose_transformers(r, repo, c, err);
    if (find(r, "params.json")) return choose_meta(r, "", repo, c, err);
    return l3_fail(err, LLAMA3_ERR_IO, "%s holds no model llama3c reads (no .gguf, config.json or params.json)", repo);
}

/* ---- the file list: from the API, or from a cached snapshot ----------------------------------- */

static char *json_str_dup(json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? strdup(s) : NULL;
}

static int parse_api(const char *body, const char *repo, char commit[41], repo_files *r, llama3_error *err) {
    json_error_t je;
    json_t *root = json_loads(body, 0, &je);
    json_t *sib = root ? json_object_get(root, "siblings") : NULL;
    const char *sha = root ? json_string_value(json_object_get(root, "sha")) : NULL;
    int rc = 0;
    if (!root || !json_is_array(sib) || !sha || strlen(sha) != 40) {
        rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: the Hub's answer is not a model description (%s)", repo,
                     root ? "no sha or siblings" : je.text);
        json_decref(root);
        return rc;
    }
    memcpy(commit, sha, 41);
    r->f = calloc(json_array_size(sib) + 1, sizeof *r->f);
    if (!r->f) rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    size_t i;
    json_t *s;
    json_array_foreach(sib, i, s) {
        if (rc) break;
        json_t *lfs = json_object_get(s, "lfs");
        sibling *f = &r->f[r->n];
        f->name = json_str_dup(s, "rfilename");
        f->blob_id = json_str_dup(s, "blobId");
        json_t *size = json_object_get(lfs ? lfs : s, "size");
        if (lfs) f->sha256 = json_str_dup(lfs, "sha256");
        if (!f->name) { free(f->blob_id); free(f->sha256); continue; }
        r->n++;
        if (!json_is_integer(size) || json_integer_value(size) < 0 || (!f->sha256 && !f->blob_id) || strstr(f->name, "..") ||
            f->name[0] == '/')
            rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: the Hub's answer lacks the size or hash of %s (or names it oddly)",
                         repo, f->name);
        else f->size = (uint64_t)json_integer_value(size);
    }
    json_decref(root);
    if (rc) files_free(r);
    return rc;
}

static int snapshot_as_files(const char *repo_dir, const char *commit, repo_files *r) {
    char **names;
    int n;
    if (hub_snapshot_files(repo_dir, commit, &names, &n)) return LLAMA3_ERR_MEMORY;
    r->f = calloc((size_t)n + 1, sizeof *r->f);
    if (!r->f) {
        hub_free_strings(names, n);
        return LLAMA3_ERR_MEMORY;
    }
    for (int i = 0; i < n; i++) {
        char p[8192];
        struct stat st;
        snprintf(p, sizeof p, "%s/snapshots/%s/%s", repo_dir, commit, names[i]);
        r->f[i].name = names[i];
        r->f[i].size = stat(p, &st) ? 0 : (uint64_t)st.st_size;
    }
    free(names);
    r->n = n;
    return 0;
}

/* ---- the pull ---------------------------------------------------------------------------------- */

static const char *blob_of(const sibling *s) { return s->sha256 ? s->sha256 : s->blob_id; }

static bool blob_ok(const char *repo_dir, const sibling *s) {
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/blobs/%s", repo_dir, blob_of(s));
    return !stat(p, &st) && S_ISREG(st.st_mode) && (uint64_t)st.st_size == s->size;
}

static uint64_t partial_size(const char *repo_dir, const sibling *s) {
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/blobs/%s.incomplete", repo_dir, blob_of(s));
    return stat(p, &st) || (uint64_t)st.st_size > s->size ? 0 : (uint64_t)st.st_size;
}

static bool safe_blob_name(const char *b) {
    if (!b || !*b || strlen(b) > 128) return false;
    for (; *b; b++)
        if (!((*b >= '0' && *b <= '9') || (*b >= 'a' && *b <= 'f') || (*b >= 'A' && *b <= 'F'))) return false;
    return true;
}

static int http_error(long status, const char *repo, const char *rev, const char *what, const hub_env *e,
                      llama3_error *err) {
    if (status == 401)
        return l3_fail(err, LLAMA3_ERR_IO, "%s: HTTP 401 (unauthorized): the repository is gated or private%s: accept its "
                       "license at %s/%s, then set HF_TOKEN to a token of that account (or run huggingface-cli login)",
                       repo, e->token ? " and the token was refused" : ", or does not exist", e->endpoint, repo);
    if (status == 403)
        return l3_fail(err, LLAMA3_ERR_IO, "%s: HTTP 403 (forbidden): the repository is gated and this token has no "
                       "access yet: accept its license at %s/%s with the token's account, or wait for the approval",
                       repo, e->endpoint, repo);
    if (status == 404)
        return l3_fail(err, LLAMA3_ERR_IO, "%s: HTTP 404: %s not found on %s (check the name%s)", repo, what,
                       e->endpoint, strcmp(rev, "main") ? " and the revision" : "");
    return l3_fail(err, LLAMA3_ERR_IO, "%s: HTTP %ld fetching %s from %s", repo, status, what, e->endpoint);
}

static int check_space(const char *dir, uint64_t need, llama3_error *err) {
    struct statvfs v;
    if (statvfs(dir, &v)) return 0;
    uint64_t avail = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
    if (need > avail)
        return l3_fail(err, LLAMA3_ERR_IO, "not enough disk space in %s: the download needs %.2f GB, %.2f GB are free "
                       "(set HF_HUB_CACHE to a larger disk)", dir, need / 1e9, avail / 1e9);
    return 0;
}

/* Fetches one file's blob (under its lock) unless it is there. */
static int fetch_blob(const hub_env *e, const char *repo, const char *repo_dir, const char *commit, const sibling *s,
                      const llama3_hub_options *o, uint64_t base, uint64_t total, llama3_error *err) {
    char lockdir[4096], lock[4300], partial[4300], blob[4300];
    const char *bn = blob_of(s);
    snprintf(lockdir, sizeof lockdir, "%s/.locks/%s", e->cache, strrchr(repo_dir, '/') + 1);
    int rc = hub_mkdirs(lockdir, err);
    if (rc) return rc;
    snprintf(lock, sizeof lock, "%s/%s.lock", lockdir, bn);
    snprintf(partial, sizeof partial, "%s/blobs/%s.incomplete", repo_dir, bn);
    snprintf(blob, sizeof blob, "%s/blobs/%s", repo_dir, bn);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    if (fd < 0) return l3_fail(err, LLAMA3_ERR_IO, "%s: cannot create: %s", lock, strerror(errno));
    flock(fd, LOCK_EX);  /* another process fetching it: wait, then find it there */
    if (!blob_ok(repo_dir, s)) {
        char *f = hub_url_escape(s->name, true), *r = hub_url_escape(commit, false);
        size_t n = strlen(e->endpoint) + strlen(repo) + (f ? strlen(f) : 0) + 64;
        char *url = f && r ? malloc(n) : NULL;
        if (!url) rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
        else {
            snprintf(url, n, "%s/%s/resolve/%s/%s", e->endpoint, repo, r, f);
            hub_download d = { .url = url, .partial = partial, .file = s->name, .size = s->size, .sha256 = s->sha256,
                               .git_sha1 = s->sha256 ? NULL : s->blob_id, .progress = o->progress,
                               .progress_data = o->progress_data, .progress_base = base, .progress_total = total };
            long status = 0;
            rc = hub_http_download(e, &d, &status, err);
            if (rc && status) {
                char what[1200];
                snprintf(what, sizeof what, "file %s", s->name);
                rc = http_error(status, repo, commit, what, e, err);
            }
            if (!rc && rename(partial, blob)) rc = l3_fail(err, LLAMA3_ERR_IO, "%s: %s", blob, strerror(errno));
        }
        free(url);
        free(f);
        free(r);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return rc;
}

static int finish(const char *repo_dir, const char *commit, const char *rel, llama3_hub_result *res, llama3_error *err) {
    size_t n = strlen(repo_dir) + strlen(commit) + strlen(rel) + 16;
    if (!(res->path = malloc(n))) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    snprintf(res->path, n, "%s/snapshots/%s%s%s", repo_dir, commit, *rel ? "/" : "", rel);
    memcpy(res->commit, commit, 41);
    return 0;
}

/* The cached snapshot of rev, when the Hub cannot be asked. */
static int from_cache(const hub_env *e, const spec *sp, const char *rev, bool meta, const char *repo_dir,
                      const char *why, llama3_hub_result *res, llama3_error *err) {
    char commit[41];
    if (hub_read_ref(repo_dir, rev, commit))
        return l3_fail(err, LLAMA3_ERR_IO, "%s; %s (revision %s) is not in the cache (%s): pull it once with the "
                       "network", why, sp->repo, rev, e->cache);
    repo_files r = { 0 };
    choice c = { 0 };
    int rc = snapshot_as_files(repo_dir, commit, &r);
    if (rc) return l3_fail(err, rc, "out of memory");
    llama3_error cerr = { 0 };
    if (choose(&r, sp, meta, sp->repo, &c, &cerr))
        rc = l3_fail(err, cerr.code ? cerr.code : LLAMA3_ERR_IO, "%s; in the cache: %s", why, cerr.msg);
    else rc = finish(repo_dir, commit, c.model_rel, res, err);
    if (!rc) {
        res->n_files = c.n;
        for (int i = 0; i < c.n; i++) res->bytes += c.f[i]->size;
        res->from_cache_only = 1;
        snprintf(res->note, sizeof res->note, "%s: using the cached snapshot %.12s", why, commit);
    }
    free(c.f);
    free(c.model_rel);
    files_free(&r);
    return rc;
}

int llama3_hub_pull(const char *spec_s, const llama3_hub_options *opt, llama3_hub_result *res, llama3_error *err) {
    static const llama3_hub_options defaults = { 0 };
    const llama3_hub_options *o = opt ? opt : &defaults;
    const char *rev = o->revision && *o->revision ? o->revision : "main";
    memset(res, 0, sizeof *res);
    spec sp;
    int rc = parse_spec(spec_s, &sp, err);
    if (rc) return rc;
    if (strstr(rev, "..") || rev[0] == '/' || strlen(rev) > 200)
        return l3_fail(err, LLAMA3_ERR_ARG, "'%s' is not a revision name", rev);
    hub_env e;
    if ((rc = hub_env_load(&e, err))) return rc;
    char *repo_dir = hub_repo_dir(&e, sp.repo);
    char *body = NULL;
    repo_files r = { 0 };
    choice c = { 0 };
    if (!repo_dir) { rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory"); goto done; }
    if (e.offline) {
        rc = from_cache(&e, &sp, rev, o->meta, repo_dir, "offline (HF_HUB_OFFLINE is set)", res, err);
        goto done;
    }

    /* the file list */
    char *erepo = hub_url_escape(sp.repo, true), *erev = hub_url_escape(rev, false);
    size_t n = strlen(e.endpoint) + strlen(sp.repo) + strlen(rev) * 3 + 64;
    char *url = erepo && erev ? malloc(n) : NULL;
    long status = 0;
    if (url) {
        snprintf(url, n, "%s/api/models/%s/revision/%s?blobs=true", e.endpoint, erepo, erev);
        rc = hub_http_get(&e, url, &body, &status, err);
    } else rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    free(url);
    free(erepo);
    free(erev);
    if (rc == HUB_NET) {
        char why[600];
        snprintf(why, sizeof why, "%s", err ? err->msg : "network down");
        rc = from_cache(&e, &sp, rev, o->meta, repo_dir, why, res, err);
        goto done;
    }
    if (rc) goto done;
    if (status != 200) {
        char what[300];
        snprintf(what, sizeof what, "repository %s (revision %s)", sp.repo, rev);
        rc = http_error(status, sp.repo, rev, what, &e, err);
        goto done;
    }
    char commit[41];
    if ((rc = parse_api(body, sp.repo, commit, &r, err)) || (rc = choose(&r, &sp, o->meta, sp.repo, &c, err))) goto done;
    for (int i = 0; i < c.n; i++)
        if (!safe_blob_name(blob_of(c.f[i]))) {
            rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: the Hub's answer gives %s an odd hash", sp.repo, c.f[i]->name);
            goto done;
        }

    /* what is missing, and room for it */
    char blobs[4200];
    snprintf(blobs, sizeof blobs, "%s/blobs", repo_dir);
    if ((rc = hub_mkdirs(blobs, err))) goto done;
    uint64_t need = 0;
    for (int i = 0; i < c.n; i++)
        if (!blob_ok(repo_dir, c.f[i])) need += c.f[i]->size - partial_size(repo_dir, c.f[i]);
    if ((rc = check_space(blobs, need, err))) goto done;

    /* the blobs, then the snapshot's links, then the ref: a snapshot only ever links whole,
     * verified files */
    uint64_t base = 0;
    for (int i = 0; i < c.n && !rc; i++) {
        const sibling *s = c.f[i];
        if (blob_ok(repo_dir, s)) continue;
        uint64_t part = partial_size(repo_dir, s);
        rc = fetch_blob(&e, sp.repo, repo_dir, commit, s, o, base - part, need, err);
        base += s->size - part;
    }
    res->downloaded = base;
    for (int i = 0; i < c.n && !rc; i++) rc = hub_link_snapshot(repo_dir, commit, c.f[i]->name, blob_of(c.f[i]), err);
    if (!rc) rc = hub_write_ref(repo_dir, rev, commit, err);
    if (!rc) rc = finish(repo_dir, commit, c.model_rel, res, err);
    if (!rc) {
        res->n_files = c.n;
        for (int i = 0; i < c.n; i++) res->bytes += c.f[i]->size;
    }
done:
    if (rc) {
        free(res->path);
        res->path = NULL;
    }
    free(c.f);
    free(c.model_rel);
    files_free(&r);
    free(body);
    free(repo_dir);
    hub_env_free(&e);
    return rc;
}

void llama3_hub_result_free(llama3_hub_result *r) {
    free(r->path);
    r->path = NULL;
}

int llama3_hub_available(llama3_error *err) {
    (void)err;
    return 1;
}
