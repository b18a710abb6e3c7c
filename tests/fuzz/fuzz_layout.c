/* libFuzzer target: the image layout of hostile trees. The input is a tree
 * as text (see fuzz_tree), or, when its first line is "qcow2 VSIZE", a
 * virtual size and guest ranges ("START LENGTH" lines) for the qcow2 plan
 * alone. A tree is laid out for real (mke2fs and libext2fs, in a sparse
 * file) and then planned as a qcow2 image the way the downloader does: the
 * build either fails cleanly (message, no file left) or gives maps that
 * cover every file exactly, inside the filesystem, without overlaps, and a
 * qcow2 plan that a rerun resumes. Sizes are cut to 4 GiB a file unless
 * they are beyond what ext4 holds (those must be refused before mke2fs), so
 * each input stays quick; slow ones are libFuzzer timeouts. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "hf_ext4.h"
#include "hf_qcow2.h"
#include "hf_sizing.h"

#define MAX_FILES 64
#define MAX_RANGES 64

static char raw_path[512], qcow_path[512];

static void paths_once(void)
{
    if (raw_path[0])
        return;
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(raw_path, sizeof raw_path, "%s/hfhub-fuzz-layout-%ld.raw", tmp && *tmp ? tmp : "/tmp",
             (long)getpid());
    snprintf(qcow_path, sizeof qcow_path, "%s/hfhub-fuzz-layout-%ld.qcow2",
             tmp && *tmp ? tmp : "/tmp", (long)getpid());
}

static int cmp_range(const void *pa, const void *pb)
{
    const hf_range *a = pa, *b = pb;
    return (a->start > b->start) - (a->start < b->start);
}

/* Plans a qcow2 of these ranges, then resumes it: the plan must match. */
static void plan_qcow2(uint64_t vsize, hf_range *r, size_t n)
{
    hf_qcow2 *q = NULL;
    hf_error err = {0};
    hf_code rc = hf_qcow2_create(qcow_path, vsize, r, n, false, &q, &err);
    if (rc == HF_OK) {
        for (size_t i = 0; i < n; i++)
            if (r[i].length && hf_qcow2_host_offset(q, r[i].start) == UINT64_MAX)
                abort(); /* a range left unallocated */
        uint64_t fsize = hf_qcow2_file_size(q);
        hf_qcow2_close(q);
        q = NULL;
        if (hf_qcow2_create(qcow_path, vsize, r, n, true, &q, &err) != HF_OK ||
            hf_qcow2_file_size(q) != fsize)
            abort(); /* the same plan did not resume */
        hf_qcow2_close(q);
    } else if (!err.msg[0]) {
        abort();
    }
    unlink(qcow_path);
}

static void qcow2_only(const char *text)
{
    unsigned long long v = strtoull(text + 6, NULL, 0);
    /* Above qemu's 2 PiB: refused. Below, at most 64 GiB, so the metadata
     * written stays small. */
    if (v <= ((uint64_t)1 << 51))
        v &= ((uint64_t)1 << 36) - 1;
    hf_range r[MAX_RANGES];
    size_t n = 0;
    for (const char *l = strchr(text, '\n'); l && n < MAX_RANGES; l = strchr(l + 1, '\n')) {
        char *p;
        unsigned long long s = strtoull(l + 1, &p, 0), len = strtoull(p, NULL, 0);
        r[n++] = (hf_range){s, len};
    }
    plan_qcow2(v, r, n);
}

static void tree(const char *text)
{
    char *store = NULL;
    fuzz_file *ff = NULL;
    size_t n = fuzz_tree(text, MAX_FILES, &ff, &store);
    hf_sized_file *f = calloc(n ? n : 1, sizeof *f);
    if (!f)
        goto out;
    for (size_t i = 0; i < n; i++) {
        uint64_t s = ff[i].size;
        f[i] = (hf_sized_file){ff[i].path, s > HF_EXT4_MAX_FILE_BYTES ? s : s & 0xffffffffu};
    }
    static const uint8_t uuid[16] = {1, 2, 3}, seed[16] = {4, 5, 6};
    hf_ext4_options opt = {"fuzz", 1700000000, uuid, seed, HF_MKE2FS_AUTO};
    hf_ext4_layout l;
    hf_error err = {0};
    hf_code rc = hf_ext4_build(raw_path, f, n, &opt, &l, &err);
    if (rc != HF_OK) {
        if (!err.msg[0] || access(raw_path, F_OK) == 0 || l.files)
            abort(); /* a failure leaves a message and nothing else */
        for (size_t i = 0; i < n; i++)
            if (f[i].size > HF_EXT4_MAX_FILE_BYTES && !strstr(err.msg, "claims") &&
                !strstr(err.msg, "path") && !strstr(err.msg, "both"))
                abort(); /* a hostile size is refused as such (or the tree before it) */
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (f[i].size > HF_EXT4_MAX_FILE_BYTES)
            abort();
    /* Every map covers its file exactly, inside the filesystem; no two
     * extents share a block. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += l.files[i].n_extents;
    hf_extent *meta = NULL;
    size_t nmeta = 0;
    if (hf_ext4_metadata_ranges(raw_path, &l, &meta, &nmeta, &err) != HF_OK)
        abort();
    hf_range *r = calloc(total + nmeta + 1, sizeof *r);
    size_t k = 0;
    for (size_t i = 0; r && i < n; i++) {
        uint64_t want = 0;
        for (size_t j = 0; j < l.files[i].n_extents; j++) {
            const hf_extent *x = &l.files[i].extents[j];
            if (x->file_offset != want || !x->length || x->image_offset % HF_EXT4_BLOCK ||
                x->image_offset + x->length > l.fs_bytes)
                abort();
            want += x->length;
            r[k++] = (hf_range){x->image_offset, x->length};
        }
        if (want != (f[i].size + HF_EXT4_BLOCK - 1) / HF_EXT4_BLOCK * HF_EXT4_BLOCK)
            abort();
    }
    for (size_t i = 0; r && i < nmeta; i++)
        r[k++] = (hf_range){meta[i].image_offset, meta[i].length};
    if (r) {
        qsort(r, k, sizeof *r, cmp_range);
        for (size_t i = 1; i < k; i++)
            if (r[i - 1].start + r[i - 1].length > r[i].start)
                abort(); /* file data over metadata or over another file */
        plan_qcow2(l.fs_bytes, r, k);
    }
    free(r);
    free(meta);
    hf_ext4_layout_free(&l);
    unlink(raw_path);
out:
    free(f);
    free(ff);
    free(store);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    paths_once();
    char *text = fuzz_cstr(data, size);
    if (!text)
        return 0;
    if (!strncmp(text, "qcow2 ", 6))
        qcow2_only(text);
    else
        tree(text);
    free(text);
    return 0;
}
