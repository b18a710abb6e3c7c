/* Metadata-only ext4 builder (see hf_ext4.h). mke2fs formats an empty
 * filesystem of exactly hf_sizing_ext4() bytes in a sparse file; libext2fs
 * then allocates the inodes, writes every directory whole (entries packed in
 * name order), allocates every file's blocks as initialised extents without
 * writing them, and reads the extent trees back into the "file offset ->
 * image offset" maps. The data blocks stay holes in the raw file until the
 * downloader fills them. */
#include "hf_ext4.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <et/com_err.h>
#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <openssl/sha.h>

#include "hf_repo_path.h"
#include "hf_token.h"

extern char **environ;

#define BLOCK ((uint64_t)HF_EXT4_BLOCK)
#define LABEL_MAX 16
/* Spare inodes beyond the files and directories, like hf_sizing's count. */
#define INODE_SLACK 16

/* ---- paths: validation and the directory list --------------------------- */

typedef struct {
    const char *path; /* not NUL-terminated at len */
    size_t len;
    size_t file;      /* index in files[] for a file, SIZE_MAX for a directory */
    size_t parent;    /* directories: index of the parent in the list (root: 0) */
    ext2_ino_t ino;   /* directories, once allocated */
} node;

static int name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int node_cmp(const void *pa, const void *pb)
{
    const node *a = pa, *b = pb;
    int c = name_cmp(a->path, a->len, b->path, b->len);
    if (c)
        return c;
    /* Files in input order, then the directory entries of that name. */
    return (a->file > b->file) - (a->file < b->file);
}

/* Length of the parent directory's path; *base = offset of the last name. */
static size_t parent_len(const char *path, size_t len, size_t *base)
{
    size_t cut = len;
    while (cut > 0 && path[cut - 1] != '/')
        cut--;
    *base = cut;
    return cut ? cut - 1 : 0;
}

/* Index of directory path[0..len) in the sorted list (root = 0). */
static size_t find_dir(const node *dirs, size_t ndirs, const char *path, size_t len)
{
    node key = {path, len, SIZE_MAX, 0, 0};
    const node *d = bsearch(&key, dirs, ndirs, sizeof *dirs, node_cmp);
    return d ? (size_t)(d - dirs) : 0; /* always found: the list holds every parent */
}

/* Sorts every file and every parent prefix, rejects unsafe, duplicate and
 * file-vs-directory paths, and leaves the distinct directories in *dirs:
 * the root first, parents before children (a prefix sorts first), each with
 * the index of its parent. */
static hf_code plan_paths(const hf_sized_file *files, size_t n, node **dirs, size_t *ndirs,
                          hf_error *err)
{
    *dirs = NULL;
    *ndirs = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = files[i].path;
        if (!p || !hf_repo_path_is_safe(p))
            return hf_error_set(err, HF_ERR_INVALID, "ext4 image: unsafe file path \"%s\"",
                                p ? p : "(null)");
        if (strcspn(p, "/") == 10 && !memcmp(p, "lost+found", 10))
            return hf_error_set(err, HF_ERR_INVALID,
                                "ext4 image: path \"%s\" uses the reserved name lost+found", p);
        total++;
        for (const char *s = p; *s; s++)
            total += *s == '/';
    }
    node *all = calloc(total + 1, sizeof *all);
    if (!all)
        return hf_error_set(err, HF_ERR_NOMEM, "ext4 image: out of memory");
    all[0] = (node){"", 0, SIZE_MAX, 0, EXT2_ROOT_INO};
    size_t k = 1;
    for (size_t i = 0; i < n; i++) {
        const char *p = files[i].path;
        for (const char *s = p; *s; s++)
            if (*s == '/')
                all[k++] = (node){p, (size_t)(s - p), SIZE_MAX, 0, 0};
        all[k++] = (node){p, strlen(p), i, 0, 0};
    }
    qsort(all + 1, total, sizeof *all, node_cmp);

    hf_code rc = HF_OK;
    size_t nd = 1;
    for (size_t i = 1; i <= total && rc == HF_OK;) {
        size_t j = i, nfiles = 0, ndir = 0;
        for (; j <= total && !name_cmp(all[i].path, all[i].len, all[j].path, all[j].len); j++)
            all[j].file == SIZE_MAX ? ndir++ : nfiles++;
        int len = (int)all[i].len;
        if (nfiles > 1)
            rc = hf_error_set(err, HF_ERR_INVALID, "ext4 image: duplicate path \"%.*s\"", len,
                              all[i].path);
        else if (nfiles && ndir)
            rc = hf_error_set(err, HF_ERR_INVALID,
                              "ext4 image: \"%.*s\" is both a file and a directory", len,
                              all[i].path);
        else if (ndir)
            all[nd++] = all[i]; /* nd <= i: compacting in place is safe */
        i = j;
    }
    if (rc != HF_OK) {
        free(all);
        return rc;
    }
    for (size_t i = 1; i < nd; i++) {
        size_t base;
        all[i].parent = find_dir(all, i, all[i].path, parent_len(all[i].path, all[i].len, &base));
    }
    *dirs = all;
    *ndirs = nd;
    return HF_OK;
}

/* ---- mke2fs ------------------------------------------------------------- */

static bool find_program(const char *prog, char *buf, size_t cap)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    /* Unprivileged users often lack the sbin directories in PATH. */
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/sbin", path ? path : "");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if ((size_t)snprintf(buf, cap, "%s/%s", d, prog) < cap && access(buf, X_OK) == 0)
            return true;
    }
    return false;
}

