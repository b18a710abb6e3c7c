/* Imports (see hf_import.h): planning, the two sinks (directory tree and
 * qcow2 image), and the steps that make DEST appear only when complete. */
#define _GNU_SOURCE /* syncfs, qsort_r */
#include "hf_import.h"
#include "hf_workdir.h"

#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <stdint.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "hf_buf.h"
#include "hf_ext4.h"
#include "hf_image_stream.h"
#include "hf_manifest.h"
#include "hf_model.h"
#include "hf_qcow2.h"
#include "hf_select.h"
#include "hf_sizing.h"

#define IMAGE_LABEL "hfhub-model"

/* ---- planning ------------------------------------------------------------------ */

void hf_import_plan_free(hf_import_plan *p)
{
    hf_address_clear(&p->address);
    hf_repo_tree_free(&p->tree);
    free(p->files);
    free(p->source);
    memset(p, 0, sizeof *p);
}

/* 40 hex digits, either case: the address names a commit. */
static bool is_hex40(const char *s)
{
    size_t n = 0;
    while (s && isxdigit((unsigned char)s[n]))
        n++;
    return s && n == 40 && !s[n];
}

hf_code hf_import_plan_make(hf_client *cl, const char *source, hf_format format_override,
                            hf_format format_default, hf_import_plan *p, hf_error *err)
{
    memset(p, 0, sizeof *p);
    hf_code rc = hf_address_parse(source, &p->address, err);
    if (rc)
        return rc;
    if (!(p->source = strdup(source))) {
        hf_address_clear(&p->address);
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    p->format = format_override != HF_FORMAT_DEFAULT  ? format_override
                : p->address.format != HF_FORMAT_DEFAULT ? p->address.format
                : format_default != HF_FORMAT_DEFAULT    ? format_default
                                                         : HF_FORMAT_QCOW2;
    char commit[41];
    char *last_modified = NULL;
    rc = hf_repo_resolve_commit(&cl->hub, p->address.type, p->address.repo_id,
                                p->address.revision, commit, &last_modified, err);
    if (!rc && is_hex40(p->address.revision) && strcasecmp(p->address.revision, commit))
        /* @<commit> is a contract: exactly that commit, or nothing */
        rc = hf_error_set(err, HF_ERR_PROTOCOL,
                          "%s: the address pins commit %s, but the Hub resolved it to commit %s; "
                          "refusing to import anything else (is HF_ENDPOINT the Hub you mean?)",
                          p->address.repo_id, p->address.revision, commit);
    if (!rc)
        rc = hf_repo_tree_list(&cl->hub, p->address.type, p->address.repo_id, commit, &p->tree,
                               err);
    if (rc) {
        free(last_modified);
        hf_import_plan_free(p);
        return rc;
    }
    p->tree.last_modified = last_modified;

    size_t n = p->tree.n;
    const char **paths = calloc(n ? n : 1, sizeof *paths);
    bool *sel = calloc(n ? n : 1, sizeof *sel);
    p->files = calloc(n ? n : 1, sizeof *p->files);
    hf_sized_file *sized = calloc(n ? n : 1, sizeof *sized);
    if (!paths || !sel || !p->files || !sized) {
        free(paths);
        free(sel);
        free(sized);
        hf_import_plan_free(p);
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        paths[i] = p->tree.files[i].path;
    hf_select_rules rules = {hf_strlist_view(&p->address.include),
                             hf_strlist_view(&p->address.exclude)};
    hf_select_files(paths, n, &rules, sel);
    for (size_t i = 0; i < n; i++) {
        if (!sel[i])
            continue;
        if (!strcmp(paths[i], HF_MANIFEST_PATH) || !strncmp(paths[i], ".hfhub/", 7))
            continue; /* our own name space inside the result */
        hf_repo_file *t = &p->tree.files[i];
        p->files[p->n_files] = (hf_fetch_file){.path = t->path,
                                               .size = t->size,
                                               .oid = t->oid,
                                               .sha256 = t->lfs ? t->sha256 : NULL};
        sized[p->n_files] = (hf_sized_file){t->path, t->size};
        p->files_bytes += t->size;
        p->n_files++;
    }
    hf_code sz = p->format == HF_FORMAT_QCOW2
                     ? hf_sizing_ext4(sized, p->n_files, &p->stored_bytes, err)
                     : hf_sizing_dir(sized, p->n_files, &p->stored_bytes, err);
    free(paths);
    free(sel);
    free(sized);
    if (sz) {
        hf_error_prefix(err, "%s: ", p->address.repo_id);
        hf_import_plan_free(p);
        return sz;
    }
    if (p->n_files == 0) {
        hf_error_set(err, HF_ERR_INVALID,
                     "%s: no file to import at commit %.12s (check include/exclude)",
                     p->address.repo_id, p->tree.commit);
        hf_import_plan_free(p);
        return HF_ERR_INVALID;
    }
    return HF_OK;
}

/* ---- helpers ----------------------------------------------------------------------- */

static char *path_with(const char *dest, const char *suffix)
{
    size_t n = strlen(dest) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", dest, suffix);
    return s;
}

static char *parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Space check before anything is downloaded. */
/* fsyncs the directory holding path: a new or renamed entry is on disk */
static hf_code fsync_parent(const char *path, hf_error *err)
{
    char *dir = parent_dir(path);
    if (!dir)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = fd < 0 || fsync(fd) ? errno : 0;
    if (fd >= 0)
        close(fd);
    hf_code rc = e ? hf_error_set(err, HF_ERR_IO, "cannot flush the directory %s: %s", dir,
                                  strerror(e))
                   : HF_OK;
    free(dir);
    return rc;
}

static hf_code check_space(const char *dest, uint64_t need, uint64_t present, hf_error *err)
{
    char *dir = parent_dir(dest);
    struct statvfs sv;
    hf_code rc = HF_OK;
    if (!dir)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    if (statvfs(dir, &sv)) {
        rc = hf_error_set(err, HF_ERR_IO, "cannot inspect %s: %s", dir, strerror(errno));
    } else {
        uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
        uint64_t missing = need > present ? need - present : 0;
        if (avail < missing)
            rc = hf_error_set(err, HF_ERR_IO,
                              "not enough space in %s: the import needs %llu MB more, %llu MB are "
                              "free; free some space or choose another datastore",
                              dir, (unsigned long long)(missing >> 20),
                              (unsigned long long)(avail >> 20));
    }
    free(dir);
    return rc;
}

static uint64_t usage_sum;

static int add_usage(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)flag;
    (void)ftw;
    usage_sum += (uint64_t)st->st_blocks * 512;
    return 0;
}

/* Bytes a file or a tree occupies on disk (what a resumed import already has). */
static uint64_t disk_usage(const char *path)
{
    usage_sum = 0;
    if (nftw(path, add_usage, 16, FTW_PHYS))
        return 0;
    return usage_sum;
}

/* Journal key: what must be identical for a resume to be valid: the Hub
 * (endpoint), the repository, the commit, the form and every file. */
static void journal_key(const char *endpoint, const hf_import_plan *p, char out[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, endpoint, strlen(endpoint) + 1); /* with the NUL: unambiguous */
    char head[400];
    int len = snprintf(head, sizeof head, "%d\n%s\n%s\n%d\n", (int)p->address.type,
                       p->address.repo_id, p->tree.commit, (int)p->format);
    EVP_DigestUpdate(ctx, head, (size_t)len);
    for (size_t i = 0; i < p->n_files; i++) {
        char line[100];
        int l = snprintf(line, sizeof line, "\n%llu %s\n", (unsigned long long)p->files[i].size,
                         p->files[i].oid);
        EVP_DigestUpdate(ctx, p->files[i].path, strlen(p->files[i].path));
        EVP_DigestUpdate(ctx, line, (size_t)l);
    }
    EVP_DigestFinal_ex(ctx, d, &n);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* True when the journal at path was written for this key. */
static bool journal_matches(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[256], want[256];
    snprintf(want, sizeof want, "hfhub-journal 2 %s\n", key);
    bool ok = fgets(line, sizeof line, f) && !strcmp(line, want);
    fclose(f);
    return ok;
}

/* ---- directory sink ---------------------------------------------------------------- */

#define MAX_OPEN 64
#define FALLOCATE_MIN ((uint64_t)1 << 20) /* smaller files are not fallocated */

/* Dirty data is handed to the kernel's writeback every so often, so that the
 * final flush before DEST appears has little left to do (and the page cache
 * does not fill with a whole model's dirty pages). */
#define WRITEBACK_EVERY ((uint64_t)64 << 20)

typedef struct {
    int fd;     /* an open directory below the root, or -1 */
    char *path; /* its path relative to the root ("" for the root itself) */
} dir_cache;

/* Large files' bytes bypass the page cache (O_DIRECT) where the file
 * system allows it: the engine hands over page-aligned pieces, and copying
 * them into freshly allocated page-cache pages was the largest single cost
 * of an uncapped download (perf: half of the CPU in copy_folio_from_iter on
 * a VM). What is not aligned (a file's tail, the head of a resumed range)
 * still goes through the page cache. Durability is unchanged: every file is
 * fsynced before DEST appears. */
#define DIRECT_MIN ((uint64_t)8 << 20)      /* files this large (dir) */
#define DIRECT_MIN_IO ((size_t)256 << 10)   /* pieces this large (qcow2): small
                                             * ones are cheaper in the page cache */
#define DIRECT_ALIGN 4096

static bool direct_aligned(const void *buf, uint64_t off, size_t len)
{
    return (((uintptr_t)buf | (uintptr_t)off | (uintptr_t)len) & (DIRECT_ALIGN - 1)) == 0;
}

/* pwrite (or pread) of all len bytes at off: 0 or an errno. On an O_DIRECT
 * descriptor (*direct), a piece that is not aligned goes through the page
 * cache, and if the kernel refuses O_DIRECT, the descriptor drops it. */
static int full_io(int fd, bool *direct, bool write, void *buf, size_t len, uint64_t off)
{
    int fl = *direct ? fcntl(fd, F_GETFL) : 0;
    bool toggle = *direct && !direct_aligned(buf, off, len);
    if (toggle && fcntl(fd, F_SETFL, fl & ~O_DIRECT))
        return errno;
    char *p = buf;
    int e = 0;
    while (len) {
        ssize_t r = write ? pwrite(fd, p, len, (off_t)off) : pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EINVAL && *direct && !toggle) {
            *direct = false; /* not for this file system: the page cache from now on */
            if (fcntl(fd, F_SETFL, fl & ~O_DIRECT))
                return errno;
            continue;
        }
        if (r <= 0) {
            e = r < 0 ? errno : write ? ENOSPC : EIO;
            break;
        }
        p += r;
        off += (uint64_t)r;
        len -= (size_t)r;
    }
    if (toggle && fcntl(fd, F_SETFL, fl))
        return e ? e : errno;
    return e;
}

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

static hf_code io_error(hf_error *err, const char *what, const char *path, int e)
{
    if (e == ENOSPC || e == EDQUOT)
        return hf_error_set(err, HF_ERR_IO,
                            "the disk is full while writing %s; free space and run the same "
                            "command again to continue",
                            path);
    return hf_error_set(err, HF_ERR_IO, "cannot %s %s: %s", what, path, strerror(e));
}

static hf_code dir_write(void *user, size_t file, uint64_t off, const void *buf, size_t len,
                         hf_error *err)
{
    dir_sink *s = user;
    int fd = dir_fd(s, file, err);
    if (fd < 0)
        return err->code;
    int e = full_io(fd, &s->direct[file], true, (void *)buf, len, off);
    if (e)
        return io_error(err, "write", s->files[file].path, e);
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
    if (full_io(fd, &s->direct[file], false, buf, len, off))
        return hf_error_set(err, HF_ERR_IO, "cannot read back %s", s->files[file].path);
    return HF_OK;
}

/* ---- image sink ---------------------------------------------------------------------- */

typedef struct {
    hf_qcow2 *q;
    const hf_ext4_layout *layout;
    const hf_fetch_file *files;
    uint64_t unflushed;
    int direct_fd;          /* the image again, O_DIRECT, for aligned pieces; or -1 */
    bool direct;
} image_sink;

/* Writes or reads [off, off+len) of layout file `file` (named `name` in
 * messages), piece by piece along its extents. */
static hf_code image_io(image_sink *s, size_t file, const char *name, uint64_t off, char *buf,
                        size_t len, bool write, hf_error *err)
{
    const hf_ext4_file_map *m = &s->layout->files[file];
    uint64_t guest, in;
    while (len && hf_ext4_locate(m, off, &guest, &in)) {
        size_t n = len < in ? len : (size_t)in;
        uint64_t host = s->direct && n >= DIRECT_MIN_IO && direct_aligned(buf, guest, n)
                            ? hf_qcow2_host_offset(s->q, guest) : UINT64_MAX;
        if (write && host != UINT64_MAX && host % DIRECT_ALIGN == 0 &&
            hf_qcow2_host_offset(s->q, guest + n - 1) == host + n - 1) {
            /* inside one run of the image (contiguous on the host): past the page cache */
            int bad = full_io(s->direct_fd, &s->direct, true, buf, n, host);
            if (bad)
                return io_error(err, "write", name, bad);
        } else if (write) {
            hf_code rc = hf_qcow2_pwrite(s->q, buf, n, guest, err);
            if (rc) {
                if (err->code == HF_ERR_IO && strstr(err->msg, "space"))
                    return io_error(err, "write", name, ENOSPC);
                return rc;
            }
        } else {
            host = hf_qcow2_host_offset(s->q, guest);
            ssize_t r = host == UINT64_MAX ? -1 : pread(hf_qcow2_fd(s->q), buf, n, (off_t)host);
            if (r != (ssize_t)n)
                return hf_error_set(err, HF_ERR_IO, "cannot read back %s from the image", name);
        }
        buf += n;
        off += n;
        len -= n;
    }
    if (len)
        return hf_error_set(err, HF_ERR_PROTOCOL, "internal error: %s offset %llu is outside its layout",
                            name, (unsigned long long)off);
    return HF_OK;
}

static hf_code image_write(void *user, size_t file, uint64_t off, const void *buf, size_t len,
                           hf_error *err)
{
    image_sink *s = user;
    hf_code rc = image_io(s, file, s->files[file].path, off, (char *)buf, len, true, err);
    s->unflushed += len;
    if (!rc && s->unflushed >= WRITEBACK_EVERY) {
        sync_file_range(hf_qcow2_fd(s->q), 0, 0, SYNC_FILE_RANGE_WRITE);
        s->unflushed = 0;
    }
    return rc;
}

static hf_code image_read(void *user, size_t file, uint64_t off, void *buf, size_t len,
                          hf_error *err)
{
    image_sink *s = user;
    return image_io(s, file, s->files[file].path, off, buf, len, false, err);
}

/* ---- the run ----------------------------------------------------------------------------- */

static hf_fetch_options fetch_options(hf_client *cl, const hf_import_plan *p,
                                      const hf_import_options *opt, const char *journal,
                                      const char *key)
{
    return (hf_fetch_options){.endpoint = cl->hub.endpoint,
                              .token = cl->token,
                              .user_agent = cl->user_agent,
                              .repo_type = p->address.type,
                              .repo_id = p->address.repo_id,
                              .commit = p->tree.commit,
                              .max_connections = opt->max_connections,
                              .stall_timeout = opt->stall_timeout,
                              .low_speed_limit = opt->low_speed_limit,
                              .low_speed_time = opt->low_speed_time,
                              .retry_base_ms = opt->retry_base_ms,
                              .max_rate = opt->max_rate,
                              .journal_path = journal,
                              .journal_key = key,
                              .progress = opt->progress,
                              .progress_user = opt->progress_user};
}

static hf_manifest_info manifest_info(const hf_import_plan *p, const char *source)
{
    return (hf_manifest_info){.address = source,
                              .repo_type = p->address.type,
                              .repo_id = p->address.repo_id,
                              .revision = p->address.revision,
                              .commit = p->tree.commit,
                              .format = p->format == HF_FORMAT_DIR ? "dir" : "qcow2"};
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
                rc = io_error(err, "flush the directory of", path, bad);
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
                io_error(&e, "flush", path, errno);
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
            return io_error(err, "flush the file system of", "the import", errno);
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

static hf_code run_dir(hf_client *cl, const hf_import_plan *p, const char *source,
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
            rc = io_error(err, "allocate", p->files[i].path, e);
        /* A file of a new import was created empty just now, and fallocate
         * has set its size: one syscall less per file. A resumed file, or
         * one fallocate did not size, is sized here. */
        else if ((resume || e || (size && size < FALLOCATE_MIN)) && ftruncate(fd, (off_t)size))
            rc = io_error(err, "size", p->files[i].path, errno);
        close(fd);
        s.fds[i] = -1;
    }
    if (!rc) {
        hf_fetch_sink sink = {.user = &s, .write = dir_write, .read = dir_read};
        hf_fetch_options fo = fetch_options(cl, p, opt, journal, key);
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
        hf_manifest_info mi = manifest_info(p, source);
        rc = hf_manifest_render(&mi, p->files, p->n_files, 0, &text, &len, err);
        int fd = rc ? -1 : open_below(s.root, HF_MANIFEST_PATH, true, err);
        if (!rc && fd < 0)
            rc = err->code;
        if (!rc && (ftruncate(fd, 0) || write(fd, text, len) != (ssize_t)len))
            rc = io_error(err, "write", HF_MANIFEST_PATH, errno);
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

/* The disk's identity (README, "Disk identity"): a UUID named by
 *   "hfhub-disk 1\n" <model|dataset> "\n" <repo id, lowercase> "\n" <commit> "\n"
 * followed, only when the files taken are not the default selection, by
 * every path taken, sorted bytewise, each followed by "\n". The same text
 * gives the directory hash seed, so two imports of the same model, commit
 * and selection make the same filesystem. */
static int path_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static hf_code disk_identity(const hf_import_plan *p, uint8_t uuid[16], uint8_t seed[16],
                             hf_error *err)
{
    size_t n = p->tree.n;
    const char **paths = calloc(n + 1, sizeof *paths);
    bool *sel = calloc(n + 1, sizeof *sel);
    hf_buf name = {0};
    hf_code rc = HF_OK;
    if (!paths || !sel) {
        rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        paths[i] = p->tree.files[i].path;
    hf_select_rules none = {NULL, NULL};
    hf_select_files(paths, n, &none, sel);
    /* plan_make keeps the selected files in tree order, minus .hfhub/ */
    bool is_default = true;
    size_t k = 0;
    for (size_t i = 0; i < n && is_default; i++) {
        if (!sel[i] || !strcmp(paths[i], HF_MANIFEST_PATH) || !strncmp(paths[i], ".hfhub/", 7))
            continue;
        is_default = k < p->n_files && !strcmp(p->files[k].path, paths[i]);
        k++;
    }
    is_default = is_default && k == p->n_files;
    bool ok = hf_buf_printf(&name, "hfhub-disk 1\n%s\n",
                            p->address.type == HF_REPO_DATASET ? "dataset" : "model");
    for (const char *c = p->address.repo_id; ok && *c; c++) {
        char lower = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
        ok = hf_buf_append(&name, &lower, 1);
    }
    ok = ok && hf_buf_printf(&name, "\n%s\n", p->tree.commit);
    if (ok && !is_default) {
        for (size_t i = 0; i < p->n_files; i++)
            paths[i] = p->files[i].path;
        qsort(paths, p->n_files, sizeof *paths, path_cmp);
        for (size_t i = 0; ok && i < p->n_files; i++)
            ok = hf_buf_printf(&name, "%s\n", paths[i]);
    }
    if (!ok)
        rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    else
        hf_ext4_name_uuid(name.data, name.len, uuid, seed, NULL);
out:
    hf_buf_free(&name);
    free(paths);
    free(sel);
    return rc;
}

/* What both ways of making an image need: the ext4 layout of the files and
 * the manifest (the layout's last file), the filesystem's metadata in the
 * raw file meta, and the guest ranges the qcow2 must allocate. */
typedef struct {
    hf_ext4_layout layout;
    uint64_t manifest_size;
    hf_extent *meta_ranges;
    size_t n_meta;
    hf_range *ranges;
    size_t n_ranges;
} image_plan;

static void image_plan_free(image_plan *ip)
{
    hf_ext4_layout_free(&ip->layout);
    free(ip->meta_ranges);
    free(ip->ranges);
    memset(ip, 0, sizeof *ip);
}

static hf_code image_plan_make(const hf_import_plan *p, const char *meta, image_plan *ip,
                               hf_error *err)
{
    memset(ip, 0, sizeof *ip);
    size_t n = p->n_files + 1; /* + the manifest */
    hf_sized_file *sized = calloc(n, sizeof *sized);
    if (!sized)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < p->n_files; i++)
        sized[i] = (hf_sized_file){p->files[i].path, p->files[i].size};
    ip->manifest_size = hf_sizing_manifest_bytes(sized, p->n_files);
    sized[p->n_files] = (hf_sized_file){HF_MANIFEST_PATH, ip->manifest_size};

    /* Times are the commit's date (reproducible), else 1970-01-01. */
    uint8_t uuid[16], seed[16];
    hf_ext4_options eo = {.label = IMAGE_LABEL,
                          .mtime = hf_model_parse_time(p->tree.last_modified) > 0
                                       ? hf_model_parse_time(p->tree.last_modified)
                                       : 0,
                          .uuid = uuid,
                          .hash_seed = seed};
    hf_code rc = disk_identity(p, uuid, seed, err);
    if (!rc)
        rc = hf_ext4_build(meta, sized, n, &eo, &ip->layout, err);
    if (!rc)
        rc = hf_ext4_metadata_ranges(meta, &ip->layout, &ip->meta_ranges, &ip->n_meta, err);
    if (!rc) {
        size_t total = ip->n_meta;
        for (size_t i = 0; i < ip->layout.n_files; i++)
            total += ip->layout.files[i].n_extents;
        if (!(ip->ranges = calloc(total ? total : 1, sizeof *ip->ranges)))
            rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        size_t k = 0;
        for (size_t i = 0; !rc && i < ip->n_meta; i++)
            ip->ranges[k++] = (hf_range){ip->meta_ranges[i].image_offset, ip->meta_ranges[i].length};
        for (size_t i = 0; !rc && i < ip->layout.n_files; i++)
            for (size_t j = 0; j < ip->layout.files[i].n_extents; j++)
                ip->ranges[k++] = (hf_range){ip->layout.files[i].extents[j].image_offset,
                                             ip->layout.files[i].extents[j].length};
        ip->n_ranges = k;
    }
    free(sized);
    if (rc)
        image_plan_free(ip);
    return rc;
}

/* The manifest's text, padded to the size the layout gave it. */
static hf_code image_manifest(const hf_import_plan *p, const char *source, const image_plan *ip,
                              char **text, size_t *len, hf_error *err)
{
    hf_manifest_info mi = manifest_info(p, source);
    return hf_manifest_render(&mi, p->files, p->n_files, (size_t)ip->manifest_size, text, len,
                              err);
}

static hf_code run_image(hf_client *cl, const hf_import_plan *p, const char *source,
                         const char *part, const char *journal, const char *meta,
                         const char *key, bool resume, const hf_import_options *opt,
                         hf_import_result *res, hf_error *err)
{
    image_plan ip;
    hf_qcow2 *q = NULL;
    hf_code rc = image_plan_make(p, meta, &ip, err);
    if (rc)
        return rc;
    rc = hf_qcow2_create(part, ip.layout.fs_bytes, ip.ranges, ip.n_ranges, resume, &q, err);
    if (rc && resume) {
        /* the work file does not fit this layout: start afresh */
        unlink(journal);
        res->resumed = false;
        rc = hf_qcow2_create(part, ip.layout.fs_bytes, ip.ranges, ip.n_ranges, false, &q, err);
    }
    if (!rc && !res->resumed) {
        /* The image's clusters are allocated now, as the directory form's
         * files are: a full disk shows before the download, and the data
         * writes fill allocated blocks instead of extending the file. */
        int qfd = hf_qcow2_fd(q);
        off_t size = (off_t)hf_qcow2_file_size(q);
        if (fallocate(qfd, 0, 0, size) && errno != EOPNOTSUPP && errno != ENOSYS)
            rc = io_error(err, "allocate", part, errno);
        else if (ftruncate(qfd, size))
            rc = io_error(err, "size", part, errno);
    }
    /* the filesystem's metadata goes into the image as laid out */
    int mfd = rc ? -1 : open(meta, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (!rc && mfd < 0)
        rc = hf_error_set(err, HF_ERR_IO, "cannot read %s: %s", meta, strerror(errno));
    char *buf = rc ? NULL : malloc((size_t)1 << 20);
    if (!rc && !buf)
        rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < ip.n_meta; i++) {
        const hf_extent *m = &ip.meta_ranges[i];
        for (uint64_t done = 0; !rc && done < m->length;) {
            size_t len = m->length - done < ((uint64_t)1 << 20) ? (size_t)(m->length - done)
                                                                : (size_t)1 << 20;
            uint64_t at = m->image_offset + done;
            if (pread(mfd, buf, len, (off_t)at) != (ssize_t)len)
                rc = hf_error_set(err, HF_ERR_IO, "cannot read %s", meta);
            else
                rc = hf_qcow2_pwrite(q, buf, len, at, err);
            done += len;
        }
    }
    free(buf);
    if (mfd >= 0)
        close(mfd);
    image_sink s = {.q = q, .layout = &ip.layout, .files = p->files, .direct_fd = -1};
    if (!rc && (s.direct_fd = open(part, O_WRONLY | O_DIRECT | O_NOFOLLOW | O_CLOEXEC)) >= 0)
        s.direct = true;
    if (!rc) {
        hf_fetch_sink sink = {.user = &s, .write = image_write, .read = image_read};
        hf_fetch_options fo = fetch_options(cl, p, opt, journal, key);
        rc = hf_fetch_run(p->files, p->n_files, &fo, &sink, &res->fetch, err);
    }
    if (!rc) {
        char *text = NULL;
        size_t len = 0;
        rc = image_manifest(p, source, &ip, &text, &len, err);
        /* the manifest is the layout's last file */
        if (!rc)
            rc = image_io(&s, p->n_files, HF_MANIFEST_PATH, 0, text, len, true, err);
        free(text);
    }
    if (s.direct_fd >= 0)
        close(s.direct_fd);
    if (!rc)
        rc = hf_qcow2_finish(q, err);
    hf_qcow2_close(q);
    image_plan_free(&ip);
    return rc;
}

/* ---- the image as a stream ---------------------------------------------------------- */

typedef struct {
    hf_image_stream *st;
    const hf_ext4_layout *layout;
} stream_sink;

/* Sends [off, off+len) of layout file `file` along its extents. */
static hf_code stream_file_bytes(stream_sink *s, size_t file, uint64_t off, const void *buf,
                                 size_t len, hf_error *err)
{
    const char *p = buf;
    uint64_t guest, in;
    while (len && hf_ext4_locate(&s->layout->files[file], off, &guest, &in)) {
        size_t n = len < in ? len : (size_t)in;
        hf_code rc = hf_image_stream_put(s->st, guest, p, n, err);
        if (rc)
            return rc;
        p += n;
        off += n;
        len -= n;
    }
    if (len)
        return hf_error_set(err, HF_ERR_PROTOCOL,
                            "internal error: offset %llu of file %zu is outside its layout",
                            (unsigned long long)off, file);
    return HF_OK;
}

static hf_code stream_emit(void *user, size_t file, uint64_t off, const void *buf, size_t len,
                           hf_error *err)
{
    return stream_file_bytes(user, file, off, buf, len, err);
}

static int cmp_first_extent(const void *a, const void *b, void *arg)
{
    const hf_ext4_layout *layout = arg;
    const hf_ext4_file_map *x = &layout->files[*(const size_t *)a];
    const hf_ext4_file_map *y = &layout->files[*(const size_t *)b];
    uint64_t u = x->n_extents ? x->extents[0].image_offset : 0;
    uint64_t v = y->n_extents ? y->extents[0].image_offset : 0;
    return u < v ? -1 : u > v;
}

/* The order in which the files' bytes appear in the image (empty files
 * first), or NULL when the layout cannot be written in one pass: a file's
 * extents going backwards, or two files interleaved, or the manifest (the
 * layout's last file, written after every other) not last. */
static size_t *stream_order(const hf_ext4_layout *layout, size_t n)
{
    size_t *order = malloc((n + 1) * sizeof *order);
    if (!order)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        order[i] = i;
    qsort_r(order, n + 1, sizeof *order, cmp_first_extent, (void *)layout);
    uint64_t end = 0;
    bool ok = layout->files[order[n]].n_extents > 0 && order[n] == n;
    for (size_t k = 0; ok && k <= n; k++) {
        const hf_ext4_file_map *m = &layout->files[order[k]];
        for (size_t j = 0; ok && j < m->n_extents; j++) {
            ok = m->extents[j].image_offset >= end;
            end = m->extents[j].image_offset + m->extents[j].length;
        }
    }
    if (!ok) {
        free(order);
        return NULL;
    }
    return order; /* order[0..n-1] are the model's files: the manifest sorted last */
}

static hf_code run_image_stream(hf_client *cl, const hf_import_plan *p, const char *source,
                                const char *head, const char *meta, const hf_import_options *opt,
                                hf_import_result *res, bool *not_streamable, hf_error *err)
{
    image_plan ip;
    hf_qcow2 *q = NULL;
    hf_image_stream *st = NULL;
    size_t *order = NULL;
    int mfd = -1;
    hf_code rc = image_plan_make(p, meta, &ip, err);
    if (rc)
        return rc;
    if (!(order = stream_order(&ip.layout, p->n_files))) {
        *not_streamable = true;
        rc = hf_error_set(err, HF_ERR_INVALID, "the image's layout cannot be written in one pass");
        goto out;
    }
    rc = hf_qcow2_create(head, ip.layout.fs_bytes, ip.ranges, ip.n_ranges, false, &q, err);
    if (!rc && (mfd = open(meta, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        rc = hf_error_set(err, HF_ERR_IO, "cannot read %s: %s", meta, strerror(errno));
    if (!rc)
        rc = hf_image_stream_open(q, hf_qcow2_fd(q), mfd, ip.meta_ranges, ip.n_meta,
                                  opt->stream_fd, &st, err);
    stream_sink ss = {.st = st, .layout = &ip.layout};
    if (!rc) {
        hf_fetch_sink none = {0};
        hf_fetch_options fo = fetch_options(cl, p, opt, NULL, NULL);
        fo.emit = stream_emit;
        fo.emit_user = &ss;
        fo.stream_order = order;
        fo.stream_window = opt->stream_window;
        rc = hf_fetch_run(p->files, p->n_files, &fo, &none, &res->fetch, err);
    }
    if (!rc) {
        char *text = NULL;
        size_t len = 0;
        rc = image_manifest(p, source, &ip, &text, &len, err);
        if (!rc)
            rc = stream_file_bytes(&ss, p->n_files, 0, text, len, err);
        free(text);
    }
    if (!rc)
        rc = hf_image_stream_finish(st, err);
    if (!rc)
        res->disk_bytes = hf_image_stream_written(st);
out:
    hf_image_stream_free(st);
    if (mfd >= 0)
        close(mfd);
    hf_qcow2_close(q);
    free(order);
    image_plan_free(&ip);
    return rc;
}

hf_code hf_import_run(hf_client *cl, const hf_import_plan *p, const char *dest,
                      const hf_import_options *opt, hf_import_result *res, hf_error *err)
{
    memset(res, 0, sizeof *res);
    res->work_lock_fd = -1;
    struct stat st;
    if (opt->keep_in_work || opt->stream ? !opt->work_prefix : !dest)
        return hf_error_set(err, HF_ERR_USAGE, "internal error: an import without a destination");
    if (opt->stream && p->format != HF_FORMAT_QCOW2)
        return hf_error_set(err, HF_ERR_USAGE, "internal error: only images are streamed");
    if (dest && !lstat(dest, &st))
        return hf_error_set(err, HF_ERR_INVALID,
                            "%s already exists; remove it or choose another destination", dest);
    const char *base = opt->work_prefix ? opt->work_prefix : dest;
    char *lock_path = NULL;
    int lock_fd = -1;
    bool locked = false;
    char *part = path_with(base, ".hfhub-part");
    char *journal = path_with(base, ".hfhub-journal");
    char *meta = path_with(base, ".hfhub-meta");
    char *head = path_with(base, ".hfhub-head");
    hf_code rc = HF_OK;
    if (!part || !journal || !meta || !head) {
        rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* one import at a time per set of work files (two exports of the same
     * model into one datastore would otherwise share them) */
    lock_path = path_with(base, ".hfhub-lock");
    lock_fd = lock_path ? open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600) : -1;
    if (lock_fd < 0 && errno == ELOOP && !unlink(lock_path)) /* a planted symlink: never followed */
        lock_fd = open(lock_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lock_fd < 0) {
        rc = hf_error_set(err, HF_ERR_IO, "cannot create the lock file %s: %s",
                          lock_path ? lock_path : "", strerror(errno));
        goto out;
    }
    if (flock(lock_fd, LOCK_EX | LOCK_NB)) {
        rc = hf_error_set(err, HF_ERR_IO,
                          "another import of the same model is writing %s now; wait for it to "
                          "finish, then run this again (it will continue from that work)",
                          part);
        goto out;
    }
    locked = true;
    if (opt->stream) {
        /* nothing to resume, nothing to check the space for: the image
         * itself never lands here */
        rc = run_image_stream(cl, p, p->source, head, meta, opt, res, &res->not_streamable, err);
        unlink(head);
        unlink(meta);
        if (!rc && lstat(part, &st) && lstat(journal, &st))
            unlink(lock_path);
        goto out;
    }
    char key[65];
    journal_key(cl->hub.endpoint, p, key);
    bool resume = journal_matches(journal, key) && !lstat(part, &st);
    res->resumed = resume;
    if (!resume) {
        /* leftovers of an import of something else (or of nothing) */
        unlink(journal);
        if ((rc = hf_remove_tree(part, err)))
            goto out;
    }
    uint64_t present = resume ? disk_usage(part) : 0;
    if ((rc = check_space(dest ? dest : part, p->stored_bytes, present, err)))
        goto out;
    if (p->format == HF_FORMAT_DIR)
        rc = run_dir(cl, p, p->source, part, journal, key, resume, opt, res, err);
    else
        rc = run_image(cl, p, p->source, part, journal, meta, key, resume, opt, res, err);
    if (rc)
        goto out;
    if (opt->keep_in_work) {
        res->disk_bytes = p->format == HF_FORMAT_DIR ? p->stored_bytes : disk_usage(part);
        res->work_lock_fd = lock_fd; /* held while the caller streams the part out */
        lock_fd = -1;
        goto out;
    }
    if (rename(part, dest)) {
        rc = hf_error_set(err, HF_ERR_IO, "cannot move %s to %s: %s", part, dest,
                          strerror(errno));
        goto out;
    }
    if ((rc = fsync_parent(dest, err))) /* DEST's own entry, before exit 0 */
        goto out;
    unlink(journal);
    unlink(meta);
    unlink(lock_path);
    res->disk_bytes = p->format == HF_FORMAT_DIR ? p->stored_bytes : disk_usage(dest);
out:
    if (rc && locked && lstat(part, &st) && lstat(journal, &st))
        unlink(lock_path); /* nothing to resume: leave nothing behind */
    if (lock_fd >= 0)
        close(lock_fd); /* releases the lock */
    free(lock_path);
    free(part);
    free(journal);
    free(meta);
    free(head);
    return rc;
}

char *hf_import_result_path(const char *work_prefix)
{
    return path_with(work_prefix, ".hfhub-part");
}

void hf_import_release(hf_import_result *res)
{
    if (res && res->work_lock_fd >= 0) {
        close(res->work_lock_fd);
        res->work_lock_fd = -1;
    }
}

hf_code hf_import_discard_work(const char *work_prefix, hf_import_result *res, hf_error *err)
{
    static const char *const suffixes[] = {".hfhub-part", ".hfhub-journal", ".hfhub-meta",
                                           ".hfhub-head", ".hfhub-lock"};
    hf_code rc = HF_OK;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0] && !rc; i++) {
        char *path = path_with(work_prefix, suffixes[i]);
        rc = path ? hf_remove_tree(path, err) : hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        free(path);
    }
    hf_import_release(res);
    return rc;
}
