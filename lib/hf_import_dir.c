/* The directory form of an import (see hf_import.h): files created below
 * the work directory without following symlinks, pre-sized, written by the
 * engine at any offset (large files O_DIRECT), and flushed before DEST
 * appears: one syncfs or fsyncs on 16 threads, then every directory. */
#define _GNU_SOURCE /* syncfs, sync_file_range, fallocate, O_DIRECT */
#include "hf_import_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "hf_direct_io.h"
#include "hf_sizing.h"
#include "hf_workdir.h"

#define MAX_OPEN 64
#define FALLOCATE_MIN ((uint64_t)1 << 20) /* smaller files are not fallocated */
#define DIRECT_MIN ((uint64_t)8 << 20) /* files this large are written O_DIRECT */

typedef struct {
    int fd;     /* an open directory below the root, or -1 */
    char *path; /* its path relative to the root ("" for the root itself) */
} dir_cache;

typedef struct {
    int root;               /* the work directory */
    const hf_fetch_file *files;
    size_t n;
    int *fds;
    bool *direct;           /* fds[i] is O_DIRECT */
    size_t open_count, next_evict;
    uint64_t unflushed;
    dir_cache dc;           /* the directory of the last file opened */
} dir_sink;

static void dir_cache_clear(dir_cache *dc)
{
    if (dc->fd >= 0)
        close(dc->fd);
    free(dc->path);
    dc->fd = -1;
    dc->path = NULL;
}

/* Opens (creating, if asked) the directory dir (n bytes of a relative path)
 * below root, one segment at a time, following no symlink. */
static int open_dir_below(int root, const char *dir, size_t n, bool create, const char *what,
                          hf_error *err)
{
    char *copy = strndup(dir, n);
    if (!copy) {
        hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        return -1;
    }
    int fd = dup(root);
    if (fd < 0)
        hf_error_set(err, HF_ERR_IO, "cannot open the directory of %s: %s", what, strerror(errno));
    char *seg = copy, *slash;
    while (fd >= 0 && *seg) {
        if ((slash = strchr(seg, '/')))
            *slash = '\0';
        if (create && mkdirat(fd, seg, 0755) && errno != EEXIST) {
            hf_error_set(err, HF_ERR_IO, "cannot create the directory %s: %s", what,
                         strerror(errno));
            close(fd);
            fd = -1;
            break;
        }
        int next = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
            hf_error_set(err, HF_ERR_IO, "cannot open the directory of %s: %s", what,
                         strerror(errno));
        close(fd);
        fd = next;
        seg = slash ? slash + 1 : seg + strlen(seg);
    }
    free(copy);
    return fd;
}

/* Opens (creating) a file below root without following any symlink. The
 * directory is walked segment by segment, once: dc keeps the last file's
 * directory open, and files come mostly in path order, so a model's
 * thousands of files in a few directories cost one openat each. */
static int open_below_cached(int root, dir_cache *dc, const char *path, bool create,
                             hf_error *err)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (dc->fd < 0 || strlen(dc->path) != n || strncmp(dc->path, path, n)) {
        dir_cache_clear(dc);
        int fd = open_dir_below(root, path, n, create, path, err);
        if (fd < 0)
            return -1;
        if (!(dc->path = strndup(path, n))) {
            close(fd);
            hf_error_set(err, HF_ERR_NOMEM, "out of memory");
            return -1;
        }
        dc->fd = fd;
    }
    const char *base = slash ? slash + 1 : path;
    int fd = openat(dc->fd, base, O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
    if (fd < 0)
        hf_error_set(err, HF_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    return fd;
}

/* The same, for one file: nothing kept open. */
static int open_below(int root, const char *path, bool create, hf_error *err)
{
    dir_cache dc = {.fd = -1};
    int fd = open_below_cached(root, &dc, path, create, err);
    dir_cache_clear(&dc);
    return fd;
}

static int dir_fd(dir_sink *s, size_t i, hf_error *err)
{
    if (s->fds[i] >= 0)
        return s->fds[i];
    if (s->open_count >= MAX_OPEN) {
        /* close another file: a model can have thousands */
        for (size_t k = 0; k < s->n; k++) {
            size_t j = (s->next_evict + k) % s->n;
            if (s->fds[j] >= 0 && j != i) {
                close(s->fds[j]);
                s->fds[j] = -1;
                s->open_count--;
                s->next_evict = j + 1;
                break;
            }
        }
    }
    int fd = open_below_cached(s->root, &s->dc, s->files[i].path, false, err);
    if (fd >= 0) {
        s->fds[i] = fd;
        s->open_count++;
        int fl = fcntl(fd, F_GETFL);
        s->direct[i] = s->files[i].size >= DIRECT_MIN && fl >= 0 &&
                       !fcntl(fd, F_SETFL, fl | O_DIRECT);
    }
    return fd;
}


static hf_code dir_write(void *user, size_t file, uint64_t off, const void *buf, size_t len,
                         hf_error *err)
{
    dir_sink *s = user;
    int fd = dir_fd(s, file, err);
    if (fd < 0)
        return err->code;
    int e = hf_direct_io(fd, &s->direct[file], true, (void *)buf, len, off);
    if (e)
        return import_io_error(err, "write", s->files[file].path, e);
    s->unflushed += len;
    if (s->unflushed >= WRITEBACK_EVERY) {
        sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); /* start writeback, do not wait */
        s->unflushed = 0;
    }
    return HF_OK;
}