/* Runs argv (no shell) with envp (NULL: ours), its stdout and stderr going
 * into the error message when it fails, and into out[cap] (when given)
 * either way. */
static hf_code run_quiet(char *const argv[], char *const envp[], char *text, size_t cap,
                         hf_error *err)
{
    int fds[2];
    if (pipe(fds) != 0)
        return hf_error_set(err, HF_ERR_IO, "ext4 image: pipe: %s", strerror(errno));
    /* Close-on-exec so that only the dup2'ed copies reach mke2fs (or its
     * output never ends), and above 2 so that the child's own redirections
     * cannot clobber them when the caller runs with stdio closed. */
    for (int i = 0; i < 2; i++) {
        int d = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        close(fds[i]);
        fds[i] = d;
    }
    if (fds[0] < 0 || fds[1] < 0) {
        int e = errno;
        if (fds[0] >= 0)
            close(fds[0]);
        if (fds[1] >= 0)
            close(fds[1]);
        return hf_error_set(err, HF_ERR_IO, "ext4 image: pipe: %s", strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    pid_t pid;
    char **clean = envp ? NULL : hf_env_without_secrets(environ); /* never the token */
    int e = envp || clean ? posix_spawn(&pid, argv[0], &fa, NULL, argv, envp ? envp : clean)
                          : ENOMEM;
    free(clean);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (e != 0) {
        close(fds[0]);
        return hf_error_set(err, HF_ERR_IO, "ext4 image: cannot run %s: %s", argv[0], strerror(e));
    }
    char out[600];
    size_t used = 0;
    for (;;) {
        char chunk[4096];
        ssize_t r = read(fds[0], chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t take = (size_t)r < sizeof out - 1 - used ? (size_t)r : sizeof out - 1 - used;
        memcpy(out + used, chunk, take);
        used += take;
    }
    close(fds[0]);
    out[used] = '\0';
    if (text && cap)
        snprintf(text, cap, "%s", out);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return hf_error_set(err, HF_ERR_IO, "ext4 image: waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return HF_OK;
    for (char *c = out; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
    while (used > 0 && out[used - 1] == ' ')
        out[--used] = '\0';
    if (WIFEXITED(status))
        return hf_error_set(err, HF_ERR_IO, "ext4 image: %s exited with status %d: %s", argv[0],
                            WEXITSTATUS(status), out);
    return hf_error_set(err, HF_ERR_IO, "ext4 image: %s killed by signal %d: %s", argv[0],
                        WTERMSIG(status), out);
}

/* ---- mke2fs: version, options ------------------------------------------ */

unsigned hf_ext4_mke2fs_version(const char *text)
{
    const char *p = text ? strstr(text, "mke2fs ") : NULL;
    if (!p)
        return 0;
    p += 7;
    unsigned part[3] = {0, 0, 0};
    int n = 0;
    while (n < 3) {
        if (*p < '0' || *p > '9')
            break;
        unsigned v = 0;
        while (*p >= '0' && *p <= '9' && v < 1000)
            v = v * 10 + (unsigned)(*p++ - '0');
        if (v >= 100 || (*p >= '0' && *p <= '9'))
            return 0;
        part[n++] = v;
        if (*p != '.')
            break;
        p++;
    }
    if (n < 2 || part[0] == 0)
        return 0;
    return part[0] * 10000 + part[1] * 100 + part[2];
}

hf_mke2fs_mode hf_ext4_mke2fs_mode_for(unsigned version)
{
    return version >= HF_MKE2FS_PREZEROED_VERSION ? HF_MKE2FS_PREZEROED : HF_MKE2FS_PORTABLE;
}

const char *hf_ext4_mke2fs_extended(hf_mke2fs_mode mode)
{
    /* lazy_itable_init: mke2fs writes only the used part of each inode
     * table, never the whole (it would fill the sparse file).
     * assume_storage_prezeroed also skips that part and marks the tables
     * zeroed; populate() sets the same marks for the portable options. */
    return mode == HF_MKE2FS_PREZEROED
               ? "root_owner=0:0,lazy_itable_init=1,nodiscard,assume_storage_prezeroed=1"
               : "root_owner=0:0,lazy_itable_init=1,nodiscard";
}

/* The version of the mke2fs at prog, asked once per process (per path). */
static unsigned mke2fs_version_of(const char *prog, hf_error *err)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char cached_prog[4096];
    static unsigned cached;
    pthread_mutex_lock(&lock);
    if (!strcmp(cached_prog, prog)) {
        unsigned v = cached;
        pthread_mutex_unlock(&lock);
        return v;
    }
    char text[600] = "";
    char *argv[] = {(char *)prog, "-V", NULL};
    hf_error ignored = {0};
    unsigned v = 0;
    if (run_quiet(argv, NULL, text, sizeof text, &ignored) == HF_OK)
        v = hf_ext4_mke2fs_version(text);
    if (v && v < HF_MKE2FS_MIN_VERSION) {
        pthread_mutex_unlock(&lock);
        hf_error_set(err, HF_ERR_IO,
                     "ext4 image: %s is version %u.%u.%u; hfhub needs e2fsprogs >= 1.44 "
                     "(install a newer e2fsprogs)",
                     prog, v / 10000, v / 100 % 100, v % 100);
        return 0;
    }
    snprintf(cached_prog, sizeof cached_prog, "%s", prog);
    cached = v ? v : 1; /* 1: asked, not recognised */
    pthread_mutex_unlock(&lock);
    return cached;
}

static void uuid_text(const uint8_t u[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[u[i] >> 4];
        out[k++] = hex[u[i] & 15];
    }
    out[k] = '\0';
}

void hf_ext4_name_uuid(const void *name, size_t len, uint8_t uuid[16], uint8_t hash_seed[16],
                       char text[37])
{
    unsigned char d[32];
    SHA256(name, len, d);
    memcpy(uuid, d, 16);
    uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x80); /* version 8 */
    uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* variant 10 */
    if (hash_seed)
        memcpy(hash_seed, d + 16, 16);
    if (text)
        uuid_text(uuid, text);
}

/* The features, whatever the local mke2fs.conf enables (hf_sizing counts
 * on exactly these): what Debian's and RHEL's ext4 type gives, minus the
 * journal and resize_inode. */
#define FEATURES "none,ext_attr,dir_index,filetype,extent,64bit,flex_bg,sparse_super," \
                 "large_file,huge_file,dir_nlink,extra_isize,metadata_csum"

/* Our environment with mke2fs's clock set to t: E2FSPROGS_FAKE_TIME (1.44
 * on) and SOURCE_DATE_EPOCH (1.47.1 on, where it wins over the former). */
static char **env_with_time(int64_t t, char *buf, size_t cap)
{
    char **clean = hf_env_without_secrets(environ); /* mke2fs never sees the token */
    if (!clean)
        return NULL;
    size_t n = 0;
    while (clean[n])
        n++;
    char **env = calloc(n + 3, sizeof *env);
    if (!env) {
        free(clean);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(clean[i], "E2FSPROGS_FAKE_TIME=", 20) &&
            strncmp(clean[i], "SOURCE_DATE_EPOCH=", 18))
            env[k++] = clean[i];
    free(clean);
    int len = snprintf(buf, cap, "E2FSPROGS_FAKE_TIME=%lld", (long long)t) + 1;
    env[k++] = buf;
    snprintf(buf + len, cap - (size_t)len, "SOURCE_DATE_EPOCH=%lld", (long long)t);
    env[k++] = buf + len;
    env[k] = NULL;
    return env;
}

static hf_code format_empty(const char *raw, uint64_t blocks, uint64_t inodes,
                            const hf_ext4_options *o, const char *label, int64_t sb_time,
                            hf_error *err)
{
    char prog[4096], nbuf[32], bbuf[32];
    if (!find_program("mke2fs", prog, sizeof prog))
        return hf_error_set(err, HF_ERR_IO,
                            "ext4 image: mke2fs not found (install e2fsprogs >= 1.44)");
    hf_mke2fs_mode mode = o ? o->mke2fs : HF_MKE2FS_AUTO;
    bool detected = mode == HF_MKE2FS_AUTO;
    if (detected) {
        unsigned v = mke2fs_version_of(prog, err);
        if (!v)
            return err->code;
        mode = hf_ext4_mke2fs_mode_for(v);
    }
    snprintf(nbuf, sizeof nbuf, "%llu", (unsigned long long)inodes);
    snprintf(bbuf, sizeof bbuf, "%llu", (unsigned long long)blocks);
    char uuid[37] = "", seed[37] = "", ext[200], tbuf[128];
    if (o && o->uuid)
        uuid_text(o->uuid, uuid);
    if (o && o->hash_seed)
        uuid_text(o->hash_seed, seed);
    char **env = env_with_time(sb_time, tbuf, sizeof tbuf);
    if (!env)
        return hf_error_set(err, HF_ERR_NOMEM, "ext4 image: out of memory");
    hf_code rc;
    for (;;) {
        snprintf(ext, sizeof ext, "%s%s%s", hf_ext4_mke2fs_extended(mode),
                 seed[0] ? ",hash_seed=" : "", seed);
        char *argv[32] = {prog, "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-m", "0",
                          "-G", "16", "-N", nbuf, "-O", FEATURES, "-E", ext, "-L",
                          (char *)label};
        size_t k = 21;
        if (uuid[0]) {
            argv[k++] = "-U";
            argv[k++] = uuid;
        }
        argv[k++] = (char *)raw;
        argv[k++] = bbuf;
        argv[k] = NULL;
        char text[600] = "";
        rc = run_quiet(argv, env, text, sizeof text, err);
        /* A development build between 1.46 and 1.47.0 may call itself 1.47
         * without the option: it refuses it before touching the file. */
        if (rc != HF_OK && detected && mode == HF_MKE2FS_PREZEROED &&
            strstr(text, "Bad option(s) specified") && strstr(text, "assume_storage_prezeroed")) {
            mode = HF_MKE2FS_PORTABLE;
            continue;
        }
        break;
    }
    free(env);
    return rc;
}

/* ---- libext2fs ---------------------------------------------------------- */

static pthread_once_t et_once = PTHREAD_ONCE_INIT;
static void et_init(void)
{
    initialize_ext2_error_table();
}

static hf_code fs_err(hf_error *err, errcode_t e, const char *what, const char *path)
{
    return hf_error_set(err, HF_ERR_IO, "ext4 image: %s%s%s: %s", what, path ? " " : "",
                        path ? path : "", error_message(e));
}

/* Sets all four timestamps; the epoch bits of the *_extra fields carry the
 * seconds beyond the 32-bit range (until 2446). */
static void stamp(struct ext2_inode_large *in, int64_t t)
{
    uint32_t lo = (uint32_t)t;
    uint32_t epoch = (uint32_t)((t - (int64_t)(int32_t)lo) >> 32) & EXT4_EPOCH_MASK;
    in->i_atime = in->i_ctime = in->i_mtime = lo;
    if (in->i_extra_isize >= offsetof(struct ext2_inode_large, i_crtime_extra) + 4 -
                                 EXT2_GOOD_OLD_INODE_SIZE) {
        in->i_atime_extra = in->i_ctime_extra = in->i_mtime_extra = epoch;
        in->i_crtime = lo;
        in->i_crtime_extra = epoch;
    }
}

/* Rewrites owner, permission bits and times of an existing inode. */
static hf_code restamp(ext2_filsys fs, ext2_ino_t ino, int perm, int64_t t, const char *path,
                       hf_error *err)
{
    struct ext2_inode_large in;
    errcode_t e = ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)&in, sizeof in);
    if (e)
        return fs_err(err, e, "reading the inode of", path);
    if (perm >= 0)
        in.i_mode = (uint16_t)((in.i_mode & LINUX_S_IFMT) | perm);
    in.i_uid = in.i_gid = 0;
    in.osd2.linux2.l_i_uid_high = in.osd2.linux2.l_i_gid_high = 0;
    stamp(&in, t);
    e = ext2fs_write_inode_full(fs, ino, (struct ext2_inode *)&in, sizeof in);
    return e ? fs_err(err, e, "writing the inode of", path) : HF_OK;
}

/* Appends one extent to the map, merging it with the previous one when the
 * two are contiguous in the image. */
static bool map_add(hf_ext4_file_map *m, size_t *cap, uint64_t foff, uint64_t ioff, uint64_t len)
{
    if (m->n_extents) {
        hf_extent *last = &m->extents[m->n_extents - 1];
        if (last->image_offset + last->length == ioff) {
            last->length += len;
            return true;
        }
    }
    if (m->n_extents == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        hf_extent *v = realloc(m->extents, c * sizeof *v);
        if (!v)
            return false;
        m->extents = v;
        *cap = c;
    }
    m->extents[m->n_extents++] = (hf_extent){foff, ioff, len};
    return true;
}

/* Reads the leaf extents of a freshly allocated file into its map; they must
 * be initialised and cover blocks [0, nblocks) without gaps. */
static hf_code read_map(ext2_filsys fs, ext2_ino_t ino, uint64_t nblocks, const char *path,
                        hf_ext4_file_map *m, hf_error *err)
{
    ext2_extent_handle_t h;
    errcode_t e = ext2fs_extent_open2(fs, ino, NULL, &h);
    if (e)
        return fs_err(err, e, "reading the extents of", path);
    size_t cap = 0;
    uint64_t next = 0;
    hf_code rc = HF_OK;
    for (int op = EXT2_EXTENT_ROOT;; op = EXT2_EXTENT_NEXT) {
        struct ext2fs_extent x;
        e = ext2fs_extent_get(h, op, &x);
        if (e == EXT2_ET_EXTENT_NO_NEXT)
            break;
        if (e) {
            rc = fs_err(err, e, "reading the extents of", path);
            break;
        }
        if (!(x.e_flags & EXT2_EXTENT_FLAGS_LEAF))
            continue;
        if ((x.e_flags & EXT2_EXTENT_FLAGS_UNINIT) || x.e_lblk != next) {
            rc = hf_error_set(err, HF_ERR_IO, "ext4 image: unexpected extent layout for %s", path);
            break;
        }
        if (!map_add(m, &cap, next * BLOCK, x.e_pblk * BLOCK, (uint64_t)x.e_len * BLOCK)) {
            rc = hf_error_set(err, HF_ERR_NOMEM, "ext4 image: out of memory");
            break;
        }
        next += x.e_len;
    }
    ext2fs_extent_free(h);
    if (rc == HF_OK && next != nblocks)
        rc = hf_error_set(err, HF_ERR_IO,
                          "ext4 image: %s got %llu blocks instead of %llu", path,
                          (unsigned long long)next, (unsigned long long)nblocks);
    return rc;
}

/* Writes inode ino as a fresh extent-mapped inode (uid/gid 0, times t) of
 * the given mode, link count and size, allocates its blocks as initialised
 * extents from *goal on and maps them into m. Nothing is written to the
 * blocks themselves. */
static hf_code create_inode(ext2_filsys fs, ext2_ino_t ino, uint16_t mode, uint16_t links,
                            uint64_t size, int64_t t, const char *path, blk64_t *goal,
                            hf_ext4_file_map *m, hf_error *err)
{
    struct ext2_inode_large in;
    memset(&in, 0, sizeof in);
    struct ext2_inode *small = (struct ext2_inode *)&in;
    in.i_mode = mode;
    in.i_links_count = links;
    in.i_extra_isize = sizeof in - EXT2_GOOD_OLD_INODE_SIZE;
    /* Opening an extent handle on an empty inode writes the extent header
     * (and EXTENTS_FL) into in.i_block. */
    ext2_extent_handle_t h;
    errcode_t e = ext2fs_extent_open2(fs, ino, small, &h);
    if (e)
        return fs_err(err, e, "initialising the extents of", path);
    ext2fs_extent_free(h);
    e = ext2fs_write_new_inode(fs, ino, small);
    if (e)
        return fs_err(err, e, "writing the inode of", path);

    uint64_t nblocks = (size + BLOCK - 1) / BLOCK;
    if (nblocks) {
        /* FORCE_INIT: the extents are marked written, so the kernel reads
         * the blocks filled later instead of zeroes; INIT_BEYOND_EOF covers
         * the tail block. Without ZERO_BLOCKS nothing is written to them. */
        e = ext2fs_fallocate(fs, EXT2_FALLOCATE_FORCE_INIT | EXT2_FALLOCATE_INIT_BEYOND_EOF, ino,
                             small, *goal, 0, nblocks);
        if (e == EXT2_ET_BLOCK_ALLOC_FAIL)
            return hf_error_set(err, HF_ERR_IO,
                                "ext4 image: the layout does not fit: no space left for %s (%s)",
                                path, error_message(e));
        if (e)
            return fs_err(err, e, "allocating blocks for", path);
    }
    e = ext2fs_inode_size_set(fs, small, (ext2_off64_t)size);
    if (e)
        return fs_err(err, e, "setting the size of", path);
    stamp(&in, t); /* write_new_inode replaced zero times with the clock */
    e = ext2fs_write_inode_full(fs, ino, small, sizeof in);
    if (e)
        return fs_err(err, e, "writing the inode of", path);
    if (!nblocks)
        return HF_OK;
    hf_code rc = read_map(fs, ino, nblocks, path, m, err);
    if (rc == HF_OK) {
        const hf_extent *last = &m->extents[m->n_extents - 1];
        *goal = (last->image_offset + last->length) / BLOCK;
    }
    return rc;
}

/* A directory entry to write: name in directory dir (index in the list). */
typedef struct {
    size_t dir;
    const char *name;
    size_t len;
    ext2_ino_t ino;
    int type;
} dentry;

static int dentry_cmp(const void *pa, const void *pb)
{
    const dentry *a = pa, *b = pb;
    if (a->dir != b->dir)
        return (a->dir > b->dir) - (a->dir < b->dir);
    return name_cmp(a->name, a->len, b->name, b->len);
}

/* Packs directory entries into blocks. With map == NULL it only counts the
 * blocks; otherwise it writes each full block to its mapped place. */
typedef struct {
    ext2_filsys fs;
    ext2_ino_t ino;
    const hf_ext4_file_map *map;
    char *buf;
    unsigned usable;              /* bytes before the checksum tail */
    unsigned used;                /* bytes of the current block in use */
    struct ext2_dir_entry *last;  /* last entry of the current block */
    uint64_t block;               /* logical block being filled */
    errcode_t e;
} packer;

static blk64_t map_block(const hf_ext4_file_map *m, uint64_t lblk)
{
    for (size_t i = 0; i < m->n_extents; i++) {
        const hf_extent *x = &m->extents[i];
        if (lblk * BLOCK < x->file_offset + x->length)
            return (x->image_offset + lblk * BLOCK - x->file_offset) / BLOCK;
    }
    return 0;
}

static void pack_flush(packer *p)
{
    if (!p->used)
        return;
    if (p->map && !p->e) {
        /* The last entry's record runs to the tail (or the block's end). */
        ext2fs_set_rec_len(p->fs, p->usable - (unsigned)((char *)p->last - p->buf), p->last);
        if (p->usable < BLOCK)
            ext2fs_initialize_dirent_tail(p->fs, EXT2_DIRENT_TAIL(p->buf, BLOCK));
        /* Also computes the block checksum (from the inode written before). */
        p->e = ext2fs_write_dir_block4(p->fs, map_block(p->map, p->block), p->buf, 0, p->ino);
    }
    p->block++;
    p->used = 0;
}

static void pack_add(packer *p, const char *name, size_t len, ext2_ino_t ino, int type)
{
    unsigned rec = EXT2_DIR_REC_LEN(len);
    if (p->used + rec > p->usable)
        pack_flush(p);
    if (p->map) {
        if (!p->used)
            memset(p->buf, 0, BLOCK);
        struct ext2_dir_entry *de = (struct ext2_dir_entry *)(p->buf + p->used);
        de->inode = ino;
        ext2fs_set_rec_len(p->fs, rec, de);
        ext2fs_dirent_set_name_len(de, (int)len);
        ext2fs_dirent_set_file_type(de, ext2fs_has_feature_filetype(p->fs->super) ? type : 0);
        memcpy(de->name, name, len);
        p->last = de;
    }
    p->used += rec;
}

static void pack_all(packer *p, ext2_ino_t parent, const dentry *e, size_t ne,
                     ext2_ino_t lost_found)
{
    pack_add(p, ".", 1, p->ino, EXT2_FT_DIR);
    pack_add(p, "..", 2, parent, EXT2_FT_DIR);
    if (lost_found)
        pack_add(p, "lost+found", 10, lost_found, EXT2_FT_DIR);
    for (size_t i = 0; i < ne; i++)
        pack_add(p, e[i].name, e[i].len, e[i].ino, e[i].type);
    pack_flush(p);
}

/* Writes a whole directory in one go: its inode, its blocks allocated like a
 * file's, and its entries packed in name order. Linking entries one by one
 * with ext2fs_link rescans the directory each time, which is quadratic (10k
 * files in one directory took 3.4 s, 30k took 32 s). */
static hf_code write_dir(ext2_filsys fs, const node *d, ext2_ino_t parent, const dentry *e,
                         size_t ne, ext2_ino_t lost_found, int64_t t, blk64_t *goal, hf_error *err)
{
    char path[HF_PATH_MAX + 2];
    snprintf(path, sizeof path, "/%.*s", (int)d->len, d->path);
    unsigned usable = (unsigned)BLOCK;
    if (ext2fs_has_feature_metadata_csum(fs->super))
        usable -= sizeof(struct ext2_dir_entry_tail);
    packer count = {fs, d->ino, NULL, NULL, usable, 0, NULL, 0, 0};
    pack_all(&count, parent, e, ne, lost_found);
    uint64_t links = 2 + (lost_found != 0);
    for (size_t i = 0; i < ne; i++)
        links += e[i].type == EXT2_FT_DIR;
    if (links > EXT2_LINK_MAX)
        links = 1; /* dir_nlink: "many" */

    hf_ext4_file_map map = {0};
    hf_code rc = create_inode(fs, d->ino, LINUX_S_IFDIR | 0755, (uint16_t)links,
                              count.block * BLOCK, t, path, goal, &map, err);
    char *buf = malloc(BLOCK);
    if (rc == HF_OK && !buf)
        rc = hf_error_set(err, HF_ERR_NOMEM, "ext4 image: out of memory");
    if (rc == HF_OK) {
        packer w = {fs, d->ino, &map, buf, usable, 0, NULL, 0, 0};
        pack_all(&w, parent, e, ne, lost_found);
        if (w.e)
            rc = fs_err(err, w.e, "writing directory", path);
    }
    free(buf);
    free(map.extents);
    return rc;
}

void hf_ext4_layout_free(hf_ext4_layout *layout)
{
    if (!layout)
        return;
    for (size_t i = 0; layout->files && i < layout->n_files; i++)
        free(layout->files[i].extents);
    free(layout->files);
    memset(layout, 0, sizeof *layout);
}

/* Allocates the inodes of every directory and file and lists the entries
 * each directory must hold, sorted by directory then name. */
static hf_code plan_inodes(ext2_filsys fs, const hf_sized_file *files, size_t n, node *dirs,
                           size_t ndirs, ext2_ino_t *file_ino, dentry **out, hf_error *err)
{
    dentry *e = calloc(n + ndirs, sizeof *e);
    if (!e)
        return hf_error_set(err, HF_ERR_NOMEM, "ext4 image: out of memory");
    size_t k = 0, base;
    for (size_t i = 1; i < ndirs; i++) {
        node *d = &dirs[i];
        errcode_t x = ext2fs_new_inode(fs, dirs[d->parent].ino, LINUX_S_IFDIR | 0755, NULL,
                                       &d->ino);
        if (x) {
            char path[HF_PATH_MAX + 1];
            snprintf(path, sizeof path, "%.*s", (int)d->len, d->path);
            free(e);
            return fs_err(err, x, "allocating an inode for", path);
        }
        ext2fs_inode_alloc_stats2(fs, d->ino, +1, 1);
        parent_len(d->path, d->len, &base);
        e[k++] = (dentry){d->parent, d->path + base, d->len - base, d->ino, EXT2_FT_DIR};
    }
    for (size_t i = 0; i < n; i++) {
        const char *p = files[i].path;
        size_t len = strlen(p), dir = find_dir(dirs, ndirs, p, parent_len(p, len, &base));
        errcode_t x = ext2fs_new_inode(fs, dirs[dir].ino, LINUX_S_IFREG | 0644, NULL, &file_ino[i]);
        if (x) {
            free(e);
            return fs_err(err, x, "allocating an inode for", p);
        }
        ext2fs_inode_alloc_stats2(fs, file_ino[i], +1, 0);
        e[k++] = (dentry){dir, p + base, len - base, file_ino[i], EXT2_FT_REG_FILE};
    }
    qsort(e, k, sizeof *e, dentry_cmp);
    *out = e;
    return HF_OK;
}

/* The superblock fields that would differ between two identical builds or
 * between the two mke2fs modes: the inode tables are marked zeroed (the
 * file was a fresh hole, so they read as zeroes; the kernel then has no
 * lazy-init writes to do), the times are sb_time, and the lifetime-writes
 * counter is cleared (ext2fs_close adds nothing to a zero counter). */
static void settle_super(ext2_filsys fs, int64_t sb_time)
{
    for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
        ext2fs_bg_flags_set(fs, g, EXT2_BG_INODE_ZEROED);
        ext2fs_group_desc_csum_set(fs, g);
    }
    struct ext2_super_block *sb = fs->super;
    uint32_t lo = (uint32_t)sb_time;
    uint8_t hi = (uint8_t)((uint64_t)sb_time >> 32);
    sb->s_mkfs_time = sb->s_lastcheck = sb->s_wtime = lo;
    sb->s_mkfs_time_hi = sb->s_lastcheck_hi = sb->s_wtime_hi = hi;
    sb->s_mtime = 0;
    sb->s_mtime_hi = 0;
    sb->s_kbytes_written = 0;
    ext2fs_mark_super_dirty(fs);
}

