/* The environment (huggingface_hub's variables) and the cache layout shared with it. */
#include "hub/hub.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static char *dup_env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? strdup(v) : NULL;
}

/* HF_HOME, else ~/.cache/huggingface (XDG_CACHE_HOME honoured, as huggingface_hub does). */
static char *hf_home(void) {
    char *h = dup_env("HF_HOME");
    if (h) return h;
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg) return l3_path_join(xdg, "huggingface");
    const char *home = getenv("HOME");
    char *cache = l3_path_join(home && *home ? home : ".", ".cache");
    char *r = cache ? l3_path_join(cache, "huggingface") : NULL;
    free(cache);
    return r;
}

/* The token file's first line, without surrounding whitespace. */
static char *read_token(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char buf[512];
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    if (!line) return NULL;
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t')) buf[--n] = 0;
    char *s = buf;
    while (*s == ' ' || *s == '\t') s++;
    return *s ? strdup(s) : NULL;
}

static bool truthy(const char *v) {
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"));
}

int hub_env_load(hub_env *e, llama3_error *err) {
    memset(e, 0, sizeof *e);
    char *home = hf_home();
    e->endpoint = dup_env("HF_ENDPOINT");
    if (!e->endpoint) e->endpoint = strdup("https://huggingface.co");
    e->cache = dup_env("HF_HUB_CACHE");
    if (!e->cache && home) e->cache = l3_path_join(home, "hub");
    e->token = dup_env("HF_TOKEN");
    if (!e->token) {
        char *path = dup_env("HF_TOKEN_PATH");
        if (!path && home) path = l3_path_join(home, "token");
        if (path) e->token = read_token(path);
        free(path);
    }
    e->offline = truthy(getenv("HF_HUB_OFFLINE"));
    free(home);
    if (!e->endpoint || !e->cache) {
        hub_env_free(e);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    }
    size_t n = strlen(e->endpoint);
    while (n > 0 && e->endpoint[n - 1] == '/') e->endpoint[--n] = 0;
    return 0;
}

void hub_env_free(hub_env *e) {
    free(e->endpoint);
    free(e->token);
    free(e->cache);
    memset(e, 0, sizeof *e);
}

int hub_check_repo(const char *repo, llama3_error *err) {
    const char *slash = strchr(repo, '/');
    bool ok = slash && slash != repo && slash[1] && !strchr(slash + 1, '/') && strlen(repo) < 200;
    for (const char *p = repo; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
             *p == '_' || *p == '.' || *p == '/';
    if (ok) ok = !strstr(repo, "--") && !strstr(repo, "..") && repo[0] != '.' && slash[1] != '.';
    if (!ok) return l3_fail(err, LLAMA3_ERR_ARG, "'%s' is not a Hugging Face repository name (OWNER/NAME)", repo);
    return 0;
}

char *hub_repo_dir(const hub_env *e, const char *repo) {
    size_t n = strlen(e->cache) + strlen(repo) + 16;
    char *s = malloc(n);
    if (!s) return NULL;
    int k = snprintf(s, n, "%s/models--", e->cache);
    for (const char *p = repo; *p; p++) {
        if (*p == '/') { s[k++] = '-'; s[k++] = '-'; }
        else s[k++] = *p;
    }
    s[k] = 0;
    return s;
}

int hub_mkdirs(const char *path, llama3_error *err) {
    char *p = strdup(path);
    if (!p) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0755) && errno != EEXIST) {
                int rc = l3_fail(err, LLAMA3_ERR_IO, "%s: cannot create the folder: %s", p, strerror(errno));
                free(p);
                return rc;
            }
            if (!c) break;
            *s = c;
        }
    }
    free(p);
    return 0;
}

static bool is_commit(const char *s) {
    if (strlen(s) != 40) return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return false;
    return true;
}

