/* Per-model cache (see hf_cache.h). */
#include "hf_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bump when what an entry means changes (selection rule, size formula). */
#define CACHE_FORMAT 1
#define MAX_ENTRY_BYTES ((size_t)4 << 20)

/* Why path (if it exists) cannot be trusted as a cache directory; NULL if it can. */
static const char *untrusted(const char *path, struct stat *st)
{
    if (lstat(path, st))
        return errno == ENOENT ? NULL : "cannot be inspected";
    if (S_ISLNK(st->st_mode))
        return "is a symbolic link";
    if (!S_ISDIR(st->st_mode))
        return "is not a directory";
    if (st->st_uid != geteuid())
        return "belongs to another user";
    if (st->st_mode & 022)
        return "can be written by other users";
    return NULL;
}

static void check_trust(hf_cache *c)
{
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/models", c->dir);
    const char *paths[] = {c->dir, sub};
    for (int i = 0; i < 2; i++) {
        struct stat st;
        const char *why = untrusted(paths[i], &st);
        if (!why)
            continue;
        snprintf(c->warning, sizeof c->warning,
                 "the cache directory %.300s %s, so it is not used (the catalog works without "
                 "it, only slower): remove it, or set HFHUB_CACHE_DIR to a directory of your own",
                 paths[i], why);
        free(c->dir);
        c->dir = NULL;
        return;
    }
}

hf_code hf_cache_open(hf_cache *c, const char *dir, const char *endpoint, hf_error *err)
{
    memset(c, 0, sizeof *c);
    const char *off = getenv("HFHUB_NO_CACHE");
    if (off && *off && strcmp(off, "0"))
        return HF_OK;
    char buf[4096];
    const char *p;
    if (dir) {
        snprintf(buf, sizeof buf, "%s", dir);
    } else if ((p = getenv("HFHUB_CACHE_DIR")) && *p) {
        snprintf(buf, sizeof buf, "%s", p);
    } else if ((p = getenv("XDG_CACHE_HOME")) && *p) {
        snprintf(buf, sizeof buf, "%s/hfhub", p);
    } else if ((p = getenv("HOME")) && *p) {
        snprintf(buf, sizeof buf, "%s/.cache/hfhub", p);
    } else {
        return HF_OK;
    }
    c->dir = strdup(buf);
    c->endpoint = strdup(endpoint ? endpoint : "");
    if (!c->dir || !c->endpoint) {
        hf_cache_close(c);
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    check_trust(c);
    return HF_OK;
}

void hf_cache_close(hf_cache *c)
{
    free(c->dir);
    free(c->endpoint);
    memset(c, 0, sizeof *c);
}

/* <dir>/models/<sha256(format, endpoint, id) hex>.json */
static bool entry_path(const hf_cache *c, const char *model_id, char *out, size_t outsz)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char key[1024];
    snprintf(key, sizeof key, "%d\n%s\n%s", CACHE_FORMAT, c->endpoint, model_id);
    if (!EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha256(), NULL))
        return false;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    int n = snprintf(out, outsz, "%s/models/%s.json", c->dir, hex);
    return n > 0 && (size_t)n < outsz;
}

bool hf_cache_get(const hf_cache *c, const char *model_id, const char *sha,
                  const char *last_modified, hf_model *out)
{
    char path[4600];
    if (!c->dir || !entry_path(c, model_id, path, sizeof path))
        return false;
    /* only a regular file of ours, not through a link, of a sane size */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (uint64_t)st.st_size > MAX_ENTRY_BYTES) {
        close(fd);
        return false;
    }
    /* read whole, then parsed: json_loadfd reads a byte per system call */
    size_t len = 0, cap = (size_t)st.st_size + 1;
    char *text = malloc(cap);
    ssize_t r = 1;
    while (text && len < cap && (r = read(fd, text + len, cap - len)) != 0) {
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0)
            len += (size_t)r;
    }
    close(fd);
    json_error_t jerr;
    /* a file that changed size while read is not taken */
    json_t *o = text && r == 0 && len < cap ? json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)
                                            : NULL;
    free(text);
    if (!o)
        return false;
    bool hit = false;
    json_t *id = json_object_get(o, "id");
    json_t *esha = json_object_get(o, "sha");
    json_t *elm = json_object_get(o, "lastModified");
    json_t *fmt = json_object_get(o, "cache_format");
    if (json_is_integer(fmt) && json_integer_value(fmt) == CACHE_FORMAT && json_is_string(id) &&
        !strcmp(json_string_value(id), model_id) && json_is_string(esha)) {
        if (sha)
            hit = !strcmp(json_string_value(esha), sha);
        else
            hit = last_modified && json_is_string(elm) &&
                  !strcmp(json_string_value(elm), last_modified);
    }
    if (hit) {
        hf_error e;
        hf_model m;
        hf_model_init(&m);
        if (hf_model_from_cache_json(&m, o, &e) || m.image_bytes < 0) {
            hf_model_clear(&m);
            hit = false;
        } else {
            hf_model_clear(out);
            *out = m;
        }
    }
    json_decref(o);
    return hit;
}

hf_code hf_cache_put(const hf_cache *c, const hf_model *m, hf_error *err)
{
    if (!c->dir || !m->id || !m->sha)
        return HF_OK;
    char path[4600], dir[4200], tmp[4700];
    if (!entry_path(c, m->id, path, sizeof path))
        return hf_error_set(err, HF_ERR_IO, "cache path too long");
    snprintf(dir, sizeof dir, "%s", c->dir);
    if (mkdir(dir, 0700) && errno != EEXIST)
        return hf_error_set(err, HF_ERR_IO, "cannot create the cache directory %s: %s", dir,
                            strerror(errno));
    snprintf(dir, sizeof dir, "%s/models", c->dir);
    if (mkdir(dir, 0700) && errno != EEXIST)
        return hf_error_set(err, HF_ERR_IO, "cannot create the cache directory %s: %s", dir,
                            strerror(errno));
    json_t *o = hf_model_to_json(m);
    if (!o)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    json_object_set_new(o, "cache_format", json_integer(CACHE_FORMAT));
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    int rc = json_dump_file(o, tmp, JSON_COMPACT);
    json_decref(o);
    if (rc != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return hf_error_set(err, HF_ERR_IO, "cannot write the cache entry %s", path);
    }
    return HF_OK;
}
