/* Token discovery (see hf_token.h). */
#include "hf_token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

int hf_token_is_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
            return 0;
    return n > 0 && n <= 512;
}

void hf_token_free(char *token)
{
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
}

hf_code hf_token_read_file(const char *path, char **out, hf_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return HF_OK;
        return hf_error_set(err, HF_ERR_IO, "cannot read the token file %s: %s", path,
                            strerror(errno));
    }
    char line[1024];
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    char *start = line;
    while (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r')
        start++;
    size_t len = strcspn(start, "\r\n");
    while (len && (start[len - 1] == ' ' || start[len - 1] == '\t'))
        len--;
    start[len] = '\0';
    if (!*start) {
        memset(line, 0, sizeof line);
        return HF_OK;
    }
    if (!hf_token_is_valid(start)) {
        memset(line, 0, sizeof line);
        return hf_error_set(err, HF_ERR_INVALID,
                            "the token in %s is not a valid token (spaces or control "
                            "characters, or longer than 512 characters); fix or remove the file",
                            path);
    }
    *out = strdup(start);
    memset(line, 0, sizeof line);
    return *out ? HF_OK : hf_error_set(err, HF_ERR_NOMEM, "out of memory");
}

static hf_code from_env(const char *name, char **out, hf_error *err)
{
    const char *v = getenv(name);
    *out = NULL;
    if (!v || !*v)
        return HF_OK;
    if (!hf_token_is_valid(v))
        return hf_error_set(err, HF_ERR_INVALID,
                            "%s is set but is not a valid token (spaces or control characters, "
                            "or longer than 512 characters)",
                            name);
    *out = strdup(v);
    return *out ? HF_OK : hf_error_set(err, HF_ERR_NOMEM, "out of memory");
}

hf_code hf_token_read_protected(const char *path, char **out, hf_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return HF_OK;
        if (errno == ELOOP)
            return hf_error_set(err, HF_ERR_INVALID,
                                "the token file %s is a symbolic link; refusing it", path);
        return hf_error_set(err, HF_ERR_IO, "cannot read the token file %s: %s", path,
                            strerror(errno));
    }
    struct stat st;
    hf_code rc = HF_OK;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode))
        rc = hf_error_set(err, HF_ERR_INVALID, "the token file %s is not a regular file", path);
    else if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IRWXO)))
        rc = hf_error_set(err, HF_ERR_INVALID,
                          "the token file %s has loose permissions (owner uid %ld, mode %04o): "
                          "make it root-owned and readable by oneadmin only: chown root:oneadmin "
                          "%s && chmod 0640 %s",
                          path, (long)st.st_uid, (unsigned)(st.st_mode & 07777), path, path);
    close(fd);
    if (rc)
        return rc;
    return hf_token_read_file(path, out, err);
}

hf_code hf_token_find(char **out, hf_error *err)
{
    hf_code rc = from_env("HF_TOKEN", out, err);
    if (rc || *out)
        return rc;
    rc = from_env("HUGGING_FACE_HUB_TOKEN", out, err);
    if (rc || *out)
        return rc;
    /* the operator's file for OpenNebula drivers: root-owned, oneadmin-readable */
    /* (under $ONE_LOCATION/etc for a self-contained OpenNebula install) */
    const char *protected_path = getenv("HFHUB_TOKEN_FILE");
    const char *one_location = getenv("ONE_LOCATION");
    char one_path[4096];
    if ((!protected_path || !*protected_path) && one_location && *one_location) {
        snprintf(one_path, sizeof one_path, "%s/etc/hfhub/token", one_location);
        protected_path = one_path;
    }
    if (!protected_path || !*protected_path)
        protected_path = HF_TOKEN_PROTECTED_FILE;
    rc = hf_token_read_protected(protected_path, out, err);
    if (rc || *out)
        return rc;

    char path[4096];
    const char *p = getenv("HF_TOKEN_PATH");
    if (p && *p) {
        snprintf(path, sizeof path, "%s", p);
    } else if ((p = getenv("HF_HOME")) && *p) {
        snprintf(path, sizeof path, "%s/token", p);
    } else if ((p = getenv("XDG_CACHE_HOME")) && *p) {
        snprintf(path, sizeof path, "%s/huggingface/token", p);
    } else if ((p = getenv("HOME")) && *p) {
        snprintf(path, sizeof path, "%s/.cache/huggingface/token", p);
    } else {
        return HF_OK;
    }
    return hf_token_read_file(path, out, err);
}

bool hf_env_is_secret(const char *entry)
{
    return !strncmp(entry, "HF_TOKEN=", 9) || !strncmp(entry, "HUGGING_FACE_HUB_TOKEN=", 23);
}

char **hf_env_without_secrets(char *const *env)
{
    size_t n = 0;
    while (env && env[n])
        n++;
    char **out = calloc(n + 1, sizeof *out);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!hf_env_is_secret(env[i]))
            out[k++] = env[i];
    out[k] = NULL;
    return out;
}