static hf_code dir_read(void *user, size_t file, uint64_t off, void *buf, size_t len,
                        hf_error *err)
{
    dir_sink *s = user;
    int fd = dir_fd(s, file, err);
    if (fd < 0)
        return err->code;
    if (hf_direct_io(fd, &s->direct[file], false, buf, len, off))
        return hf_error_set(err, HF_ERR_IO, "cannot read back %s", s->files[file].path);
    return HF_OK;
}

/* true when dir (n bytes) is prev or one of prev's ancestors */
static bool is_dir_or_ancestor(const char *prev, const char *dir, size_t n)
{
    return prev && !strncmp(prev, dir, n) && (prev[n] == '\0' || prev[n] == '/');
}

/* fsyncs the tree's root and each of its directories once, ancestors
 * included (a directory's entry lives in its parent). Files are listed in
 * path order, so the directories under one prefix come together: what the
 * previous directory already synced is skipped. */
static hf_code fsync_dirs(int root, const hf_import_plan *p, hf_error *err)
{
    if (fsync(root))
        return hf_error_set(err, HF_ERR_IO, "cannot flush the import's directory: %s",
                            strerror(errno));
    char *prev = NULL;
    hf_code rc = HF_OK;
    for (size_t i = 0; !rc && i <= p->n_files; i++) {
        const char *path = i < p->n_files ? p->files[i].path : HF_MANIFEST_PATH;
        const char *slash = strrchr(path, '/');
        if (!slash)
            continue;
        size_t len = (size_t)(slash - path);
        if (prev && strlen(prev) == len && !strncmp(prev, path, len))
            continue;
        for (size_t n = 1; !rc && n <= len; n++) {
            if (n < len && path[n] != '/')
                continue;
            if (is_dir_or_ancestor(prev, path, n))
                continue;
            int fd = open_dir_below(root, path, n, false, path, err);
            if (fd < 0) {
                rc = err->code;
                break;
            }
            int bad = fsync(fd) ? errno : 0;
            close(fd);
            if (bad)
                rc = import_io_error(err, "flush the directory of", path, bad);
        }
        free(prev);
        if (!rc && !(prev = strndup(path, len)))
            rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    free(prev);
    return rc;
}

/* Flushing a directory import before DEST appears.
 *
 * Crash safety: DEST appears (the rename of the work directory) only after
 * (1) every file, the manifest included, has been fsync()ed: its data and
 * its inode are on stable storage; then (2) every directory of the tree and
 * the tree's root have been fsync()ed: the entries naming those files are on
 * stable storage; and after that the caller renames and fsyncs DEST's parent.
 * A crash before the rename leaves only the work directory, which the next
 * run resumes or discards (its journal decides, every file is verified
 * again); a crash after it leaves a complete DEST. Exit 0 comes only after
 * all of it, and any failing fsync fails the import.
 *
 * With fewer than SYNCFS_MIN_FILES files, the fsyncs of step (1) run on
 * FLUSH_THREADS threads at once. Each is still a complete fsync of one file
 * (nothing weaker than the one-by-one loop it replaces), but fsyncs that
 * wait together share the device's cache flushes. The threads are joined
 * before step (2).
 *
 * With more files, one syncfs() of the import's file system does steps (1)
 * and (2). Linux waits for the I/O of sync() and syncfs(), so that they give
 * "the same guarantees as fsync() called on every file in the file system"
 * (syncfs(2)), and since Linux 5.8 syncfs() reports the write-back errors of
 * the file system seen since the descriptor was opened (the root, opened
 * before the first byte was written), as fsync() does for its file; on an
 * older kernel the fsyncs are used. Per-file fsyncs cost at least one cache
 * flush of the device each (and, on ext4 with a journal, often a commit):
 * 20,000 files of 4 KB took 2-20 s to flush that way on a journaled ext4
 * and 2-4 s on one without a journal, against 0.2-0.5 s for one syncfs
 * (README, Benchmarks). The price: syncfs also writes what other programs
 * left dirty on that file system when it is called (only that: pages
 * dirtied later are not waited for). So it is used only while the kernel
 * holds little dirty data, all file systems together (ours included): at
 * most SYNCFS_DIRTY_FLOOR plus SYNCFS_DIRTY_PER_FILE for each file, about
 * what writing it costs against what the fsyncs would (a few hundred
 * microseconds a file, 300 MB/s); else, as with fewer files, the fsyncs
 * run, and an import writing next to others on a shared datastore does not
 * wait for their data. */
#define FLUSH_THREADS 16
#define FLUSH_BATCH 64
#define SYNCFS_MIN_FILES 1000
#define SYNCFS_DIRTY_FLOOR ((uint64_t)256 << 20)
#define SYNCFS_DIRTY_PER_FILE ((uint64_t)64 << 10)

typedef struct {
    int root;
    const hf_import_plan *p;
    pthread_mutex_t mu;
    size_t next;   /* the next file to take; p->n_files is the manifest */
    bool failed;
    hf_error err;  /* the first failure */
} flush_job;

static void *flush_worker(void *arg)
{
    flush_job *j = arg;
    dir_cache dc = {.fd = -1};
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t from = j->next, to = from + FLUSH_BATCH;
        if (to > j->p->n_files + 1)
            to = j->p->n_files + 1;
        j->next = to;
        bool stop = j->failed || from >= to;
        pthread_mutex_unlock(&j->mu);
        if (stop)
            break;
        for (size_t i = from; i < to; i++) {
            const char *path = i < j->p->n_files ? j->p->files[i].path : HF_MANIFEST_PATH;
            hf_error e = {0};
            int fd = open_below_cached(j->root, &dc, path, false, &e);
            if (fd >= 0 && fsync(fd))
                import_io_error(&e, "flush", path, errno);
            if (fd >= 0)
                close(fd);
            if (e.code != HF_OK) {
                pthread_mutex_lock(&j->mu);
                if (!j->failed) {
                    j->failed = true;
                    j->err = e;
                }
                pthread_mutex_unlock(&j->mu);
                break;
            }
        }
    }
    dir_cache_clear(&dc);
    return NULL;
}

