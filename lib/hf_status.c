/* Import status files (see hf_status.h). */
#include "hf_status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATUS_SUFFIX ".hfhub-status"
#define STATUS_MAX ((size_t)64 << 10)

void hf_status_clear(hf_status *st)
{
    free(st->source);
    free(st->dest);
    free(st->path);
    memset(st, 0, sizeof *st);
}

void hf_status_list_free(hf_status *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hf_status_clear(&list[i]);
    free(list);
}

hf_code hf_status_write(const char *path, const hf_status *st, hf_error *err)
{
    json_t *j = json_pack("{s:s, s:s, s:I, s:f, s:f, s:I, s:I, s:f, s:i, s:I, s:I}", "source",
                          st->source ? st->source : "", "dest", st->dest ? st->dest : "", "pid",
                          (json_int_t)st->pid, "started", st->started, "updated", st->updated,
                          "done_bytes", (json_int_t)st->done_bytes, "total_bytes",
                          (json_int_t)st->total_bytes, "rate", st->rate, "connections",
                          st->connections, "files_done", (json_int_t)st->files_done,
                          "files_total", (json_int_t)st->files_total);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    if (!text || !tmp) {
        free(text);
        free(tmp);
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    snprintf(tmp, n, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST && !unlink(tmp)) /* a leftover of a killed run */
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    hf_code rc = HF_OK;
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) || rename(tmp, path)) {
        rc = hf_error_set(err, HF_ERR_IO, "cannot write the status file %s: %s", path,
                          strerror(errno));
        if (fd >= 0)
            unlink(tmp);
    }
    free(text);
    free(tmp);
    return rc;
}

static char *dup_str(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return strdup(s ? s : "");
}

static uint64_t get_u64(json_t *j, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(j, key));
    return v > 0 ? (uint64_t)v : 0;
}

hf_code hf_status_read(const char *path, hf_status *st, hf_error *err)
{
    memset(st, 0, sizeof *st);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return hf_error_set(err, HF_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    char *buf = malloc(STATUS_MAX);
    ssize_t r = buf ? read(fd, buf, STATUS_MAX) : -1;
    close(fd);
    if (r < 0 || (size_t)r >= STATUS_MAX) {
        free(buf);
        return hf_error_set(err, HF_ERR_INVALID, "%s is not a status file", path);
    }
    json_t *j = json_loadb(buf, (size_t)r, 0, NULL);
    free(buf);
    if (!json_is_object(j) || !json_is_string(json_object_get(j, "source"))) {
        json_decref(j);
        return hf_error_set(err, HF_ERR_INVALID, "%s is not a status file", path);
    }
    st->source = dup_str(j, "source");
    st->dest = dup_str(j, "dest");
    st->pid = (long)get_u64(j, "pid");
    st->started = json_number_value(json_object_get(j, "started"));
    st->updated = json_number_value(json_object_get(j, "updated"));
    st->done_bytes = get_u64(j, "done_bytes");
    st->total_bytes = get_u64(j, "total_bytes");
    st->rate = json_number_value(json_object_get(j, "rate"));
    st->connections = (int)get_u64(j, "connections");
    st->files_done = (long)get_u64(j, "files_done");
    st->files_total = (long)get_u64(j, "files_total");
    json_decref(j);
    if (!st->source || !st->dest) {
        hf_status_clear(st);
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    return HF_OK;
}

/* True while the process that wrote the status is alive (probed with
 * signal 0; a lock probe could make a starting import fail). */
static bool process_alive(long pid)
{
    return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static int by_start(const void *a, const void *b)
{
    double x = ((const hf_status *)a)->started, y = ((const hf_status *)b)->started;
    return x < y ? -1 : x > y;
}

hf_code hf_status_list(const char *dir, hf_status **out, size_t *n, hf_error *err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? HF_OK
                               : hf_error_set(err, HF_ERR_IO, "cannot list %s: %s", dir,
                                              strerror(errno));
    size_t cap = 0;
    hf_code rc = HF_OK;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        size_t len = strlen(e->d_name), sl = strlen(STATUS_SUFFIX);
        if (len <= sl || strcmp(e->d_name + len - sl, STATUS_SUFFIX))
            continue;
        char *path = malloc(strlen(dir) + len + 2);
        if (!path) {
            rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
            break;
        }
        sprintf(path, "%s/%s", dir, e->d_name);
        hf_status st;
        hf_error ignored;
        if (hf_status_read(path, &st, &ignored)) {
            free(path);
            continue;
        }
        if (*n == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            hf_status *grown = realloc(*out, ncap * sizeof *grown);
            if (!grown) {
                hf_status_clear(&st);
                free(path);
                rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
                break;
            }
            *out = grown;
            cap = ncap;
        }
        st.running = process_alive(st.pid);
        st.path = path;
        (*out)[(*n)++] = st;
    }
    closedir(d);
    if (rc) {
        hf_status_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        return rc;
    }
    if (*n > 1)
        qsort(*out, *n, sizeof **out, by_start);
    return HF_OK;
}
