/* The download engine's resume journal (see hf_fetch.c): lines appended
 * as bytes land in the sink and as files are verified or restarted, and at
 * the start of a run the replay that turns it into what is left to fetch
 * and what to hash again from disk. */
#include "hf_fetch_internal.h"
#include "hf_buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void fetch_journal_line(fetch *c, const char *fmt, ...)
{
    if (c->journal_fd < 0)
        return;
    char line[200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One write(2) per line with O_APPEND: a kill leaves at most a torn last
     * line, which replay ignores. */
    ssize_t w = n > 0 ? write(c->journal_fd, line, (size_t)n) : 0;
    if (n > 0 && w != n) {
        int e_no = w >= 0 ? ENOSPC : errno; /* a short write: the disk is full */
        hf_error e;
        if (e_no == ENOSPC || e_no == EDQUOT)
            hf_error_set(&e, HF_ERR_IO,
                         "the disk is full while writing the resume journal %s; free space and "
                         "run the same command again to continue",
                         c->opt->journal_path);
        else
            hf_error_set(&e, HF_ERR_IO, "cannot write the resume journal %s: %s",
                         c->opt->journal_path, strerror(e_no));
        fetch_fail(c, &e);
    }
}

/* Records that [jpos, wpos) of x's file is written: at most a grain of what a
 * transfer wrote is missing from the journal at any moment. */
void fetch_journal_written(fetch *c, xfer *x)
{
    if (x->wpos > x->jpos)
        fetch_journal_line(c, "W %zu %llu %llu\n", x->fs->index, (unsigned long long)x->jpos,
                     (unsigned long long)(x->wpos - x->jpos));
    x->jpos = x->wpos;
}

static bool have_add(file_state *fs, uint64_t a, uint64_t b)
{
    span *v = hf_array_reserve(fs->have, &fs->cap_have, fs->n_have, sizeof *v, 8);
    if (!v)
        return false;
    fs->have = v;
    fs->have[fs->n_have++] = (span){a, b};
    return true;
}

/* The journal: a header with the key, then one line per event, each
 * written with one write(2) after the bytes it describes are in the sink:
 *   W <file> <offset> <length>   these bytes are written
 *   V <file> <sha256>            the file was verified
 *   R <file>                     the file is fetched again from scratch */
hf_code fetch_replay_journal(fetch *c, hf_error *err)
{
    const hf_fetch_options *o = c->opt;
    c->journal_fd = open(o->journal_path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (c->journal_fd < 0)
        return hf_error_set(err, HF_ERR_IO, "cannot open the resume journal %s: %s",
                            o->journal_path, strerror(errno));
    FILE *f = fdopen(dup(c->journal_fd), "r");
    if (!f)
        return hf_error_set(err, HF_ERR_IO, "cannot read the resume journal");
    char line[256], header[256];
    snprintf(header, sizeof header, "hfhub-journal 2 %s\n", o->journal_key ? o->journal_key : "");
    bool valid = fgets(line, sizeof line, f) && !strcmp(line, header);
    hf_code rc = HF_OK;
    while (valid && !rc && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (!len || line[len - 1] != '\n')
            break; /* torn last line */
        size_t i;
        unsigned long long off, n;
        char sha[80];
        if (sscanf(line, "W %zu %llu %llu", &i, &off, &n) == 3 && i < c->n && n > 0 &&
            off <= c->files[i].f->size && n <= c->files[i].f->size - off) {
            if (!have_add(&c->files[i], off, off + n))
                rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        } else if (sscanf(line, "V %zu %64s", &i, sha) == 2 && i < c->n && strlen(sha) == 64) {
            /* verified by an earlier run: every byte is on disk, and is
             * hashed again from there before the result is used, so that
             * nothing left in a work area is trusted unverified */
            c->files[i].n_have = 0;
            if (!have_add(&c->files[i], 0, c->files[i].f->size))
                rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        } else if (sscanf(line, "R %zu", &i) == 1 && i < c->n) {
            c->files[i].n_have = 0;
        }
    }
    fclose(f);
    if (rc)
        return rc;
    if (!valid) {
        for (size_t i = 0; i < c->n; i++)
            c->files[i].n_have = 0;
        if (ftruncate(c->journal_fd, 0) || write(c->journal_fd, header, strlen(header)) < 0)
            return hf_error_set(err, HF_ERR_IO, "cannot write the resume journal %s: %s",
                                o->journal_path, strerror(errno));
    }
    return HF_OK;
}

static int cmp_span(const void *a, const void *b)
{
    uint64_t x = ((const span *)a)->start, y = ((const span *)b)->start;
    return x < y ? -1 : x > y;
}

/* From the journal's state: what is left to fetch, and what to hash from disk. */
hf_code fetch_plan_file(fetch *c, file_state *fs)
{
    if (fs->n_have)
        qsort(fs->have, fs->n_have, sizeof *fs->have, cmp_span);
    uint64_t pos = 0;
    for (size_t k = 0; k < fs->n_have; k++) {
        uint64_t a = fs->have[k].start, b = fs->have[k].end;
        if (b <= pos)
            continue;
        if (a < pos)
            a = pos;
        if (a > pos && !fetch_todo_add(c, fs, pos, a))
            return HF_ERR_NOMEM;
        /* on disk from an earlier run: hash it when the hash gets there */
        if (!fetch_pending_disk(fs, a, b - a))
            return HF_ERR_NOMEM;
        fs->resumed += b - a;
        pos = b;
    }
    if (!fetch_todo_add(c, fs, pos, fs->f->size))
        return HF_ERR_NOMEM;
    free(fs->have);
    fs->have = NULL;
    fs->n_have = fs->cap_have = 0;
    c->done_bytes += fs->resumed;
    return HF_OK;
}