/* true when syncfs() reports write-back errors (Linux 5.8 and later) */
static bool syncfs_reports_errors(void)
{
    struct utsname u;
    unsigned major, minor;
    if (uname(&u) || sscanf(u.release, "%u.%u", &major, &minor) != 2)
        return false;
    return major > 5 || (major == 5 && minor >= 8);
}

/* Bytes the kernel holds dirty or under writeback, all file systems
 * together (/proc/meminfo), or UINT64_MAX when that is unknown. */
static uint64_t dirty_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f)
        return UINT64_MAX;
    char line[128];
    unsigned long long kb, total = 0;
    int seen = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Dirty: %llu kB", &kb) == 1 ||
            sscanf(line, "Writeback: %llu kB", &kb) == 1) {
            total += kb;
            seen++;
        }
    fclose(f);
    return seen == 2 ? (uint64_t)total * 1024 : UINT64_MAX;
}

/* Steps (1) and (2) above. */
static hf_code flush_files(int root, const hf_import_plan *p, hf_error *err)
{
    uint64_t files = p->n_files + 1; /* the manifest too */
    if (files >= SYNCFS_MIN_FILES && syncfs_reports_errors() &&
        dirty_bytes() <= SYNCFS_DIRTY_FLOOR + files * SYNCFS_DIRTY_PER_FILE) {
        if (syncfs(root))
            return import_io_error(err, "flush the file system of", "the import", errno);
        return HF_OK;
    }
    flush_job j = {.root = root, .p = p};
    if (pthread_mutex_init(&j.mu, NULL))
        return hf_error_set(err, HF_ERR_NOMEM, "cannot create a lock");
    size_t want = (p->n_files + 1 + FLUSH_BATCH - 1) / FLUSH_BATCH, n = 0;
    pthread_t th[FLUSH_THREADS];
    /* the calling thread works too: fewer threads only make it slower */
    while (n + 1 < want && n < FLUSH_THREADS && !pthread_create(&th[n], NULL, flush_worker, &j))
        n++;
    flush_worker(&j);
    for (size_t k = 0; k < n; k++)
        pthread_join(th[k], NULL);
    pthread_mutex_destroy(&j.mu);
    if (j.failed) {
        *err = j.err;
        return err->code;
    }
    return fsync_dirs(root, p, err);
}

