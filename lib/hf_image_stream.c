/* An image written in order (see hf_image_stream.h): a cursor over the
 * allocated guest clusters, which fills the space before each piece of file
 * data with the filesystem's metadata or zeros, through one output buffer. */
#include "hf_image_stream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUT_BUF ((size_t)1 << 20)

struct hf_image_stream {
    const hf_qcow2 *q;
    int meta_fd, out_fd;
    const hf_extent *meta;
    size_t n_meta, m;      /* m: the first metadata range not wholly behind the cursor */
    size_t run, n_runs;    /* the run the cursor is in (or before) */
    uint64_t guest;        /* the cursor: the next guest byte to write */
    uint64_t written;      /* bytes handed to out_fd */
    unsigned char *buf;
    size_t used;
};

/* Writes len bytes to out_fd, counting them in s->written. */
static hf_code write_all(hf_image_stream *s, const unsigned char *p, size_t len, hf_error *err)
{
    while (len) {
        ssize_t w = write(s->out_fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            if (e == EPIPE)
                return hf_error_set(err, HF_ERR_IO,
                                    "the reader of the image stream went away after %llu bytes",
                                    (unsigned long long)s->written);
            return hf_error_set(err, HF_ERR_IO, "cannot write the image stream: %s", strerror(e));
        }
        p += w;
        len -= (size_t)w;
        s->written += (uint64_t)w;
    }
    return HF_OK;
}

static hf_code flush_out(hf_image_stream *s, hf_error *err)
{
    hf_code rc = write_all(s, s->buf, s->used, err);
    s->used = 0;
    return rc;
}

/* Room for up to want bytes at the end of the buffer (flushing it when full). */
static hf_code room(hf_image_stream *s, size_t want, unsigned char **at, size_t *n, hf_error *err)
{
    if (s->used == OUT_BUF) {
        hf_code rc = flush_out(s, err);
        if (rc)
            return rc;
    }
    *at = s->buf + s->used;
    *n = OUT_BUF - s->used < want ? OUT_BUF - s->used : want;
    return HF_OK;
}

/* Writes len bytes straight to out_fd, after what the buffer holds. */
static hf_code write_through(hf_image_stream *s, const unsigned char *p, size_t len, hf_error *err)
{
    hf_code rc = flush_out(s, err);
    return rc ? rc : write_all(s, p, len, err);
}

static hf_code put_bytes(hf_image_stream *s, const void *data, size_t len, hf_error *err)
{
    const unsigned char *p = data;
    if (p && len >= OUT_BUF / 4)
        return write_through(s, p, len, err); /* big pieces: no copy through the buffer */
    while (len) {
        unsigned char *at;
        size_t n;
        hf_code rc = room(s, len, &at, &n, err);
        if (rc)
            return rc;
        if (p)
            memcpy(at, p, n), p += n;
        else
            memset(at, 0, n);
        s->used += n;
        len -= n;
    }
    return HF_OK;
}

static hf_code put_meta(hf_image_stream *s, uint64_t from, uint64_t len, hf_error *err)
{
    while (len) {
        unsigned char *at;
        size_t n;
        hf_code rc = room(s, len > OUT_BUF ? OUT_BUF : (size_t)len, &at, &n, err);
        if (rc)
            return rc;
        ssize_t r = pread(s->meta_fd, at, n, (off_t)from);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return hf_error_set(err, HF_ERR_IO, "cannot read the filesystem metadata at %llu: %s",
                                (unsigned long long)from, r < 0 ? strerror(errno) : "end of file");
        s->used += (size_t)r;
        from += (uint64_t)r;
        len -= (uint64_t)r;
    }
    return HF_OK;
}

/* Writes what the image holds in guest [s->guest, end), all inside one run:
 * metadata where a range says so, zeros elsewhere. */
static hf_code fill(hf_image_stream *s, uint64_t end, hf_error *err)
{
    while (s->guest < end) {
        while (s->m < s->n_meta && s->meta[s->m].image_offset + s->meta[s->m].length <= s->guest)
            s->m++;
        uint64_t stop = end;
        hf_code rc;
        if (s->m < s->n_meta && s->meta[s->m].image_offset <= s->guest) {
            uint64_t mend = s->meta[s->m].image_offset + s->meta[s->m].length;
            if (mend < stop)
                stop = mend;
            rc = put_meta(s, s->guest, stop - s->guest, err);
        } else {
            if (s->m < s->n_meta && s->meta[s->m].image_offset < stop)
                stop = s->meta[s->m].image_offset;
            rc = put_bytes(s, NULL, (size_t)(stop - s->guest), err);
        }
        if (rc)
            return rc;
        s->guest = stop;
    }
    return HF_OK;
}

