/* The in-order image writer: the stream of a planned image equals, byte for
 * byte, the file the random-access path makes (metadata copied from the raw
 * file, data written with hf_qcow2_pwrite, holes as zeros), whatever the
 * pieces' sizes; out-of-order or unallocated data and a reader that goes
 * away are errors, never a silently wrong image. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hf_image_stream.h"
#include "hf_qcow2.h"
#include "unit.h"

#define MiB (1ULL << 20)

static char dir[4096];

static const char *in_dir(const char *name)
{
    static char paths[4][4200];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    return p;
}

static uint8_t pat(uint64_t off) { return (uint8_t)((off * 0x9E3779B97F4A7C15ULL) >> 56 | 1); }

static void fill_pat(uint8_t *buf, uint64_t off, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pat(off + i);
}

/* The filesystem's metadata ranges and the file data, in guest bytes. */
static const hf_extent META[] = {
    {0, 0, 8192}, {3 * 65536, 3 * 65536, 4096}, {700 * MiB, 700 * MiB, 12288}};
static const hf_range DATA[] = {
    {12288, 100000}, {3 * 65536 + 4096, 2 * 65536}, {600 * MiB + 5, 3000}, {1024 * MiB + MiB, 3 * MiB}};
#define N_META (sizeof META / sizeof META[0])
#define N_DATA (sizeof DATA / sizeof DATA[0])
#define VSIZE (1536 * MiB)

static hf_range all_ranges[N_META + N_DATA];

static void plan_ranges(void)
{
    for (size_t i = 0; i < N_META; i++)
        all_ranges[i] = (hf_range){META[i].image_offset, META[i].length};
    for (size_t i = 0; i < N_DATA; i++)
        all_ranges[N_META + i] = DATA[i];
}

/* A raw metadata file: the pattern inside the metadata ranges, 0xEE (which must never reach
 * the image) around them. */
static int make_raw(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    uint8_t buf[65536];
    for (size_t i = 0; i < N_META; i++) {
        uint64_t lo = META[i].image_offset >= 4096 ? META[i].image_offset - 4096 : 0;
        memset(buf, 0xEE, sizeof buf);
        if (pwrite(fd, buf, META[i].length + 8192, (off_t)lo) < 0)
            return -1;
        fill_pat(buf, META[i].image_offset, (size_t)META[i].length);
        if (pwrite(fd, buf, META[i].length, (off_t)META[i].image_offset) < 0)
            return -1;
    }
    return fd;
}

static bool make_reference(const char *path, int raw)
{
    hf_error err = {0};
    hf_qcow2 *q;
    if (hf_qcow2_create(path, VSIZE, all_ranges, N_META + N_DATA, false, &q, &err))
        return false;
    static uint8_t buf[4 * MiB];
    bool ok = true;
    for (size_t i = 0; ok && i < N_META; i++)
        ok = pread(raw, buf, META[i].length, (off_t)META[i].image_offset) == (ssize_t)META[i].length &&
             !hf_qcow2_pwrite(q, buf, META[i].length, META[i].image_offset, &err);
    for (size_t i = 0; ok && i < N_DATA; i++) {
        fill_pat(buf, DATA[i].start, (size_t)DATA[i].length);
        ok = !hf_qcow2_pwrite(q, buf, DATA[i].length, DATA[i].start, &err);
    }
    ok = ok && !hf_qcow2_finish(q, &err);
    hf_qcow2_close(q);
    return ok;
}

