/* The planned qcow2 writer: layout, shuffled parallel writes, determinism,
 * resume, refusal of bad input, and a 20 GiB scale plan. Images are read back
 * with a tiny independent reader (header -> L1 -> L2 -> host), not with the
 * writer's own lookup. With HFHUB_QCOW2_KEEP=<dir> the images and their
 * expected raw contents (image/expected, empty, scale: *.qcow2 + *.raw) stay
 * there for tests/e2e/test_qcow2_image.sh to run qemu-img on. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hf_qcow2.h"
#include "hf_sizing.h"
#include "unit.h"

#define C 65536ULL
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define OFFSET_MASK 0x00fffffffffffe00ULL /* bits 9-55 of L1/L2/refcount table entries */

static char dir[4096];

static const char *in_dir(const char *name)
{
    static char paths[8][4200];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    return p;
}

/* The data every test writes: a function of the guest offset only, so
 * overlapping ranges and rewrites agree. */
static uint8_t pat(uint64_t off) { return (uint8_t)((off * 0x9E3779B97F4A7C15ULL) >> 56); }

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static uint32_t get32(const uint8_t *p) { return (uint32_t)(get64(p) >> 32); }

static uint64_t rd64(int fd, uint64_t off)
{
    uint8_t b[8] = {0};
    return pread(fd, b, 8, (off_t)off) == 8 ? get64(b) : UINT64_MAX;
}

/* ---- an independent reader ---------------------------------------------- */

/* Reads guest bytes through the file's own tables; unallocated reads as zeros.
 * False on inconsistent metadata (entry without the COPIED bit, out of range). */
static bool qread(int fd, uint64_t off, uint8_t *buf, size_t len)
{
    uint8_t h[104];
    if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h)
        return false;
    uint64_t l1_off = get64(h + 40), l1_size = get32(h + 36);
    while (len) {
        uint64_t c = off / C, in = off % C;
        size_t n = len < C - in ? len : (size_t)(C - in);
        if (c / 8192 >= l1_size)
            return false;
        uint64_t e1 = rd64(fd, l1_off + c / 8192 * 8), host = 0;
        if (e1) {
            uint64_t e2 = rd64(fd, (e1 & OFFSET_MASK) + c % 8192 * 8);
            if (!(e1 >> 63) || (e2 && !(e2 >> 63)) || (e2 & ~(OFFSET_MASK | 1ULL << 63)))
                return false;
            host = e2 & OFFSET_MASK;
        }
        memset(buf, 0, n);
        if (host && pread(fd, buf, n, (off_t)(host + in)) < 0)
            return false;
        buf += n, len -= n, off += n;
    }
    return true;
}

/* Every host cluster below the end of the file has refcount exactly 1, every
 * refcount entry past it 0 (qemu-img check in the e2e test does the full job). */
static bool refcounts_exact(int fd)
{
    uint8_t h[104];
    struct stat st;
    if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h || fstat(fd, &st) || st.st_size % C)
        return false;
    uint64_t rt_off = get64(h + 48), rt_entries = get32(h + 56) * C / 8;
    uint64_t clusters = (uint64_t)st.st_size / C;
    uint8_t *blk = malloc(C);
    bool ok = blk != NULL;
    for (uint64_t b = 0; ok && b < rt_entries; b++) {
        uint64_t e = rd64(fd, rt_off + b * 8);
        if (e == 0) {
            ok = b * (C / 2) >= clusters;
            continue;
        }
        ok = pread(fd, blk, C, (off_t)(e & OFFSET_MASK)) == (ssize_t)C;
        for (uint64_t i = 0; ok && i < C / 2; i++)
            ok = (uint64_t)(blk[2 * i] << 8 | blk[2 * i + 1]) == (b * (C / 2) + i < clusters);
    }
    free(blk);
    return ok;
}

/* ---- writing patterns ------------------------------------------------------ */

typedef struct { uint64_t off; size_t len; } piece;

static uint64_t rng = 12345;
static uint64_t rnd(uint64_t n)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (rng >> 33) % n;
}