/* Moves the cursor to guest offset to (UINT64_MAX: the end of the image),
 * writing everything the image holds on the way. */
static hf_code advance(hf_image_stream *s, uint64_t to, hf_error *err)
{
    while (s->run < s->n_runs) {
        hf_range r = hf_qcow2_run_range(s->q, s->run);
        if (s->guest < r.start)
            s->guest = r.start; /* unallocated guest space is not in the file */
        if (to < s->guest)
            break;
        if (to < r.start + r.length)
            return fill(s, to, err);
        hf_code rc = fill(s, r.start + r.length, err);
        if (rc)
            return rc;
        s->run++;
    }
    if (to == UINT64_MAX || (s->run < s->n_runs && to == s->guest))
        return HF_OK;
    return hf_error_set(err, HF_ERR_USAGE,
                        "internal error: image data at guest offset %llu is out of order or "
                        "outside the image (the stream is at %llu)",
                        (unsigned long long)to, (unsigned long long)s->guest);
}

hf_code hf_image_stream_open(const hf_qcow2 *q, int head_fd, int meta_fd, const hf_extent *meta,
                             size_t n_meta, int out_fd, hf_image_stream **out, hf_error *err)
{
    *out = NULL;
    hf_image_stream *s = calloc(1, sizeof *s);
    if (!s || !(s->buf = malloc(OUT_BUF))) {
        free(s);
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    s->q = q;
    s->meta_fd = meta_fd;
    s->out_fd = out_fd;
    s->meta = meta;
    s->n_meta = n_meta;
    s->n_runs = hf_qcow2_run_count(q);
    uint64_t head = hf_qcow2_data_offset(q);
    hf_code rc = HF_OK;
    for (uint64_t at = 0; !rc && at < head;) {
        unsigned char *p;
        size_t n;
        rc = room(s, head - at > OUT_BUF ? OUT_BUF : (size_t)(head - at), &p, &n, err);
        if (rc)
            break;
        ssize_t r = pread(head_fd, p, n, (off_t)at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            rc = hf_error_set(err, HF_ERR_IO, "cannot read the image's metadata at %llu: %s",
                              (unsigned long long)at, r < 0 ? strerror(errno) : "end of file");
        else
            s->used += (size_t)r, at += (uint64_t)r;
    }
    if (rc) {
        hf_image_stream_free(s);
        return rc;
    }
    *out = s;
    return HF_OK;
}

hf_code hf_image_stream_put(hf_image_stream *s, uint64_t guest, const void *buf, size_t len,
                            hf_error *err)
{
    if (!len)
        return HF_OK;
    hf_code rc = advance(s, guest, err);
    if (rc)
        return rc;
    hf_range r = hf_qcow2_run_range(s->q, s->run);
    if (s->run >= s->n_runs || len > r.start + r.length - guest)
        return hf_error_set(err, HF_ERR_USAGE,
                            "internal error: %zu bytes of image data at guest offset %llu run past "
                            "the allocated clusters",
                            len, (unsigned long long)guest);
    rc = put_bytes(s, buf, len, err);
    if (!rc)
        s->guest += len;
    return rc;
}

hf_code hf_image_stream_finish(hf_image_stream *s, hf_error *err)
{
    hf_code rc = advance(s, UINT64_MAX, err);
    if (!rc)
        rc = flush_out(s, err);
    if (!rc && s->written != hf_qcow2_file_size(s->q))
        rc = hf_error_set(err, HF_ERR_USAGE,
                          "internal error: the image stream has %llu bytes, the image %llu",
                          (unsigned long long)s->written,
                          (unsigned long long)hf_qcow2_file_size(s->q));
    return rc;
}

uint64_t hf_image_stream_written(const hf_image_stream *s) { return s ? s->written : 0; }

void hf_image_stream_free(hf_image_stream *s)
{
    if (!s)
        return;
    free(s->buf);
    free(s);
}
