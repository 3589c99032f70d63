/* HTTP(S) for the Hub: libcurl for the transfers, OpenSSL's libcrypto for the hashes. */
#include "hub/hub.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#ifndef LLAMA3_VERSION
#define LLAMA3_VERSION "0"
#endif

static void global_init(void) {
    static int done;
    if (!done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        done = 1;
    }
}

/* A handle with what every request shares: redirects, the token, timeouts that notice a dead
 * connection (no byte for 60 s) without limiting a long download. */
static CURL *handle(const hub_env *e, const char *url, struct curl_slist **hdrs) {
    global_init();
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "llama3c/" LLAMA3_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    *hdrs = NULL;
    if (e->token) {
        char h[600];
        snprintf(h, sizeof h, "Authorization: Bearer %s", e->token);
        *hdrs = curl_slist_append(*hdrs, h);
        /* curl drops the header when a redirect leaves the host (the Hub's CDN URLs are signed) */
    }
    if (*hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    return c;
}

static int net_error(const hub_env *e, CURLcode cc, const char *errbuf, llama3_error *err) {
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    return l3_fail(err, HUB_NET, "cannot reach %s (network down?): %s", e->endpoint, why);
}

typedef struct membuf { char *p; size_t n, cap; } membuf;

static size_t to_mem(char *data, size_t size, size_t nmemb, void *ud) {
    membuf *b = ud;
    size_t k = size * nmemb;
    /* (no API answer is larger than 64 MiB) */
    return l3_buf_append(&b->p, &b->n, &b->cap, data, k, (size_t)64 << 20) ? k : 0;
}

int hub_http_get(const hub_env *e, const char *url, char **body, long *status, llama3_error *err) {
    struct curl_slist *hdrs;
    CURL *c = handle(e, url, &hdrs);
    if (!c) return l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    membuf b = { 0 };
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_mem);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc != CURLE_OK) {
        rc = net_error(e, cc, errbuf, err);
        free(b.p);
        b.p = NULL;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        if (!b.p) b.p = calloc(1, 1);
        if (!b.p) rc = l3_fail(err, LLAMA3_ERR_MEMORY, "out of memory");
    }
    *body = b.p;
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}

char *hub_url_escape(const char *s, bool keep_slash) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *o = malloc(3 * n + 1), *q = o;
    if (!o) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/')) {
            *q++ = (char)*p;
        } else {
            *q++ = '%';
            *q++ = hex[*p >> 4];
            *q++ = hex[*p & 15];
        }
    }
    *q = 0;
    return o;
}

/* ---- downloads ------------------------------------------------------------------------------ */

typedef struct dl_state {
    const hub_download *d;
    CURL *c;
    FILE *f;
    EVP_MD_CTX *md;
    uint64_t have;         /* bytes in the partial file (hashed) */
    int checked;           /* the status of this response was looked at */
    int write_errno;       /* a failed write's errno */
    membuf errbody;        /* the body of an error response, for its message */
} dl_state;

static int hash_init(dl_state *s) {
    const hub_download *d = s->d;
    if (!d->sha256 && !d->git_sha1) return 0;
    if (!s->md && !(s->md = EVP_MD_CTX_new())) return -1;
    if (!EVP_DigestInit_ex(s->md, d->sha256 ? EVP_sha256() : EVP_sha1(), NULL)) return -1;
    if (!d->sha256) {  /* a git blob id: sha1("blob <size>\0" + content) */
        char head[64];
        int k = snprintf(head, sizeof head, "blob %llu", (unsigned long long)d->size);
        EVP_DigestUpdate(s->md, head, (size_t)k + 1);
    }
    return 0;
}

/* Hashes what the partial file already holds (a resumed download). */
static int hash_existing(dl_state *s) {
    if (!s->md) return 0;
    enum { CHUNK = 1 << 16 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) return -1;
    rewind(s->f);
    uint64_t left = s->have;
    while (left) {
        size_t k = fread(buf, 1, left < CHUNK ? (size_t)left : CHUNK, s->f);
        if (!k) break;
        EVP_DigestUpdate(s->md, buf, k);
        left -= k;
    }
    free(buf);
    return left || fseek(s->f, 0, SEEK_END) ? -1 : 0;
}

static void report(dl_state *s);

static size_t to_file(char *data, size_t size, size_t nmemb, void *ud) {
    dl_state *s = ud;
    size_t k = size * nmemb;
    long code = 0;
    curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 && code != 206) return to_mem(data, size, nmemb, &s->errbody);  /* an error page */
    if (!s->checked) {
        s->checked = 1;
        if (code == 200 && s->have > 0) {  /* the server ignored the Range: start over */
            if (ftruncate(fileno(s->f), 0) || fseek(s->f, 0, SEEK_SET) || hash_init(s)) return 0;
            s->have = 0;
        }
    }
    if (s->have + k > s->d->size) {  /* more than the file holds: refuse */
        s->write_errno = -1;
        return 0;
    }
    errno = 0;
    if (fwrite(data, 1, k, s->f) != k) {
        s->write_errno = errno ? errno : EIO;
        return 0;
    }
    if (s->md) EVP_DigestUpdate(s->md, data, k);
    s->have += k;
    report(s);
    return k;
}

/* After every piece written (the caller's callback decides what to draw), and now and then
 * while nothing arrives (the rate and ETA fall). */