/* Cuts the ranges into pieces of random sizes, in shuffled order. */
static piece *cut(const hf_range *r, size_t n, size_t *np)
{
    size_t cap = 1024, k = 0;
    piece *p = malloc(cap * sizeof *p);
    for (size_t i = 0; p && i < n; i++) {
        for (uint64_t o = r[i].start; o < r[i].start + r[i].length;) {
            uint64_t len = 1 + rnd(40000), left = r[i].start + r[i].length - o;
            if (len > left)
                len = left;
            if (k == cap)
                p = realloc(p, (cap *= 2) * sizeof *p);
            if (!p)
                break;
            p[k++] = (piece){o, (size_t)len};
            o += len;
        }
    }
    for (size_t i = k; p && i > 1; i--) {
        size_t j = (size_t)rnd(i);
        piece t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    *np = k;
    return p;
}

static void fill(uint8_t *buf, uint64_t off, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pat(off + i);
}

typedef struct {
    hf_qcow2 *q;
    const piece *p;
    size_t from, to, step;
    int failures;
    char msg[1024];
} writer;

static void *write_pieces(void *arg)
{
    writer *w = arg;
    uint8_t *buf = malloc(150000);
    for (size_t i = w->from; buf && i < w->to; i += w->step) {
        hf_error e;
        fill(buf, w->p[i].off, w->p[i].len);
        if (hf_qcow2_pwrite(w->q, buf, w->p[i].len, w->p[i].off, &e) != HF_OK) {
            w->failures++;
            snprintf(w->msg, sizeof w->msg, "%s", e.msg);
        }
    }
    if (!buf)
        w->failures++;
    free(buf);
    return NULL;
}

/* Writes pieces [from, to) with 4 threads at once; returns the number of failed writes. */
static int write_parallel(hf_qcow2 *q, const piece *p, size_t from, size_t to)
{
    writer w[4];
    pthread_t t[4];
    int failures = 0;
    for (int i = 0; i < 4; i++) {
        w[i] = (writer){q, p, from + (size_t)i, to, 4, 0, ""};
        if (pthread_create(&t[i], NULL, write_pieces, &w[i]))
            return -1;
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        failures += w[i].failures;
        if (w[i].failures)
            printf("# %s\n", w[i].msg);
    }
    return failures;
}

/* The expected disk: a sparse raw file with the same bytes at the same offsets. */
static bool write_raw(const char *path, uint64_t size, const hf_range *r, size_t n)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    bool ok = fd >= 0 && ftruncate(fd, (off_t)size) == 0;
    uint8_t *buf = malloc(MiB);
    for (size_t i = 0; ok && buf && i < n; i++)
        for (uint64_t o = r[i].start; ok && o < r[i].start + r[i].length; o += MiB) {
            size_t len = (size_t)(r[i].start + r[i].length - o < MiB ? r[i].start + r[i].length - o : MiB);
            fill(buf, o, len);
            ok = pwrite(fd, buf, len, (off_t)o) == (ssize_t)len;
        }
    ok = ok && buf;
    free(buf);
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Every byte of the given guest clusters reads back as written (pattern inside
 * the written ranges, zeros elsewhere). */
static bool clusters_match(int fd, const uint64_t *clusters, size_t n, const hf_range *written,
                           size_t nw)
{
    uint8_t *got = malloc(C);
    bool ok = got != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        uint64_t base = clusters[i] * C;
        ok = qread(fd, base, got, C);
        for (uint64_t j = 0; ok && j < C; j++) {
            uint64_t off = base + j;
            uint8_t want = 0;
            for (size_t k = 0; k < nw; k++)
                if (off >= written[k].start && off - written[k].start < written[k].length)
                    want = pat(off);
            if (got[j] != want) {
                printf("# guest offset %llu: got %u, want %u\n", (unsigned long long)off, got[j], want);
                ok = false;
            }
        }
    }
    free(got);
    return ok;
}

static bool zeros_at(int fd, uint64_t off, size_t len)
{
    uint8_t *b = malloc(len);
    bool ok = b && qread(fd, off, b, len);
    for (size_t i = 0; ok && i < len; i++)
        ok = b[i] == 0;
    free(b);
    return ok;
}

