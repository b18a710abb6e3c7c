/* Planned qcow2 writer (see hf_qcow2.h). The guest clusters to allocate are
 * known up front, so the whole host layout is computed once, the metadata is
 * written once, and data writes are plain pwrite() calls at computed offsets.
 * Written from qemu's docs/interop/qcow2.txt; every field is big-endian. */
#include "hf_qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLUSTER_BITS 16
#define CLUSTER ((uint64_t)1 << CLUSTER_BITS)
#define L2_BITS (CLUSTER_BITS - 3)              /* 8-byte entries: 8192 per L2 table */
#define L2_ENTRIES ((uint64_t)1 << L2_BITS)     /* so one L2 table maps 512 MiB */
#define RB_ENTRIES (CLUSTER / 2)                /* refcount_order 4: 16-bit refcounts */
#define OFLAG_COPIED ((uint64_t)1 << 63)        /* "refcount is exactly one" */
#define HEADER_LEN 104                          /* version 3 header without optional fields */
/* qemu refuses L1 tables over 32 MiB and refcount tables over 8 MiB; both cap us at 2 PiB. */
#define MAX_L1_ENTRIES (((uint64_t)32 << 20) / 8)
#define MAX_VIRTUAL_SIZE (MAX_L1_ENTRIES * L2_ENTRIES * CLUSTER)
#define MAX_RT_CLUSTERS (((uint64_t)8 << 20) / CLUSTER)

/* A run of consecutive allocated guest clusters. Data clusters are laid out in
 * ascending guest order, so a run is also contiguous on the host. */
typedef struct {
    uint64_t first; /* first guest cluster */
    uint64_t count;
    uint64_t host;  /* host offset of the first cluster */
} run;

struct hf_qcow2 {
    int fd;
    uint64_t virtual_size;
    run *runs; /* sorted, disjoint and never adjacent (merged) */
    size_t nruns;
    uint32_t *l2_for; /* L1 indices that get an L2 table, ascending; table k is at l2_off + k clusters */
    size_t nl2;
    uint64_t l1_size, rt_clusters, rb_clusters, l1_clusters, data_clusters;
    uint64_t rt_off, rb_off, l1_off, l2_off, data_off, file_size;
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t div_up(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static bool pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w == 0)
            errno = ENOSPC; /* pwrite made no progress: report it as a full disk */
        if (w <= 0)
            return false;
        p += w, len -= (size_t)w, off += (uint64_t)w;
    }
    return true;
}

/* Reads exactly len bytes; false on error or end of file. */
static bool pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r, len -= (size_t)r, off += (uint64_t)r;
    }
    return true;
}

static int cmp_first(const void *a, const void *b)
{
    uint64_t x = ((const run *)a)->first, y = ((const run *)b)->first;
    return x < y ? -1 : x > y;
}

/* Turns the byte ranges into sorted, merged runs of guest clusters. */
static hf_code plan_runs(hf_qcow2 *q, const hf_range *ranges, size_t n, hf_error *err)
{
    q->runs = calloc(n ? n : 1, sizeof *q->runs);
    if (!q->runs)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory planning %zu ranges", n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t s = ranges[i].start, len = ranges[i].length;
        if (len > UINT64_MAX - s)
            return hf_error_set(err, HF_ERR_INVALID,
                                "range %zu (start %llu, length %llu) overflows a 64-bit offset", i,
                                (unsigned long long)s, (unsigned long long)len);
        if (s + len > q->virtual_size)
            return hf_error_set(err, HF_ERR_INVALID,
                                "range %zu (start %llu, length %llu) ends beyond the virtual size %llu",
                                i, (unsigned long long)s, (unsigned long long)len,
                                (unsigned long long)q->virtual_size);
        if (len == 0)
            continue;
        q->runs[m].first = s >> CLUSTER_BITS;
        q->runs[m].count = ((s + len - 1) >> CLUSTER_BITS) - q->runs[m].first + 1;
        m++;
    }
    qsort(q->runs, m, sizeof *q->runs, cmp_first);
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        run *prev = k ? &q->runs[k - 1] : NULL;
        if (prev && q->runs[i].first <= prev->first + prev->count) { /* overlapping or adjacent */
            uint64_t end = q->runs[i].first + q->runs[i].count;
            if (end > prev->first + prev->count)
                prev->count = end - prev->first;
        } else {
            q->runs[k++] = q->runs[i];
        }
    }
    q->nruns = k;
    run *fit = realloc(q->runs, (k ? k : 1) * sizeof *q->runs); /* keep only the merged runs */
    if (fit)
        q->runs = fit;
    return HF_OK;
}

/* Lists the L1 indices whose 512 MiB of guest space holds at least one run
 * (first pass counts, second pass fills). */