/* Everything after mke2fs: inodes, directories, files, maps. Directory
 * blocks come first (right after the group 0 metadata), then the files'
 * data in input order. */
static hf_code populate(const char *raw, const hf_sized_file *files, size_t n, node *dirs,
                        size_t ndirs, int64_t t, int64_t sb_time, hf_ext4_layout *out,
                        hf_error *err)
{
    ext2_filsys fs = NULL;
    errcode_t e = ext2fs_open(raw, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs);
    if (e)
        return fs_err(err, e, "opening", raw);
    fs->now = (time_t)sb_time; /* the clock of every time libext2fs writes (s_wtime...) */
    hf_code rc = HF_OK;
    ext2_ino_t *file_ino = calloc(n ? n : 1, sizeof *file_ino);
    dentry *ents = NULL;
    if (!file_ino) {
        rc = hf_error_set(err, HF_ERR_NOMEM, "ext4 image: out of memory");
        goto fail;
    }
    if (fs->blocksize != BLOCK || ext2fs_blocks_count(fs->super) * BLOCK != out->fs_bytes ||
        !ext2fs_has_feature_extents(fs->super) || !ext2fs_has_feature_64bit(fs->super)) {
        rc = hf_error_set(err, HF_ERR_IO,
                          "ext4 image: mke2fs made %llu blocks of %u bytes (extents %s, 64bit "
                          "%s), wanted %llu of 4096 with both",
                          (unsigned long long)ext2fs_blocks_count(fs->super), fs->blocksize,
                          ext2fs_has_feature_extents(fs->super) ? "on" : "off",
                          ext2fs_has_feature_64bit(fs->super) ? "on" : "off",
                          (unsigned long long)(out->fs_bytes / BLOCK));
        goto fail;
    }
    e = ext2fs_read_bitmaps(fs);
    if (e) {
        rc = fs_err(err, e, "reading the bitmaps of", raw);
        goto fail;
    }
    ext2_ino_t lost_found = 0;
    if (!ext2fs_lookup(fs, EXT2_ROOT_INO, "lost+found", 10, NULL, &lost_found))
        rc = restamp(fs, lost_found, -1, t, "/lost+found", err);
    if (rc == HF_OK)
        rc = plan_inodes(fs, files, n, dirs, ndirs, file_ino, &ents, err);
    /* The root is rewritten like the other directories: drop mke2fs's block. */
    if (rc == HF_OK && (e = ext2fs_punch(fs, EXT2_ROOT_INO, NULL, NULL, 0, ~(blk64_t)0)))
        rc = fs_err(err, e, "emptying", "/");
    blk64_t goal = 0;
    size_t j = 0;
    for (size_t i = 0; i < ndirs && rc == HF_OK; i++) {
        size_t k = j;
        while (k < n + ndirs - 1 && ents[k].dir == i)
            k++;
        rc = write_dir(fs, &dirs[i], dirs[dirs[i].parent].ino, ents + j, k - j,
                       i == 0 ? lost_found : 0, t, &goal, err);
        j = k;
    }
    for (size_t i = 0; i < n && rc == HF_OK; i++)
        rc = create_inode(fs, file_ino[i], LINUX_S_IFREG | 0644, 1, files[i].size, t,
                          files[i].path, &goal, &out->files[i], err);
    if (rc != HF_OK)
        goto fail;
    settle_super(fs, sb_time);
    free(ents);
    free(file_ino);
    e = ext2fs_close_free(&fs);
    if (e)
        return fs_err(err, e, "writing the metadata of", raw);
    return HF_OK;
fail:
    free(ents);
    free(file_ino);
    ext2fs_free(fs); /* drop without writing: the file is removed anyway */
    return rc;
}