static bool same_bytes(const char *a, const char *b, uint64_t len)
{
    int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
    uint8_t *x = malloc(C), *y = malloc(C);
    bool ok = fa >= 0 && fb >= 0 && x && y;
    for (uint64_t o = 0; ok && o < len; o += C)
        ok = pread(fa, x, C, (off_t)o) == (ssize_t)C && pread(fb, y, C, (off_t)o) == (ssize_t)C &&
             !memcmp(x, y, C);
    free(x);
    free(y);
    if (fa >= 0)
        close(fa);
    if (fb >= 0)
        close(fb);
    return ok;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---- the tests ----------------------------------------------------------------- */

/* 3 x 512 MiB + 7 sectors: not a whole number of clusters, four L1 entries. */
#define V (3 * 512 * MiB + 7 * 512)

static const hf_range planned[] = {
    {100003, 200001},                 /* a: unaligned start and length */
    {300004, 3 * C + 17},             /* b: starts where a ends */
    {250000, 100000},                 /* c: overlaps a and b */
    {512 * MiB - 100000, 300000},     /* d: crosses from the first L2 table into the second */
    {900 * MiB, C},                   /* g: allocated, never written */
    {V - 70000, 70000},               /* e: ends at the very end of the disk */
    {20 * C, 0},                      /* touches nothing */
};
#define NPLANNED (sizeof planned / sizeof planned[0])
static const hf_range written[] = {
    {100003, 200001}, {300004, 3 * C + 17}, {250000, 100000},
    {512 * MiB - 100000, 300000}, {V - 70000, 70000},
};
#define NWRITTEN (sizeof written / sizeof written[0])
/* The 17 guest clusters the plan allocates, in order. */
static const uint64_t alloc_clusters[] = {1,    2,    3,    4,    5,     6,     7,     8190,  8191,
                                          8192, 8193, 8194, 8195, 14400, 24574, 24575, 24576};
#define NALLOC (sizeof alloc_clusters / sizeof alloc_clusters[0])

static void test_layout_and_data(void)
{
    hf_error e;
    hf_qcow2 *q = NULL;
    const char *img = in_dir("image.qcow2");
    CHECK(hf_qcow2_create(img, V, planned, NPLANNED, false, &q, &e) == HF_OK, "plan created");
    if (!q)
        return;
    /* header, refcount table, 1 refcount block, 1 L1 cluster, 4 L2 tables, then 17 data clusters */
    CHECK(hf_qcow2_file_size(q) == 25 * C, "file size is 25 clusters (got %llu)",
          (unsigned long long)hf_qcow2_file_size(q));
    CHECK(hf_qcow2_host_offset(q, 100003) == 8 * C + (100003 - C), "first data cluster follows the L2 tables");
    CHECK(hf_qcow2_host_offset(q, 512 * MiB - 100000) == 15 * C + (512 * MiB - 100000 - 8190 * C),
          "data clusters in ascending guest order");
    CHECK(hf_qcow2_host_offset(q, V - 1) == 25 * C - 1 - (24577 * C - V), "last disk byte is in the last cluster");
    CHECK(hf_qcow2_host_offset(q, 0) == UINT64_MAX && hf_qcow2_host_offset(q, 20 * C) == UINT64_MAX &&
              hf_qcow2_host_offset(q, GiB) == UINT64_MAX && hf_qcow2_host_offset(q, V) == UINT64_MAX,
          "unplanned clusters and offsets past the disk have no host offset");
    CHECK(hf_qcow2_host_offset(q, 900 * MiB + 12) == 21 * C + 12, "never-written cluster is still allocated");

    size_t np;
    piece *p = cut(written, NWRITTEN, &np);
    CHECK(p && write_parallel(q, p, 0, np) == 0, "%zu shuffled pieces written by 4 threads", np);
    free(p);
    CHECK(hf_qcow2_finish(q, &e) == HF_OK, "finish");
    int fd = hf_qcow2_fd(q);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && (uint64_t)st.st_size == 25 * C, "finished file has its planned size");

    uint8_t h[112];
    CHECK(pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h && !memcmp(h, "QFI\xfb", 4) && get32(h + 4) == 3 &&
              get32(h + 20) == 16 && get64(h + 24) == V && get32(h + 36) == 4 && get64(h + 40) == 3 * C &&
              get64(h + 48) == C && get32(h + 56) == 1 && get32(h + 96) == 4 && get32(h + 100) == 104 &&
              get64(h + 104) == 0,
          "header: v3, 64 KiB clusters, size, L1 at cluster 3, refcount table at 1, order 4, end of extensions");
    CHECK(clusters_match(fd, alloc_clusters, NALLOC, written, NWRITTEN),
          "every allocated cluster reads back as written (independent reader)");
    CHECK(zeros_at(fd, 900 * MiB, C), "a never-written cluster reads as zeros");
    CHECK(zeros_at(fd, 0, C) && zeros_at(fd, 20 * C, C) && zeros_at(fd, GiB, 3 * C),
          "unallocated clusters read as zeros");
    CHECK(refcounts_exact(fd), "every cluster in the file has refcount 1, none beyond");
    hf_qcow2_close(q);
    CHECK(write_raw(in_dir("expected.raw"), V, written, NWRITTEN), "expected raw image written");
}