static hf_code plan_l2(hf_qcow2 *q, hf_error *err)
{
    for (int pass = 0; pass < 2; pass++) {
        size_t k = 0;
        uint64_t next = 0; /* lowest L1 index not listed yet */
        for (size_t i = 0; i < q->nruns; i++) {
            uint64_t lo = q->runs[i].first >> L2_BITS;
            uint64_t hi = (q->runs[i].first + q->runs[i].count - 1) >> L2_BITS;
            for (uint64_t l1 = lo > next ? lo : next; l1 <= hi; l1++, k++) {
                if (pass)
                    q->l2_for[k] = (uint32_t)l1;
                next = l1 + 1;
            }
        }
        if (!pass) {
            q->nl2 = k;
            q->l2_for = calloc(k ? k : 1, sizeof *q->l2_for);
            if (!q->l2_for)
                return hf_error_set(err, HF_ERR_NOMEM, "out of memory planning %zu L2 tables", k);
        }
    }
    return HF_OK;
}

static void plan_layout(hf_qcow2 *q)
{
    q->l1_size = div_up(q->virtual_size, L2_ENTRIES * CLUSTER);
    q->l1_clusters = div_up(q->l1_size * 8, CLUSTER);
    q->data_clusters = 0;
    for (size_t i = 0; i < q->nruns; i++)
        q->data_clusters += q->runs[i].count;
    /* The refcount blocks count every cluster, themselves and the refcount table
     * included: grow both until they cover the total. Sizes only increase, so
     * this settles within a few rounds. */
    uint64_t fixed = 1 + q->l1_clusters + q->nl2 + q->data_clusters;
    uint64_t rb = 0, rt = 0;
    for (;;) {
        uint64_t nrb = div_up(fixed + rb + rt, RB_ENTRIES);
        uint64_t nrt = div_up(nrb * 8, CLUSTER);
        if (nrb == rb && nrt == rt)
            break;
        rb = nrb, rt = nrt;
    }
    q->rb_clusters = rb, q->rt_clusters = rt;
    q->rt_off = CLUSTER;
    q->rb_off = q->rt_off + rt * CLUSTER;
    q->l1_off = q->rb_off + rb * CLUSTER;
    q->l2_off = q->l1_off + q->l1_clusters * CLUSTER;
    q->data_off = q->l2_off + q->nl2 * CLUSTER;
    q->file_size = q->data_off + q->data_clusters * CLUSTER;
    uint64_t host = q->data_off;
    for (size_t i = 0; i < q->nruns; i++) {
        q->runs[i].host = host;
        host += q->runs[i].count * CLUSTER;
    }
}

/* Writes one piece of metadata from buf, or on resume checks that the file
 * already holds exactly it. */
typedef struct {
    hf_qcow2 *q;
    bool verify;
    const char *path;
    uint8_t *buf, *cmp; /* one cluster each */
} emitter;

static hf_code emit(emitter *e, size_t len, uint64_t off, const char *what, hf_error *err)
{
    if (e->verify) {
        if (!pread_all(e->q->fd, e->cmp, len, off) || memcmp(e->buf, e->cmp, len))
            return hf_error_set(err, HF_ERR_INVALID,
                                "cannot resume %s: its %s does not match this plan; delete it",
                                e->path, what);
        return HF_OK;
    }
    if (!pwrite_all(e->q->fd, e->buf, len, off))
        return hf_error_set(err, HF_ERR_IO, "cannot write the %s of %s: %s", what, e->path,
                            strerror(errno));
    return HF_OK;
}

static hf_code emit_header(emitter *e, hf_error *err)
{
    const hf_qcow2 *q = e->q;
    uint8_t *h = e->buf;
    memset(h, 0, HEADER_LEN + 8); /* the 8 bytes after the header: "end of header extensions" */
    memcpy(h, "QFI\xfb", 4);
    put32(h + 4, 3);              /* version; no backing file: bytes 8-19 stay 0 */
    put32(h + 20, CLUSTER_BITS);
    put64(h + 24, q->virtual_size);
    put32(h + 36, (uint32_t)q->l1_size); /* crypt_method (32-35) stays 0 */
    put64(h + 40, q->l1_off);
    put64(h + 48, q->rt_off);
    put32(h + 56, (uint32_t)q->rt_clusters);
    put32(h + 96, 4);             /* refcount_order; no snapshots, no feature bits */
    put32(h + 100, HEADER_LEN);
    return emit(e, HEADER_LEN + 8, 0, "header", err);
}