static void report(dl_state *s) {
    const hub_download *d = s->d;
    if (d->progress) d->progress(d->progress_data, d->file, d->progress_base + s->have, d->progress_total);
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    report(ud);
    return 0;
}

static void hex(const unsigned char *h, unsigned n, char *out) {
    for (unsigned i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", h[i]);
}

/* One request from s->have on. Returns the CURLcode; *code the HTTP status. */
static CURLcode fetch_once(const hub_env *e, dl_state *s, long *code, char *errbuf) {
    struct curl_slist *hdrs;
    CURL *c = handle(e, s->d->url, &hdrs);
    if (!c) return CURLE_OUT_OF_MEMORY;
    s->c = c;
    s->checked = 0;
    free(s->errbody.p);
    s->errbody = (membuf){ 0 };
    errbuf[0] = 0;
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_file);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    if (s->have) curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)s->have);
    CURLcode cc = curl_easy_perform(c);
    *code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    s->c = NULL;
    return cc;
}

int hub_http_download(const hub_env *e, const hub_download *d, long *status, llama3_error *err) {
    *status = 0;
    dl_state s = { .d = d };
    s.f = fopen(d->partial, "a+b");
    if (!s.f) return l3_fail(err, LLAMA3_ERR_IO, "%s: cannot create: %s", d->partial, strerror(errno));
    setvbuf(s.f, NULL, _IONBF, 0);  /* a full disk shows at the write that fails */
    struct stat st;
    if (fstat(fileno(s.f), &st)) st.st_size = 0;
    s.have = (uint64_t)st.st_size;
    int rc = 0;
    if (s.have > d->size) {  /* not a prefix of this file */
        if (ftruncate(fileno(s.f), 0)) rc = l3_fail(err, LLAMA3_ERR_IO, "%s: %s", d->partial, strerror(errno));
        s.have = 0;
    }
    if (!rc && (hash_init(&s) || hash_existing(&s)))
        rc = l3_fail(err, LLAMA3_ERR_IO, "%s: cannot read back the partial download", d->partial);
    /* A cut connection is resumed at once, as long as each try brings new bytes. */
    int tries = 0;
    char errbuf[CURL_ERROR_SIZE];
    while (!rc && s.have < d->size) {
        uint64_t before = s.have;
        long code;
        CURLcode cc = fetch_once(e, &s, &code, errbuf);
        fflush(s.f);
        if (s.write_errno) {
            int we = s.write_errno;
            if (we == -1) rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: the server sent more than its %llu bytes", d->file,
                                       (unsigned long long)d->size);
            else if (we == ENOSPC || we == EDQUOT || we == EFBIG)
                rc = l3_fail(err, LLAMA3_ERR_IO, "disk full writing %s (%s at %.1f MB); free some space and pull again: "
                             "the download resumes from there", d->partial, strerror(we), s.have / 1e6);
            else rc = l3_fail(err, LLAMA3_ERR_IO, "%s: write error: %s", d->partial, strerror(we));
            break;
        }
        if (code && code != 200 && code != 206) {
            if (code == 416 && s.have > 0) {  /* our partial file is not a prefix: start over */
                if (ftruncate(fileno(s.f), 0) || hash_init(&s)) { rc = l3_fail(err, LLAMA3_ERR_IO, "%s", d->partial); break; }
                s.have = 0;
                if (++tries > 3) { *status = code; rc = l3_fail(err, LLAMA3_ERR_IO, "%s: HTTP 416", d->file); }
                continue;
            }
            *status = code;
            rc = l3_fail(err, LLAMA3_ERR_IO, "%s: HTTP %ld", d->file, code);
            break;
        }
        if (cc == CURLE_OK && s.have < d->size) {
            rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: the server sent %llu of its %llu bytes", d->file,
                         (unsigned long long)s.have, (unsigned long long)d->size);
            break;
        }
        if (cc != CURLE_OK && s.have < d->size) {
            if (s.have > before && ++tries <= 5) continue;  /* cut mid-file: resume */
            rc = net_error(e, cc, errbuf, err);
            break;
        }
    }
    if (!rc && d->progress) d->progress(d->progress_data, d->file, d->progress_base + s.have, d->progress_total);
    bool bad_hash = false;
    if (!rc && s.md) {
        unsigned char h[EVP_MAX_MD_SIZE];
        unsigned hn = 0;
        char got[2 * EVP_MAX_MD_SIZE + 1];
        EVP_DigestFinal_ex(s.md, h, &hn);
        hex(h, hn, got);
        const char *want = d->sha256 ? d->sha256 : d->git_sha1;
        if (strcasecmp(got, want)) {
            bad_hash = true;
            rc = l3_fail(err, LLAMA3_ERR_FORMAT, "%s: %s mismatch (expected %s, got %s): the download was deleted; pull "
                         "again, and if it repeats the server is sending a wrong file", d->file,
                         d->sha256 ? "sha256" : "git blob id", want, got);
        }
    }
    if (fclose(s.f) && !rc) rc = l3_fail(err, LLAMA3_ERR_IO, "%s: write error: %s", d->partial, strerror(errno));
    if (bad_hash) unlink(d->partial);
    EVP_MD_CTX_free(s.md);
    free(s.errbody.p);
    return rc;
}