hf_code hf_ext4_build(const char *raw_path, const hf_sized_file *files, size_t n,
                      const hf_ext4_options *opt, hf_ext4_layout *out, hf_error *err)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!raw_path || !out || (n && !files))
        return hf_error_set(err, HF_ERR_USAGE, "ext4 image: missing argument");
    const char *label = opt && opt->label ? opt->label : "";
    int64_t t = opt ? opt->mtime : 0;
    pthread_once(&et_once, et_init);

    hf_code rc;
    node *dirs = NULL;
    size_t ndirs = 0;
    if (strlen(label) > LABEL_MAX)
        rc = hf_error_set(err, HF_ERR_USAGE, "ext4 image: label \"%s\" is longer than %d bytes",
                          label, LABEL_MAX);
    else if (t < INT32_MIN || t >= (int64_t)INT32_MIN + ((int64_t)4 << 32))
        rc = hf_error_set(err, HF_ERR_USAGE, "ext4 image: time %lld is out of the ext4 range",
                          (long long)t);
    else
        rc = plan_paths(files, n, &dirs, &ndirs, err);
    if (rc != HF_OK) {
        unlink(raw_path);
        return rc;
    }

    rc = hf_sizing_ext4(files, n, &out->fs_bytes, err);
    if (rc != HF_OK) {
        hf_error_prefix(err, "ext4 image: ");
        goto done;
    }
    out->n_files = n;
    out->files = calloc(n ? n : 1, sizeof *out->files);
    if (!out->files) {
        rc = hf_error_set(err, HF_ERR_NOMEM, "ext4 image: out of memory");
        goto done;
    }
    /* A fresh hole of the final size: mke2fs and libext2fs write only the
     * metadata, so the file stays sparse. */
    unlink(raw_path); /* whatever is there, a planted symlink included, is not written through */
    int fd = open(raw_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = hf_error_set(err, HF_ERR_IO, "ext4 image: cannot create %s: %s", raw_path,
                          strerror(errno));
        goto done;
    }
    if (ftruncate(fd, (off_t)out->fs_bytes) != 0) {
        rc = hf_error_set(err, HF_ERR_IO, "ext4 image: cannot size %s: %s", raw_path,
                          strerror(errno));
        close(fd);
        goto done;
    }
    close(fd);
    /* ndirs counts the root, which mke2fs creates along with lost+found. */
    uint64_t inodes = (uint64_t)n + ndirs + EXT2_GOOD_OLD_FIRST_INO + INODE_SLACK;
    int64_t sb_time = t > 0 ? t : 1; /* libext2fs reads 0 as "now" */
    rc = format_empty(raw_path, out->fs_bytes / BLOCK, inodes, opt, label, sb_time, err);
    if (rc == HF_OK)
        rc = populate(raw_path, files, n, dirs, ndirs, t, sb_time, out, err);