hf_code import_run_dir(hf_client *cl, const hf_import_plan *p, const char *source,
                       const char *part, const char *journal, const char *key, bool resume,
                       const hf_import_options *opt, hf_import_result *res, hf_error *err)
{
    if (!resume) {
        hf_code rc = hf_remove_tree(part, err);
        if (rc)
            return rc;
        if (mkdir(part, 0755))
            return hf_error_set(err, HF_ERR_IO, "cannot create %s: %s", part, strerror(errno));
    }
    dir_sink s = {.files = p->files, .n = p->n_files, .dc = {.fd = -1}};
    s.root = open(part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    s.fds = malloc(p->n_files * sizeof *s.fds);
    s.direct = calloc(p->n_files, sizeof *s.direct);
    hf_code rc = HF_OK;
    if (s.root < 0)
        rc = hf_error_set(err, HF_ERR_IO, "cannot open %s: %s", part, strerror(errno));
    else if (!s.fds || !s.direct)
        rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < p->n_files; i++) {
        int fd = open_below_cached(s.root, &s.dc, p->files[i].path, true, err);
        if (fd < 0) {
            rc = err->code;
            break;
        }
        /* Sized up front, and allocated where the file system can: the
         * blocks are then reserved now (a full disk shows here, not in the
         * middle of the download), and the writes fill allocated extents
         * instead of making ext4 reserve, track and later allocate delayed
         * blocks for every piece that arrives. Elsewhere the file is sparse
         * until the bytes arrive. Allocated blocks read as zeros. A file
         * below FALLOCATE_MIN arrives in a few pieces and its space is in
         * check_space's sum: allocating it costs more (a syscall and extent
         * work per file, thousands of files) than it saves. */
        uint64_t size = p->files[i].size;
        int e = size >= FALLOCATE_MIN && fallocate(fd, 0, 0, (off_t)size) ? errno : 0;
        if (e && e != EOPNOTSUPP && e != ENOSYS)
            rc = import_io_error(err, "allocate", p->files[i].path, e);
        /* A file of a new import was created empty just now, and fallocate
         * has set its size: one syscall less per file. A resumed file, or
         * one fallocate did not size, is sized here. */
        else if ((resume || e || (size && size < FALLOCATE_MIN)) && ftruncate(fd, (off_t)size))
            rc = import_io_error(err, "size", p->files[i].path, errno);
        close(fd);
        s.fds[i] = -1;
    }
    if (!rc) {
        hf_fetch_sink sink = {.user = &s, .write = dir_write, .read = dir_read};
        hf_fetch_options fo = import_fetch_options(cl, p, opt, journal, key);
        rc = hf_fetch_run(p->files, p->n_files, &fo, &sink, &res->fetch, err);
    }
    for (size_t i = 0; s.fds && i < p->n_files; i++)
        if (s.fds[i] >= 0)
            close(s.fds[i]);
    free(s.fds);
    free(s.direct);
    if (!rc) {
        char *text = NULL;
        size_t len = 0;
        hf_manifest_info mi = import_manifest_info(p, source);
        rc = hf_manifest_render(&mi, p->files, p->n_files, 0, &text, &len, err);
        int fd = rc ? -1 : open_below(s.root, HF_MANIFEST_PATH, true, err);
        if (!rc && fd < 0)
            rc = err->code;
        if (!rc && (ftruncate(fd, 0) || write(fd, text, len) != (ssize_t)len))
            rc = import_io_error(err, "write", HF_MANIFEST_PATH, errno);
        if (fd >= 0)
            close(fd);
        free(text);
    }
    if (!rc)
        rc = flush_files(s.root, p, err);
    dir_cache_clear(&s.dc);
    if (s.root >= 0)
        close(s.root);
    return rc;
}