static hf_code emit_refcounts(emitter *e, hf_error *err)
{
    const hf_qcow2 *q = e->q;
    hf_code rc;
    for (uint64_t off = 0; off < q->rb_clusters * 8; off += CLUSTER) {
        size_t len = (size_t)min64(q->rb_clusters * 8 - off, CLUSTER);
        for (size_t i = 0; i < len; i += 8)
            put64(e->buf + i, q->rb_off + (off + i) / 8 * CLUSTER);
        if ((rc = emit(e, len, q->rt_off + off, "refcount table", err)))
            return rc;
    }
    uint64_t total = q->file_size / CLUSTER;
    for (uint64_t b = 0; b < q->rb_clusters; b++) {
        memset(e->buf, 0, CLUSTER);
        for (uint64_t i = 0; i < RB_ENTRIES && b * RB_ENTRIES + i < total; i++)
            e->buf[2 * i + 1] = 1; /* every cluster in the file is referenced exactly once */
        if ((rc = emit(e, CLUSTER, q->rb_off + b * CLUSTER, "refcount block", err)))
            return rc;
    }
    return HF_OK;
}

static hf_code emit_l1(emitter *e, hf_error *err)
{
    const hf_qcow2 *q = e->q;
    size_t k = 0;
    for (uint64_t off = 0; off < q->l1_size * 8; off += CLUSTER) {
        size_t len = (size_t)min64(q->l1_size * 8 - off, CLUSTER);
        memset(e->buf, 0, len);
        for (; k < q->nl2 && (uint64_t)q->l2_for[k] * 8 < off + len; k++)
            put64(e->buf + (uint64_t)q->l2_for[k] * 8 - off, (q->l2_off + k * CLUSTER) | OFLAG_COPIED);
        hf_code rc = emit(e, len, q->l1_off + off, "L1 table", err);
        if (rc)
            return rc;
    }
    return HF_OK;
}

static hf_code emit_l2(emitter *e, hf_error *err)
{
    const hf_qcow2 *q = e->q;
    size_t r = 0;
    for (size_t k = 0; k < q->nl2; k++) {
        uint64_t base = (uint64_t)q->l2_for[k] << L2_BITS, end = base + L2_ENTRIES;
        memset(e->buf, 0, CLUSTER);
        while (r < q->nruns && q->runs[r].first < end) {
            const run *u = &q->runs[r];
            uint64_t lo = u->first > base ? u->first : base, hi = min64(u->first + u->count, end);
            for (uint64_t g = lo; g < hi; g++)
                put64(e->buf + (g - base) * 8, (u->host + (g - u->first) * CLUSTER) | OFLAG_COPIED);
            if (u->first + u->count > end)
                break; /* the run continues in the next L2 table */
            r++;
        }
        hf_code rc = emit(e, CLUSTER, q->l2_off + k * CLUSTER, "L2 table", err);
        if (rc)
            return rc;
    }
    return HF_OK;
}

/* On a fresh file the header goes last, so a file cut short by kill -9 during
 * create is never taken for a complete plan. On resume the header is checked
 * first because it gives the most telling mismatch. */
static hf_code emit_all(hf_qcow2 *q, const char *path, bool verify, hf_error *err)
{
    emitter e = {q, verify, path, malloc(CLUSTER), malloc(CLUSTER)};
    hf_code rc = HF_OK;
    if (!e.buf || !e.cmp)
        rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    if (!rc && verify)
        rc = emit_header(&e, err);
    if (!rc)
        rc = emit_refcounts(&e, err);
    if (!rc)
        rc = emit_l1(&e, err);
    if (!rc)
        rc = emit_l2(&e, err);
    if (!rc && !verify)
        rc = emit_header(&e, err);
    free(e.buf);
    free(e.cmp);
    return rc;
}

hf_code hf_qcow2_create(const char *path, uint64_t virtual_size, const hf_range *ranges, size_t n,
                        bool resume, hf_qcow2 **out, hf_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !*path || !out || (n && !ranges))
        return hf_error_set(err, HF_ERR_USAGE, "hf_qcow2_create: missing path, ranges or result");
    if (virtual_size == 0 || virtual_size % 512)
        return hf_error_set(err, HF_ERR_INVALID,
                            "the virtual size %llu of %s must be a non-zero multiple of 512 bytes",
                            (unsigned long long)virtual_size, path);
    if (virtual_size > MAX_VIRTUAL_SIZE)
        return hf_error_set(err, HF_ERR_INVALID,
                            "the virtual size %llu of %s is larger than qcow2 allows (%llu)",
                            (unsigned long long)virtual_size, path,
                            (unsigned long long)MAX_VIRTUAL_SIZE);
    hf_qcow2 *q = calloc(1, sizeof *q);
    if (!q)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    q->fd = -1;
    q->virtual_size = virtual_size;
    hf_code rc = plan_runs(q, ranges, n, err);
    if (!rc)
        rc = plan_l2(q, err);
    if (!rc) {
        plan_layout(q);
        if (q->rt_clusters > MAX_RT_CLUSTERS)
            rc = hf_error_set(err, HF_ERR_INVALID, "%s would be too large for qcow2", path);
    }
    if (!rc) {
        /* a new image replaces whatever is at path (a symlink is removed, not followed) */
        int flags = resume ? O_RDWR | O_NOFOLLOW | O_CLOEXEC
                           : O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
        if (!resume)
            unlink(path);
        q->fd = open(path, flags, 0644);
        if (q->fd < 0)
            rc = hf_error_set(err, HF_ERR_IO, "cannot %s %s: %s", resume ? "resume" : "create", path,
                              strerror(errno));
    }
    if (!rc)
        rc = emit_all(q, path, resume, err);
    if (rc) {
        hf_qcow2_close(q);
        return rc;
    }
    *out = q;
    return HF_OK;
}

