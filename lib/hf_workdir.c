/* Work directories for imports: where they live and when they are trusted
 * (see hf_workdir.h for the rules). */
#include "hf_workdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static hf_code foreign_owner(const char *path, uid_t owner, uid_t uid, hf_error *err)
{
    return hf_error_set(err, HF_ERR_IO,
                        "the work directory %s belongs to uid %ld, not to this user (uid %ld); it "
                        "is not used: remove it (or chown it to this user), or set HFHUB_WORK_DIR "
                        "to a directory of your own",
                        path, (long)owner, (long)uid);
}

hf_code hf_workdir_check(const char *path, uid_t uid, bool create, hf_error *err)
{
    if (create && mkdir(path, 0700) && errno != EEXIST)
        return hf_error_set(err, HF_ERR_IO, "cannot create the work directory %s: %s", path,
                            strerror(errno));
    /* open without following a symlink, then judge what was opened */
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        struct stat lst;
        bool seen = !lstat(path, &lst);
        if (seen && S_ISDIR(lst.st_mode) && lst.st_uid != uid)
            return foreign_owner(path, lst.st_uid, uid, err);
        if (seen && S_ISLNK(lst.st_mode))
            return hf_error_set(err, HF_ERR_IO,
                                "the work directory %s is a symbolic link; it is not used (someone "
                                "may have planted it): remove it, or set HFHUB_WORK_DIR to a "
                                "directory of your own",
                                path);
        if (e == ENOTDIR)
            return hf_error_set(err, HF_ERR_IO,
                                "the work directory %s is not a directory; remove it, or set "
                                "HFHUB_WORK_DIR to a directory of your own",
                                path);
        return hf_error_set(err, HF_ERR_IO, "cannot open the work directory %s: %s", path,
                            strerror(e));
    }
    struct stat st;
    int rc = fstat(fd, &st);
    close(fd);
    if (rc)
        return hf_error_set(err, HF_ERR_IO, "cannot inspect the work directory %s: %s", path,
                            strerror(errno));
    if (st.st_uid != uid)
        return foreign_owner(path, st.st_uid, uid, err);
    if (st.st_mode & 077)
        return hf_error_set(err, HF_ERR_IO,
                            "the work directory %s is open to other users (mode %03o); it is not "
                            "used: 'chmod 0700 %s', or remove it",
                            path, (unsigned)(st.st_mode & 0777), path);
    return HF_OK;
}

const char *hf_workdir_base(const char *work_dir_env, const char *tmpdir_env)
{
    if (work_dir_env && *work_dir_env)
        return work_dir_env;
    if (tmpdir_env && *tmpdir_env)
        return tmpdir_env;
    return "/var/tmp";
}

static hf_code checked_dir(char *path, uid_t uid, char **dir_out, hf_error *err)
{
    if (!path)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    hf_code rc = hf_workdir_check(path, uid, true, err);
    if (rc) {
        free(path);
        return rc;
    }
    *dir_out = path;
    return HF_OK;
}

hf_code hf_workdir_private(const char *base, uid_t uid, char **dir_out, hf_error *err)
{
    *dir_out = NULL;
    if (!base || !*base)
        return hf_error_set(err, HF_ERR_USAGE, "the work directory's base is empty");
    size_t n = strlen(base) + 32;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/hfhub-%ld", base, (long)uid);
    return checked_dir(path, uid, dir_out, err);
}

hf_code hf_workdir_beside(const char *dest, uid_t uid, char **dir_out, hf_error *err)
{
    *dir_out = NULL;
    const char *slash = strrchr(dest, '/');
    size_t dlen = slash ? (size_t)(slash - dest) : 1;
    const char *dir = slash ? dest : ".";
    if (slash && dlen == 0)
        dlen = 1; /* "/x": the root directory */
    size_t n = dlen + 16;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%.*s/.hfhub-work", (int)dlen, dir);
    return checked_dir(path, uid, dir_out, err);
}

hf_code hf_workdir_for_dest(const char *dest, const char *base, uid_t uid, char **dir_out,
                            hf_error *err)
{
    const char *slash = strrchr(dest, '/');
    size_t dlen = slash ? (size_t)(slash - dest) : 1;
    char parent[4096];
    snprintf(parent, sizeof parent, "%.*s", (int)(dlen ? dlen : 1), slash ? dest : ".");
    struct stat st;
    if (!stat(parent, &st) && (st.st_mode & S_IWOTH))
        return hf_workdir_private(base, uid, dir_out, err);
    return hf_workdir_beside(dest, uid, dir_out, err);
}

char *hf_workdir_prefix(const char *dir, const char *endpoint, const char *source,
                        hf_format format)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return NULL;
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    char fmt[16];
    snprintf(fmt, sizeof fmt, "\n%d", (int)format);
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, endpoint ? endpoint : "", endpoint ? strlen(endpoint) : 0);
    EVP_DigestUpdate(ctx, "\n", 1);
    EVP_DigestUpdate(ctx, source, strlen(source));
    EVP_DigestUpdate(ctx, fmt, strlen(fmt));
    EVP_DigestFinal_ex(ctx, d, &n);
    EVP_MD_CTX_free(ctx);
    size_t len = strlen(dir) + 2 + 16 + 1;
    char *out = malloc(len);
    if (!out)
        return NULL;
    snprintf(out, len, "%s/%02x%02x%02x%02x%02x%02x%02x%02x", dir, d[0], d[1], d[2], d[3], d[4],
             d[5], d[6], d[7]);
    return out;
}

/* Empties the directory open as dfd (which it closes), depth first. */
static hf_code empty_dir(int dfd, const char *path, int depth, hf_error *err)
{
    if (depth > 256) {
        close(dfd);
        return hf_error_set(err, HF_ERR_IO, "%s is nested too deeply to remove", path);
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return hf_error_set(err, HF_ERR_IO, "cannot list %s: %s", path, strerror(errno));
    }
    hf_code rc = HF_OK;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (!unlinkat(dirfd(d), e->d_name, 0))
            continue;
        if (errno != EISDIR && errno != EPERM) {
            rc = hf_error_set(err, HF_ERR_IO, "cannot remove %s/%s: %s", path, e->d_name,
                              strerror(errno));
            break;
        }
        int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
            rc = hf_error_set(err, HF_ERR_IO, "cannot open %s/%s: %s", path, e->d_name,
                              strerror(errno));
            break;
        }
        rc = empty_dir(sub, path, depth + 1, err);
        if (!rc && unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR))
            rc = hf_error_set(err, HF_ERR_IO, "cannot remove %s/%s: %s", path, e->d_name,
                              strerror(errno));
    }
    closedir(d);
    return rc;
}

hf_code hf_remove_tree(const char *path, hf_error *err)
{
    struct stat st;
    if (lstat(path, &st))
        return errno == ENOENT ? HF_OK
                               : hf_error_set(err, HF_ERR_IO, "cannot inspect %s: %s", path,
                                              strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return unlink(path) && errno != ENOENT
                   ? hf_error_set(err, HF_ERR_IO, "cannot remove %s: %s", path, strerror(errno))
                   : HF_OK;
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return hf_error_set(err, HF_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    hf_code rc = empty_dir(dfd, path, 0, err);
    if (!rc && rmdir(path))
        rc = hf_error_set(err, HF_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    return rc;
}