static void test_deterministic(void)
{
    hf_error e;
    hf_qcow2 *a = NULL, *b = NULL;
    hf_range rev[NPLANNED];
    for (size_t i = 0; i < NPLANNED; i++)
        rev[i] = planned[NPLANNED - 1 - i];
    CHECK(hf_qcow2_create(in_dir("plan1.qcow2"), V, planned, NPLANNED, false, &a, &e) == HF_OK &&
              hf_qcow2_create(in_dir("plan2.qcow2"), V, rev, NPLANNED, false, &b, &e) == HF_OK,
          "the same plan twice, ranges in reverse order the second time");
    if (!a || !b) {
        hf_qcow2_close(a);
        hf_qcow2_close(b);
        return;
    }
    bool same = hf_qcow2_file_size(a) == hf_qcow2_file_size(b);
    for (uint64_t off = 0; off < V; off += 4093)
        same = same && hf_qcow2_host_offset(a, off) == hf_qcow2_host_offset(b, off);
    CHECK(same, "identical host offsets and file size");
    hf_qcow2_close(a);
    hf_qcow2_close(b);
    CHECK(same_bytes(in_dir("plan1.qcow2"), in_dir("plan2.qcow2"), 8 * C), "identical metadata bytes");
    unlink(in_dir("plan1.qcow2"));
    unlink(in_dir("plan2.qcow2"));
}