done:
    free(dirs);
    if (rc != HF_OK) {
        hf_ext4_layout_free(out);
        unlink(raw_path);
    }
    return rc;
}

/* ---- metadata ranges ---------------------------------------------------- */

typedef struct {
    uint64_t start, end; /* blocks */
} span;

static int span_cmp(const void *pa, const void *pb)
{
    const span *a = pa, *b = pb;
    return (a->start > b->start) - (a->start < b->start);
}

typedef struct {
    hf_extent *v;
    size_t n, cap;
} range_list;

static bool range_emit(range_list *r, uint64_t start, uint64_t end)
{
    if (start >= end)
        return true;
    if (r->n && r->v[r->n - 1].image_offset + r->v[r->n - 1].length == start * BLOCK) {
        r->v[r->n - 1].length += (end - start) * BLOCK;
        return true;
    }
    if (r->n == r->cap) {
        size_t c = r->cap ? r->cap * 2 : 64;
        hf_extent *v = realloc(r->v, c * sizeof *v);
        if (!v)
            return false;
        r->v = v;
        r->cap = c;
    }
    r->v[r->n++] = (hf_extent){start * BLOCK, start * BLOCK, (end - start) * BLOCK};
    return true;
}

hf_code hf_ext4_metadata_ranges(const char *raw_path, const hf_ext4_layout *layout,
                                hf_extent **ranges, size_t *n, hf_error *err)
{
    if (ranges)
        *ranges = NULL;
    if (n)
        *n = 0;
    if (!raw_path || !layout || !ranges || !n)
        return hf_error_set(err, HF_ERR_USAGE, "ext4 image: missing argument");
    pthread_once(&et_once, et_init);

    /* The layout's data extents, in blocks, sorted by image position. */
    size_t nd = 0;
    for (size_t i = 0; i < layout->n_files; i++)
        nd += layout->files[i].n_extents;
    span *data = calloc(nd ? nd : 1, sizeof *data);
    if (!data)
        return hf_error_set(err, HF_ERR_NOMEM, "ext4 image: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < layout->n_files; i++)
        for (size_t j = 0; j < layout->files[i].n_extents; j++) {
            const hf_extent *x = &layout->files[i].extents[j];
            data[k++] = (span){x->image_offset / BLOCK, (x->image_offset + x->length) / BLOCK};
        }
    qsort(data, nd, sizeof *data, span_cmp);

    ext2_filsys fs = NULL;
    range_list r = {0};
    hf_code rc = HF_OK;
    errcode_t e = ext2fs_open(raw_path, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs);
    if (e) {
        rc = fs_err(err, e, "opening", raw_path);
        goto done;
    }
    uint64_t total = ext2fs_blocks_count(fs->super);
    if (fs->blocksize != BLOCK || total * BLOCK != layout->fs_bytes) {
        rc = hf_error_set(err, HF_ERR_INVALID, "ext4 image: %s does not match the layout",
                          raw_path);
        goto done;
    }
    e = ext2fs_read_block_bitmap(fs);
    if (e) {
        rc = fs_err(err, e, "reading the block bitmap of", raw_path);
        goto done;
    }
    /* Walk the allocated runs of the bitmap and cut the data extents out of
     * them; every data extent must lie inside one run. */
    size_t di = 0;
    uint64_t blk = fs->super->s_first_data_block;
    while (blk < total && rc == HF_OK) {
        blk64_t a, b;
        if (ext2fs_find_first_set_block_bitmap2(fs->block_map, blk, total - 1, &a))
            break;
        if (ext2fs_find_first_zero_block_bitmap2(fs->block_map, a, total - 1, &b))
            b = total;
        uint64_t cur = a;
        for (; rc == HF_OK && di < nd && data[di].start < b; di++) {
            if (data[di].start < cur || data[di].end > b) {
                rc = hf_error_set(err, HF_ERR_INVALID,
                                  "ext4 image: a data extent of the layout at block %llu is not "
                                  "allocated in %s",
                                  (unsigned long long)data[di].start, raw_path);
                break;
            }
            if (!range_emit(&r, cur, data[di].start))
                rc = hf_error_set(err, HF_ERR_NOMEM, "ext4 image: out of memory");
            cur = data[di].end;
        }
        if (rc == HF_OK && !range_emit(&r, cur, b))
            rc = hf_error_set(err, HF_ERR_NOMEM, "ext4 image: out of memory");
        blk = b;
    }
    if (rc == HF_OK && di < nd)
        rc = hf_error_set(err, HF_ERR_INVALID,
                          "ext4 image: a data extent of the layout at block %llu is not "
                          "allocated in %s",
                          (unsigned long long)data[di].start, raw_path);
done:
    if (fs)
        ext2fs_close_free(&fs);
    free(data);
    if (rc != HF_OK) {
        free(r.v);
        return rc;
    }
    *ranges = r.v;
    *n = r.n;
    return HF_OK;
}

bool hf_ext4_locate(const hf_ext4_file_map *m, uint64_t off, uint64_t *image_offset,
                    uint64_t *contiguous)
{
    size_t lo = 0, hi = m->n_extents; /* the first extent that starts after off */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->extents[mid].file_offset <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return false;
    const hf_extent *e = &m->extents[lo - 1];
    if (off - e->file_offset >= e->length)
        return false;
    *image_offset = e->image_offset + (off - e->file_offset);
    *contiguous = e->length - (off - e->file_offset);
    return true;
}