int hub_read_ref(const char *repo_dir, const char *rev, char commit[41]) {
    if (is_commit(rev)) {
        memcpy(commit, rev, 41);
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/refs/%s", repo_dir, rev);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char buf[64] = { 0 };
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
    if (!is_commit(buf)) return -1;
    memcpy(commit, buf, 41);
    return 0;
}

/* Writes data to path through path.tmp and a rename, so readers see the old or the new. */
static int write_atomic(const char *path, const char *data, llama3_error *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return l3_fail(err, LLAMA3_ERR_IO, "%s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return l3_fail(err, LLAMA3_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    bool ok = fputs(data, f) >= 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return l3_fail(err, LLAMA3_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    return 0;
}

int hub_write_ref(const char *repo_dir, const char *rev, const char *commit, llama3_error *err) {
    if (is_commit(rev)) return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/refs/%s", repo_dir, rev);
    char *slash = strrchr(path, '/');
    *slash = 0;
    int rc = hub_mkdirs(path, err);
    *slash = '/';
    return rc ? rc : write_atomic(path, commit, err);
}

int hub_link_snapshot(const char *repo_dir, const char *commit, const char *file, const char *blob,
                      llama3_error *err) {
    char path[4096], target[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/snapshots/%s/%s", repo_dir, commit, file);
    char *slash = strrchr(path, '/');
    *slash = 0;
    int rc = hub_mkdirs(path, err);
    *slash = '/';
    if (rc) return rc;
    /* one "../" per folder between the link and the repository folder */
    size_t k = 0;
    target[0] = 0;
    for (const char *p = file; *p; p++)
        if (*p == '/') k += (size_t)snprintf(target + k, sizeof target - k, "../");
    snprintf(target + k, sizeof target - k, "../../blobs/%s", blob);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp);
    if (symlink(target, tmp) || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return l3_fail(err, LLAMA3_ERR_IO, "%s: cannot create the link: %s", path, strerror(e));
    }
    return 0;
}

typedef struct strlist { char **s; int n, cap; } strlist;

static int push(strlist *l, const char *s) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        char **ns = realloc(l->s, (size_t)cap * sizeof *ns);
        if (!ns) return -1;
        l->s = ns;
        l->cap = cap;
    }
    if (!(l->s[l->n] = strdup(s))) return -1;
    l->n++;
    return 0;
}

static int walk(const char *root, const char *rel, strlist *out, int depth) {
    char dirp[4096];
    snprintf(dirp, sizeof dirp, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(dirp);
    if (!d) return 0;
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2]))) continue;
        char r[4096], full[8192];
        snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        snprintf(full, sizeof full, "%s/%s", root, r);
        struct stat st;
        if (stat(full, &st)) continue;  /* a broken link: not a usable file */
        if (S_ISDIR(st.st_mode)) {
            if (depth < 8) rc = walk(root, r, out, depth + 1);
        } else if (S_ISREG(st.st_mode) && !strstr(de->d_name, ".tmp.")) {
            rc = push(out, r);
        }
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int hub_snapshot_files(const char *repo_dir, const char *commit, char ***files, int *n) {
    char root[4096];
    snprintf(root, sizeof root, "%s/snapshots/%s", repo_dir, commit);
    strlist l = { 0 };
    int rc = walk(root, "", &l, 0);
    if (rc) {
        hub_free_strings(l.s, l.n);
        return LLAMA3_ERR_MEMORY;
    }
    if (l.n) qsort(l.s, (size_t)l.n, sizeof *l.s, cmp_str);
    *files = l.s;
    *n = l.n;
    return 0;
}

void hub_free_strings(char **s, int n) {
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

/* ---- list and remove ------------------------------------------------------------------------ */

int llama3_hub_cache_dir(char **dir, llama3_error *err) {
    hub_env e;
    int rc = hub_env_load(&e, err);
    if (rc) return rc;
    *dir = e.cache;
    e.cache = NULL;
    hub_env_free(&e);
    return 0;
}

typedef struct cached_list { llama3_hub_cached *v; int n, cap; } cached_list;

static int add_snapshot(cached_list *l, const char *repo, const char *repo_dir, const char *commit, const char *rev) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 8;
        llama3_hub_cached *nv = realloc(l->v, (size_t)cap * sizeof *nv);
        if (!nv) return LLAMA3_ERR_MEMORY;
        l->v = nv;
        l->cap = cap;
    }
    llama3_hub_cached *c = &l->v[l->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->repo, sizeof c->repo, "%s", repo);
    snprintf(c->revision, sizeof c->revision, "%s", rev);
    if (snprintf(c->commit, sizeof c->commit, "%s", commit) >= (int)sizeof c->commit) c->commit[0] = 0;
    char **files;
    int n;
    if (hub_snapshot_files(repo_dir, commit, &files, &n)) return LLAMA3_ERR_MEMORY;
    for (int i = 0; i < n; i++) {
        char p[8192];
        struct stat st;
        snprintf(p, sizeof p, "%s/snapshots/%s/%s", repo_dir, commit, files[i]);
        if (!stat(p, &st)) c->bytes += (uint64_t)st.st_size;
        size_t k = strlen(c->files);
        if (k + strlen(files[i]) + 3 < sizeof c->files) snprintf(c->files + k, sizeof c->files - k, "%s%s", k ? ", " : "", files[i]);
        else if (k + 5 < sizeof c->files && !strstr(c->files, "...")) strcat(c->files, ", ...");
    }
    c->n_files = n;
    hub_free_strings(files, n);
    return 0;
}

