/* Imports (see hf_import.h): planning, the work files (lock, journal key,
 * space check) and the steps that make DEST appear only when complete. The
 * forms are in hf_import_dir.c and hf_import_image.c. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "hf_import.h"
#include "hf_import_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "hf_select.h"
#include "hf_sizing.h"
#include "hf_workdir.h"

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

hf_code import_io_error(hf_error *err, const char *what, const char *path, int e)
{
    if (e == ENOSPC || e == EDQUOT)
        return hf_error_set(err, HF_ERR_IO,
                            "the disk is full while writing %s; free space and run the same "
                            "command again to continue",
                            path);
    return hf_error_set(err, HF_ERR_IO, "cannot %s %s: %s", what, path, strerror(e));
}

/* ---- the run ----------------------------------------------------------------------------- */

hf_fetch_options import_fetch_options(hf_client *cl, const hf_import_plan *p,
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

hf_manifest_info import_manifest_info(const hf_import_plan *p, const char *source)
{
    return (hf_manifest_info){.address = source,
                              .repo_type = p->address.type,
                              .repo_id = p->address.repo_id,
                              .revision = p->address.revision,
                              .commit = p->tree.commit,
                              .format = p->format == HF_FORMAT_DIR ? "dir" : "qcow2"};
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
        rc = import_run_image_stream(cl, p, p->source, head, meta, opt, res, &res->not_streamable, err);
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
        rc = import_run_dir(cl, p, p->source, part, journal, key, resume, opt, res, err);
    else
        rc = import_run_image(cl, p, p->source, part, journal, meta, key, resume, opt, res, err);
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
