/* The Hugging Face client's rooms: the environment and cache layout (cache.c), HTTP (http.c),
 * file choice and the pull itself (pull.c). The cache is huggingface_hub's, so both tools find
 * each other's downloads:
 *   CACHE/models--OWNER--NAME/blobs/<sha256 of an LFS file, or the git blob id of another>
 *   CACHE/models--OWNER--NAME/snapshots/<commit>/<file>  -> ../../blobs/<blob> (relative link)
 *   CACHE/models--OWNER--NAME/refs/<revision>             the commit, no newline
 *   CACHE/.locks/models--OWNER--NAME/<blob>.lock          held while the blob is fetched
 * A download goes to blobs/<blob>.incomplete (resumed with a Range request) and is renamed to
 * its blob only after its hash matched, so no half-written file ever has a blob's name. */
#ifndef LLAMA3_HUB_H
#define LLAMA3_HUB_H

#include <stdbool.h>
#include <stdint.h>

#include "llama3_tools.h"

/* What the environment says (huggingface_hub's variables). */
typedef struct hub_env {
    char *endpoint;   /* HF_ENDPOINT, else https://huggingface.co; no trailing '/' */
    char *token;      /* HF_TOKEN, else the token file (HF_TOKEN_PATH, else HF_HOME/token); may be NULL */
    char *cache;      /* HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub */
    bool offline;     /* HF_HUB_OFFLINE=1 (or true, yes, on) */
} hub_env;

int hub_env_load(hub_env *e, llama3_error *err);
void hub_env_free(hub_env *e);

/* "OWNER/NAME" -> CACHE/models--OWNER--NAME (malloc'd). */
char *hub_repo_dir(const hub_env *e, const char *repo);
/* Checks that repo is OWNER/NAME with the characters the Hub allows. */
int hub_check_repo(const char *repo, llama3_error *err);
/* mkdir -p. */
int hub_mkdirs(const char *path, llama3_error *err);
/* refs/<rev> -> commit (at most 40 hex digits + NUL). 0 when found. A revision that is itself
 * a 40-digit commit is its own ref. */
int hub_read_ref(const char *repo_dir, const char *rev, char commit[41]);
int hub_write_ref(const char *repo_dir, const char *rev, const char *commit, llama3_error *err);
/* snapshots/<commit>/<file> -> ../../blobs/<blob>, replacing what was there. */
int hub_link_snapshot(const char *repo_dir, const char *commit, const char *file, const char *blob,
                      llama3_error *err);
/* Every file (path relative to the snapshot, '/'-separated) under snapshots/<commit>, as a
 * malloc'd array of malloc'd strings. Broken links are left out. */
int hub_snapshot_files(const char *repo_dir, const char *commit, char ***files, int *n);
void hub_free_strings(char **s, int n);

/* ---- HTTP ---------------------------------------------------------------------------------- */

/* GET url into a malloc'd NUL-terminated body. Returns 0 with *status the HTTP status, or
 * HUB_NET when no answer came (err says why), or another negative status. */
enum { HUB_NET = -100 };
int hub_http_get(const hub_env *e, const char *url, char **body, long *status, llama3_error *err);

typedef struct hub_download {
    const char *url;
    const char *partial;         /* blobs/<blob>.incomplete: appended to, resumed from */
    const char *file;            /* the repository's file name, for messages and progress */
    uint64_t size;               /* expected size */
    const char *sha256;          /* LFS files: expected hex digest, else NULL */
    const char *git_sha1;        /* other files: expected git blob id, else NULL */
    llama3_progress_fn progress; /* called with (file, base + bytes so far, total) */
    void *progress_data;
    uint64_t progress_base, progress_total;
} hub_download;

/* Fetches d->url into d->partial, resuming after what it holds, retrying a cut connection
 * with a Range request (a few times while it makes progress), and checks the size and the
 * hash. On a hash mismatch the partial file is deleted. HTTP errors: *status is set and the
 * message says what failed; HUB_NET when the network failed. */
int hub_http_download(const hub_env *e, const hub_download *d, long *status, llama3_error *err);

/* Percent-encodes s for a URL path; '/' kept when keep_slash. malloc'd. */
char *hub_url_escape(const char *s, bool keep_slash);

#endif