/* One entry per snapshot: its revision names from refs/ (or "" when none points at it). */
static int list_repo(cached_list *l, const char *cache, const char *dname) {
    char repo[256], repo_dir[4096];
    const char *p = dname + 8;  /* after "models--" */
    const char *sep = strstr(p, "--");
    if (!sep || strlen(dname) >= sizeof repo) return 0;
    snprintf(repo, sizeof repo, "%.*s/%s", (int)(sep - p), p, sep + 2);
    snprintf(repo_dir, sizeof repo_dir, "%s/%s", cache, dname);
    char snapdir[4200];
    snprintf(snapdir, sizeof snapdir, "%s/snapshots", repo_dir);
    DIR *d = opendir(snapdir);
    if (!d) return 0;
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        /* the revisions whose ref names this commit */
        char revs[128] = "";
        char refdir[4200];
        snprintf(refdir, sizeof refdir, "%s/refs", repo_dir);
        DIR *r = opendir(refdir);
        struct dirent *re;
        while (r && (re = readdir(r))) {
            char c[41];
            if (re->d_name[0] != '.' && !hub_read_ref(repo_dir, re->d_name, c) && !strcmp(c, de->d_name)) {
                size_t k = strlen(revs);
                if (snprintf(revs + k, sizeof revs - k, "%s%s", k ? "," : "", re->d_name) >= (int)(sizeof revs - k))
                    revs[k] = 0;  /* no room for this name */
            }
        }
        if (r) closedir(r);
        rc = add_snapshot(l, repo, repo_dir, de->d_name, revs);
    }
    closedir(d);
    return rc;
}

static int cmp_cached(const void *a, const void *b) {
    const llama3_hub_cached *x = a, *y = b;
    int c = strcmp(x->repo, y->repo);
    return c ? c : strcmp(x->commit, y->commit);
}

int llama3_hub_list(llama3_hub_cached **out, int *n, llama3_error *err) {
    *out = NULL;
    *n = 0;
    hub_env e;
    int rc = hub_env_load(&e, err);
    if (rc) return rc;
    cached_list l = { 0 };
    DIR *d = opendir(e.cache);
    struct dirent *de;
    while (!rc && d && (de = readdir(d)))
        if (!strncmp(de->d_name, "models--", 8)) rc = list_repo(&l, e.cache, de->d_name);
    if (d) closedir(d);
    hub_env_free(&e);
    if (rc) {
        free(l.v);
        return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    }
    if (l.n) qsort(l.v, (size_t)l.n, sizeof *l.v, cmp_cached);
    *out = l.v;
    *n = l.n;
    return 0;
}

static uint64_t g_freed;
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)ftw;
    if (flag == FTW_F) g_freed += (uint64_t)st->st_size;
    return remove(path) ? -1 : 0;
}

int llama3_hub_remove(const char *repo, uint64_t *freed, llama3_error *err) {
    if (!strncmp(repo, "hf:", 3)) repo += 3;
    int rc = hub_check_repo(repo, err);
    if (rc) return rc;
    hub_env e;
    if ((rc = hub_env_load(&e, err))) return rc;
    char *dir = hub_repo_dir(&e, repo);
    struct stat st;
    if (!dir) rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    else if (stat(dir, &st)) rc = l3_fail(err, LLAMA3_ERR_ARG, "%s is not in the cache (%s)", repo, e.cache);
    else {
        /* Blobs are counted once: links are removed, not followed. */
        g_freed = 0;
        if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS))
            rc = l3_fail(err, LLAMA3_ERR_IO, "%s: cannot remove everything: %s", dir, strerror(errno));
        if (freed) *freed = g_freed;
        char lock[4200];
        snprintf(lock, sizeof lock, "%s/.locks/%s", e.cache, strrchr(dir, '/') + 1);
        nftw(lock, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    free(dir);
    hub_env_free(&e);
    return rc;
}