/* Streams the image into out_path, handing the data over in pieces of at most piece bytes. */
static hf_code stream_to(const char *out_path, int raw, size_t piece, hf_error *err)
{
    hf_qcow2 *q;
    hf_code rc = hf_qcow2_create(in_dir("head"), VSIZE, all_ranges, N_META + N_DATA, false, &q, err);
    if (rc)
        return rc;
    int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    hf_image_stream *s = NULL;
    rc = hf_image_stream_open(q, hf_qcow2_fd(q), raw, META, N_META, out, &s, err);
    static uint8_t buf[4 * MiB];
    for (size_t i = 0; !rc && i < N_DATA; i++) {
        fill_pat(buf, DATA[i].start, (size_t)DATA[i].length);
        for (uint64_t done = 0; !rc && done < DATA[i].length; done += piece) {
            size_t n = DATA[i].length - done < piece ? (size_t)(DATA[i].length - done) : piece;
            rc = hf_image_stream_put(s, DATA[i].start + done, buf + done, n, err);
        }
    }
    if (!rc)
        rc = hf_image_stream_finish(s, err);
    if (!rc && hf_image_stream_written(s) != hf_qcow2_file_size(q))
        rc = HF_ERR_USAGE;
    hf_image_stream_free(s);
    hf_qcow2_close(q);
    close(out);
    return rc;
}

static void test_identical(int raw)
{
    CHECK(make_reference(in_dir("ref.qcow2"), raw), "the reference image is made the random-access way");
    const size_t pieces[] = {1, 4095, 16384, 1000003, 4 * MiB};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        hf_error err = {0};
        hf_code rc = stream_to(in_dir("stream.qcow2"), raw, pieces[i], &err);
        CHECK(rc == HF_OK && unit_same_files(in_dir("ref.qcow2"), in_dir("stream.qcow2")),
              "data handed over in pieces of %zu bytes: the stream equals the file, byte for byte (%s)",
              pieces[i], err.msg);
    }
}

static void test_refusals(int raw)
{
    hf_error err = {0};
    hf_qcow2 *q;
    hf_code rc = hf_qcow2_create(in_dir("head"), VSIZE, all_ranges, N_META + N_DATA, false, &q, &err);
    int out = open(in_dir("bad.qcow2"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    hf_image_stream *s = NULL;
    if (!rc)
        rc = hf_image_stream_open(q, hf_qcow2_fd(q), raw, META, N_META, out, &s, &err);
    CHECK(rc == HF_OK, "a stream opens");
    uint8_t b[8192] = {0};
    if (s) {
        CHECK(hf_image_stream_put(s, 3 * 65536 + 4096, b, 100, &err) == HF_OK, "data in order is taken");
        CHECK(hf_image_stream_put(s, 12288, b, 100, &err) == HF_ERR_USAGE &&
                  strstr(err.msg, "out of order"),
              "data behind the stream's position is refused: %s", err.msg);
        CHECK(hf_image_stream_put(s, 100 * MiB, b, 100, &err) == HF_ERR_USAGE,
              "data in unallocated guest space is refused: %s", err.msg);
        CHECK(hf_image_stream_put(s, 600 * MiB + 65536 - 10, b, 100, &err) == HF_ERR_USAGE &&
                  strstr(err.msg, "run past"),
              "data running past the allocated clusters is refused: %s", err.msg);
    }
    hf_image_stream_free(s);
    close(out);

    /* a reader that goes away */
    int p[2];
    s = NULL;
    CHECK(pipe(p) == 0, "a pipe");
    close(p[0]);
    rc = hf_image_stream_open(q, hf_qcow2_fd(q), raw, META, N_META, p[1], &s, &err);
    if (!rc)
        rc = hf_image_stream_finish(s, &err);
    CHECK(rc == HF_ERR_IO && strstr(err.msg, "went away"),
          "a reader that closed the pipe ends the stream with an error: %s", err.msg);
    hf_image_stream_free(s);
    close(p[1]);
    hf_qcow2_close(q);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/test_image_stream.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        printf("not ok - cannot create a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    plan_ranges();
    int raw = make_raw(in_dir("raw"));
    CHECK(raw >= 0, "the raw metadata file is made");
    test_identical(raw);
    test_refusals(raw);
    close(raw);
    const char *names[] = {"raw", "head", "ref.qcow2", "stream.qcow2", "bad.qcow2"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(in_dir(names[i]));
    rmdir(dir);
    UNIT_DONE();
}