/* Index of the run holding guest cluster c, or SIZE_MAX. */
static size_t find_run(const hf_qcow2 *q, uint64_t c)
{
    size_t lo = 0, hi = q->nruns; /* finds the first run with first > c */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (q->runs[mid].first <= c)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || c >= q->runs[lo - 1].first + q->runs[lo - 1].count)
        return SIZE_MAX;
    return lo - 1;
}

hf_code hf_qcow2_pwrite(hf_qcow2 *q, const void *buf, size_t len, uint64_t guest_off,
                        hf_error *err)
{
    if (!q || (len && !buf))
        return hf_error_set(err, HF_ERR_USAGE, "hf_qcow2_pwrite: missing image or buffer");
    if (guest_off > q->virtual_size || len > q->virtual_size - guest_off)
        return hf_error_set(err, HF_ERR_INVALID,
                            "cannot write %zu bytes at guest offset %llu: beyond the virtual size %llu",
                            len, (unsigned long long)guest_off, (unsigned long long)q->virtual_size);
    if (len == 0)
        return HF_OK;
    /* Runs are merged, so the gap between two runs is unallocated: a valid write
     * lies inside one run, which is contiguous on the host, and is one pwrite. */
    size_t r = find_run(q, guest_off >> CLUSTER_BITS);
    uint64_t run_end = r == SIZE_MAX ? 0 : (q->runs[r].first + q->runs[r].count) << CLUSTER_BITS;
    if (r == SIZE_MAX || len > run_end - guest_off)
        return hf_error_set(err, HF_ERR_INVALID,
                            "cannot write %zu bytes at guest offset %llu: guest offset %llu lies in a "
                            "cluster the image plan did not allocate",
                            len, (unsigned long long)guest_off,
                            (unsigned long long)(r == SIZE_MAX ? guest_off : run_end));
    uint64_t host = q->runs[r].host + (guest_off - (q->runs[r].first << CLUSTER_BITS));
    if (!pwrite_all(q->fd, buf, len, host))
        return hf_error_set(err, HF_ERR_IO, "cannot write %zu bytes at guest offset %llu of the image: %s",
                            len, (unsigned long long)guest_off, strerror(errno));
    return HF_OK;
}

uint64_t hf_qcow2_host_offset(const hf_qcow2 *q, uint64_t guest_off)
{
    if (!q || guest_off >= q->virtual_size)
        return UINT64_MAX;
    size_t r = find_run(q, guest_off >> CLUSTER_BITS);
    if (r == SIZE_MAX)
        return UINT64_MAX;
    return q->runs[r].host + (guest_off - (q->runs[r].first << CLUSTER_BITS));
}

int hf_qcow2_fd(const hf_qcow2 *q) { return q ? q->fd : -1; }

uint64_t hf_qcow2_file_size(const hf_qcow2 *q) { return q ? q->file_size : 0; }

uint64_t hf_qcow2_data_offset(const hf_qcow2 *q) { return q ? q->data_off : 0; }

size_t hf_qcow2_run_count(const hf_qcow2 *q) { return q ? q->nruns : 0; }

hf_range hf_qcow2_run_range(const hf_qcow2 *q, size_t i)
{
    if (!q || i >= q->nruns)
        return (hf_range){0, 0};
    return (hf_range){q->runs[i].first << CLUSTER_BITS, q->runs[i].count << CLUSTER_BITS};
}

hf_code hf_qcow2_finish(hf_qcow2 *q, hf_error *err)
{
    if (!q)
        return hf_error_set(err, HF_ERR_USAGE, "hf_qcow2_finish: no image");
    if (ftruncate(q->fd, (off_t)q->file_size) != 0)
        return hf_error_set(err, HF_ERR_IO, "cannot set the image size to %llu bytes: %s",
                            (unsigned long long)q->file_size, strerror(errno));
    if (fsync(q->fd) != 0)
        return hf_error_set(err, HF_ERR_IO, "cannot flush the image to disk: %s", strerror(errno));
    return HF_OK;
}

void hf_qcow2_close(hf_qcow2 *q)
{
    if (!q)
        return;
    if (q->fd >= 0)
        close(q->fd);
    free(q->runs);
    free(q->l2_for);
    free(q);
}
