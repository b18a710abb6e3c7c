/* The qcow2 form of an import (see hf_import.h): the disk's identity, the
 * ext4 layout planned from the file sizes, the image written once at
 * planned offsets (large aligned pieces O_DIRECT), and the same image
 * written in order to a pipe (DEST "-", hf_image_stream.h). */
#define _GNU_SOURCE /* qsort_r, fallocate, sync_file_range, O_DIRECT */
#include "hf_import_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hf_buf.h"
#include "hf_direct_io.h"
#include "hf_ext4.h"
#include "hf_image_stream.h"
#include "hf_model.h"
#include "hf_qcow2.h"
#include "hf_select.h"
#include "hf_sizing.h"

#define IMAGE_LABEL "hfhub-model"
#define DIRECT_MIN_IO ((size_t)256 << 10) /* pieces this large go O_DIRECT: small ones are
                                           * cheaper in the page cache */

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
        uint64_t host = s->direct && n >= DIRECT_MIN_IO && hf_direct_aligned(buf, guest, n)
                            ? hf_qcow2_host_offset(s->q, guest) : UINT64_MAX;
        if (write && host != UINT64_MAX && host % HF_DIRECT_ALIGN == 0 &&
            hf_qcow2_host_offset(s->q, guest + n - 1) == host + n - 1) {
            /* inside one run of the image (contiguous on the host): past the page cache */
            int bad = hf_direct_io(s->direct_fd, &s->direct, true, buf, n, host);
            if (bad)
                return import_io_error(err, "write", name, bad);
        } else if (write) {
            hf_code rc = hf_qcow2_pwrite(s->q, buf, n, guest, err);
            if (rc) {
                if (err->code == HF_ERR_IO && strstr(err->msg, "space"))
                    return import_io_error(err, "write", name, ENOSPC);
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
    hf_manifest_info mi = import_manifest_info(p, source);
    return hf_manifest_render(&mi, p->files, p->n_files, (size_t)ip->manifest_size, text, len,
                              err);
}

hf_code import_run_image(hf_client *cl, const hf_import_plan *p, const char *source,
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
            rc = import_io_error(err, "allocate", part, errno);
        else if (ftruncate(qfd, size))
            rc = import_io_error(err, "size", part, errno);
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
        hf_fetch_options fo = import_fetch_options(cl, p, opt, journal, key);
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

/* Sends [off, off+len) of layout file `file` along its extents (the engine's
 * emit: user is a stream_sink). */
static hf_code stream_file_bytes(void *user, size_t file, uint64_t off, const void *buf,
                                 size_t len, hf_error *err)
{
    stream_sink *s = user;
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

hf_code import_run_image_stream(hf_client *cl, const hf_import_plan *p, const char *source,
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
        hf_fetch_options fo = import_fetch_options(cl, p, opt, NULL, NULL);
        fo.emit = stream_file_bytes;
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