static void test_resume(void)
{
    hf_error e;
    hf_qcow2 *q = NULL;
    const char *img = in_dir("image.qcow2"), *part = in_dir("partial.qcow2");

    /* A download killed half way: the file stays short and unfinished. */
    size_t np;
    rng = 777;
    piece *p = cut(written, NWRITTEN, &np);
    CHECK(p && hf_qcow2_create(part, V, planned, NPLANNED, false, &q, &e) == HF_OK &&
              write_parallel(q, p, 0, np / 2) == 0,
          "half of the pieces written, then the process dies");
    hf_qcow2_close(q);
    q = NULL;
    CHECK(p && hf_qcow2_create(part, V, planned, NPLANNED, true, &q, &e) == HF_OK &&
              write_parallel(q, p, np / 3, np) == 0 && hf_qcow2_finish(q, &e) == HF_OK,
          "resumed: the rest written (some pieces twice), finished");
    free(p);
    CHECK(q && clusters_match(hf_qcow2_fd(q), alloc_clusters, NALLOC, written, NWRITTEN) &&
              refcounts_exact(hf_qcow2_fd(q)),
          "resumed image holds all the data, refcounts exact");
    hf_qcow2_close(q);
    q = NULL;
    unlink(part);

    CHECK(hf_qcow2_create(img, V, planned, NPLANNED, true, &q, &e) == HF_OK, "finished image reopened with resume");
    CHECK(q && clusters_match(hf_qcow2_fd(q), alloc_clusters, NALLOC, written, NWRITTEN),
          "resume keeps the data");
    CHECK(q && hf_qcow2_finish(q, &e) == HF_OK, "finish again");
    hf_qcow2_close(q);
    q = NULL;

    /* Same header (same size and cluster counts), one cluster moved: only the L2 tables differ. */
    hf_range moved[NPLANNED];
    memcpy(moved, planned, sizeof moved);
    moved[4].start += C;
    hf_code rc = hf_qcow2_create(img, V, moved, NPLANNED, true, &q, &e);
    CHECK(rc == HF_ERR_INVALID && !q && strstr(e.msg, "L2 table does not match") && strstr(e.msg, "delete it"),
          "resume with a different plan refused: %s", rc ? e.msg : "accepted");
    rc = hf_qcow2_create(img, V + 512, planned, NPLANNED, true, &q, &e);
    CHECK(rc == HF_ERR_INVALID && strstr(e.msg, "header does not match"),
          "resume with another disk size refused: %s", rc ? e.msg : "accepted");
    int fd = open(img, O_RDONLY);
    CHECK(fd >= 0 && clusters_match(fd, alloc_clusters, NALLOC, written, NWRITTEN) && refcounts_exact(fd),
          "refused resumes left the image untouched");
    if (fd >= 0)
        close(fd);

    rc = hf_qcow2_create(in_dir("missing.qcow2"), V, planned, NPLANNED, true, &q, &e);
    CHECK(rc == HF_ERR_IO && strstr(e.msg, "missing.qcow2"), "resume of a missing file: %s", e.msg);
    fd = open(in_dir("short.qcow2"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0)
        close(fd);
    rc = hf_qcow2_create(in_dir("short.qcow2"), V, planned, NPLANNED, true, &q, &e);
    CHECK(rc == HF_ERR_INVALID && strstr(e.msg, "delete it"), "resume of an empty file: %s", e.msg);
    unlink(in_dir("short.qcow2"));
}

static void test_invalid(void)
{
    hf_error e;
    hf_qcow2 *q = NULL;
    const char *bad = in_dir("bad.qcow2");
    hf_range r1 = {V - 10, 11}, r2 = {UINT64_MAX - 5, 10};
    hf_code rc;

    rc = hf_qcow2_create(bad, 0, NULL, 0, false, &q, &e);
    CHECK(rc == HF_ERR_INVALID && strstr(e.msg, "non-zero multiple of 512"), "zero size refused: %s", e.msg);
    rc = hf_qcow2_create(bad, 1000, NULL, 0, false, &q, &e);
    CHECK(rc == HF_ERR_INVALID && strstr(e.msg, "multiple of 512"), "unaligned size refused: %s", e.msg);
    rc = hf_qcow2_create(bad, 1ULL << 60, NULL, 0, false, &q, &e);
    CHECK(rc == HF_ERR_INVALID && strstr(e.msg, "larger than qcow2 allows"), "huge size refused: %s", e.msg);
    rc = hf_qcow2_create(bad, V, &r1, 1, false, &q, &e);
    CHECK(rc == HF_ERR_INVALID && strstr(e.msg, "range 0") && strstr(e.msg, "beyond the virtual size"),
          "range past the end refused: %s", e.msg);
    rc = hf_qcow2_create(bad, V, &r2, 1, false, &q, &e);
    CHECK(rc == HF_ERR_INVALID && strstr(e.msg, "overflows"), "overflowing range refused: %s", e.msg);
    rc = hf_qcow2_create(bad, V, NULL, 2, false, &q, &e);
    CHECK(rc == HF_ERR_USAGE, "missing ranges refused: %s", e.msg);
    CHECK(hf_qcow2_create(bad, V, planned, NPLANNED, false, NULL, &e) == HF_ERR_USAGE, "missing result refused");
    CHECK(access(bad, F_OK) != 0 && !q, "refused plans create no file");

    CHECK(hf_qcow2_create(bad, V, planned, NPLANNED, false, &q, &e) == HF_OK, "plan for write checks");
    uint8_t buf[16] = {0};
    rc = hf_qcow2_pwrite(q, buf, 8, 0, &e);
    CHECK(rc == HF_ERR_INVALID && strstr(e.msg, "did not allocate"), "write to an unplanned cluster refused: %s",
          e.msg);
    rc = hf_qcow2_pwrite(q, buf, 16, 8 * C - 8, &e);
    CHECK(rc == HF_ERR_INVALID && strstr(e.msg, "guest offset 524288"),
          "write running out of the planned clusters refused: %s", e.msg);
    rc = hf_qcow2_pwrite(q, buf, 16, V - 8, &e);
    CHECK(rc == HF_ERR_INVALID && strstr(e.msg, "beyond the virtual size"), "write past the disk refused: %s",
          e.msg);
    CHECK(hf_qcow2_pwrite(q, buf, 0, 0, &e) == HF_OK, "empty write is a no-op");
    hf_qcow2_close(q);
    unlink(bad);
}

static void test_empty(void)
{
    hf_error e;
    hf_qcow2 *q = NULL;
    CHECK(hf_qcow2_create(in_dir("empty.qcow2"), MiB, NULL, 0, false, &q, &e) == HF_OK &&
              hf_qcow2_finish(q, &e) == HF_OK,
          "plan without data");
    CHECK(q && hf_qcow2_file_size(q) == 4 * C && refcounts_exact(hf_qcow2_fd(q)) &&
              zeros_at(hf_qcow2_fd(q), 0, MiB),
          "empty image: header, refcount table and block, L1; reads as zeros");
    hf_qcow2_close(q);
    CHECK(write_raw(in_dir("empty.raw"), MiB, NULL, 0), "expected empty raw written");
}

static void test_scale(void)
{
    hf_error e;
    hf_qcow2 *q = NULL;
    const hf_range big[] = {
        {MiB, 3 * GiB}, {4 * GiB + 12345, 3 * GiB}, {10 * GiB, 2 * GiB}, {16 * GiB, 2 * GiB - 4096}};
    hf_range w[8];
    for (int i = 0; i < 4; i++) {
        w[2 * i] = (hf_range){big[i].start, MiB};
        w[2 * i + 1] = (hf_range){big[i].start + big[i].length - MiB, MiB};
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hf_code rc = hf_qcow2_create(in_dir("scale.qcow2"), 20 * GiB, big, 4, false, &q, &e);
    double create_ms = ms_since(&t0);
    CHECK(rc == HF_OK, "20 GiB disk with 10 GiB in 4 ranges planned");
    if (!q)
        return;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t np;
    piece *p = cut(w, 8, &np);
    CHECK(p && write_parallel(q, p, 0, np) == 0 && hf_qcow2_finish(q, &e) == HF_OK, "8 MiB written, finished");
    double write_ms = ms_since(&t0);
    free(p);
    struct stat st;
    CHECK(fstat(hf_qcow2_fd(q), &st) == 0 && (uint64_t)st.st_size == hf_qcow2_file_size(q) &&
              (uint64_t)st.st_size > 10 * GiB && (uint64_t)st.st_blocks * 512 < 32 * MiB,
          "file of %llu bytes uses %llu KiB on disk", (unsigned long long)st.st_size,
          (unsigned long long)st.st_blocks / 2);
    CHECK(refcounts_exact(hf_qcow2_fd(q)), "scale image refcounts exact");
    CHECK(create_ms < 1000, "planned and metadata written in %.1f ms (under 1 s)", create_ms);
    printf("# scale: create %.1f ms, write 8 MiB + finish %.1f ms, %llu data clusters\n", create_ms, write_ms,
           (unsigned long long)(hf_qcow2_file_size(q) / C));
    hf_qcow2_close(q);
    CHECK(write_raw(in_dir("scale.raw"), 20 * GiB, w, 8), "expected scale raw written");
}

/* The largest image hfhub lays out (hf_sizing's 192 TiB) plans at once, with data at both
 * ends; one 512 bytes over qcow2's own limit (2 PiB) is refused. */
static void test_limits(void)
{
    hf_error e;
    hf_qcow2 *q = NULL;
    const uint64_t v = HF_EXT4_MAX_FS_BYTES;
    const hf_range r[] = {{0, MiB}, {v / 2 + 12345, 3 * MiB}, {v - MiB, MiB}};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hf_code rc = hf_qcow2_create(in_dir("limit.qcow2"), v, r, 3, false, &q, &e);
    double ms = ms_since(&t0);
    CHECK(rc == HF_OK && hf_qcow2_finish(q, &e) == HF_OK, "a 192 TiB disk planned (%s)", rc ? e.msg : "");
    CHECK(ms < 1000, "192 TiB planned and its metadata written in %.1f ms (under 1 s)", ms);
    if (q) {
        CHECK(refcounts_exact(hf_qcow2_fd(q)) && hf_qcow2_host_offset(q, v - 1) != UINT64_MAX,
              "192 TiB image: refcounts exact, the last byte mapped");
        hf_qcow2_close(q);
    }
    unlink(in_dir("limit.qcow2"));
    q = NULL;
    rc = hf_qcow2_create(in_dir("limit.qcow2"), ((uint64_t)2 << 50) + 512, NULL, 0, false, &q, &e);
    CHECK(rc == HF_ERR_INVALID && strstr(e.msg, "larger than qcow2 allows"),
          "2 PiB + 512 bytes refused: %s", e.msg);
    rc = hf_qcow2_create(in_dir("limit.qcow2"), (uint64_t)2 << 50, NULL, 0, false, &q, &e);
    CHECK(rc == HF_OK, "2 PiB (qemu's limit) accepted (%s)", rc ? e.msg : "");
    hf_qcow2_close(q);
    unlink(in_dir("limit.qcow2"));
}

int main(void)
{
    const char *keep = getenv("HFHUB_QCOW2_KEEP");
    if (keep && *keep) {
        snprintf(dir, sizeof dir, "%s", keep);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            printf("not ok - cannot create %s: %s\n", dir, strerror(errno));
            return 1;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/test_qcow2.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            printf("not ok - cannot create a temporary directory: %s\n", strerror(errno));
            return 1;
        }
    }
    test_layout_and_data();
    test_deterministic();
    test_resume();
    test_invalid();
    test_empty();
    test_scale();
    test_limits();
    if (!(keep && *keep)) {
        const char *names[] = {"image.qcow2", "expected.raw", "empty.qcow2", "empty.raw", "scale.qcow2",
                               "scale.raw"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            unlink(in_dir(names[i]));
        rmdir(dir);
    }
    UNIT_DONE();
}
