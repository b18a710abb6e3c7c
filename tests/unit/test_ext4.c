/* The metadata-only ext4 builder: maps that cover every file exactly, no
 * overlap between files and metadata, a raw file that stays sparse, data
 * written at the mapped offsets, clean failures, and a model-sized layout
 * built quickly.
 * HFHUB_EXT4_KEEP=<path> keeps the filled image at <path>, the expected
 * "sha256  path" lines at <path>.sha256 and the large layout (unfilled) at
 * <path>.scale.raw, for tests/e2e/test_ext4_image.sh. */
#define _GNU_SOURCE /* SEEK_DATA, SEEK_HOLE */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <ext2fs/ext2fs.h>

#include "hf_ext4.h"
#include "hf_sizing.h"
#include "unit.h"

#define BLK 4096ull
#define TEST_LABEL "hfhub-test"
#define TEST_MTIME 1700000000

static uint8_t pattern(size_t file, uint64_t off)
{
    uint64_t x = off * 0x9E3779B1u + file * 0x85EBCA77u + (off >> 12);
    return (uint8_t)(x ^ (x >> 11) ^ (x >> 23));
}

typedef struct {
    uint64_t start, end; /* bytes */
} span;

static int span_cmp(const void *pa, const void *pb)
{
    const span *a = pa, *b = pb;
    return (a->start > b->start) - (a->start < b->start);
}

/* Every map is sorted, aligned, gap-free and covers round_up(size) exactly. */
static int maps_cover(const hf_ext4_layout *l, const hf_sized_file *f, size_t n)
{
    if (l->n_files != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const hf_ext4_file_map *m = &l->files[i];
        uint64_t want = (f[i].size + BLK - 1) / BLK * BLK, next = 0;
        if (f[i].size == 0 && m->n_extents != 0)
            return 0;
        for (size_t j = 0; j < m->n_extents; j++) {
            const hf_extent *x = &m->extents[j];
            if (x->file_offset != next || x->length == 0 || x->file_offset % BLK ||
                x->image_offset % BLK || x->length % BLK ||
                x->image_offset + x->length > l->fs_bytes)
                return 0;
            next += x->length;
        }
        if (next != want)
            return 0;
    }
    return 1;
}

/* Data extents and metadata ranges never overlap; ranges are sorted, merged,
 * aligned and inside the filesystem. */
static int disjoint(const hf_ext4_layout *l, const hf_extent *r, size_t nr)
{
    size_t total = nr;
    for (size_t i = 0; i < l->n_files; i++)
        total += l->files[i].n_extents;
    span *s = calloc(total + 1, sizeof *s);
    size_t k = 0;
    for (size_t i = 0; i < l->n_files; i++)
        for (size_t j = 0; j < l->files[i].n_extents; j++) {
            const hf_extent *x = &l->files[i].extents[j];
            s[k++] = (span){x->image_offset, x->image_offset + x->length};
        }
    int ok = 1;
    for (size_t i = 0; i < nr; i++) {
        if (r[i].file_offset != r[i].image_offset || r[i].image_offset % BLK || r[i].length % BLK ||
            r[i].length == 0 || r[i].image_offset + r[i].length > l->fs_bytes)
            ok = 0;
        if (i && r[i - 1].image_offset + r[i - 1].length >= r[i].image_offset)
            ok = 0; /* unsorted, overlapping or not merged */
        s[k++] = (span){r[i].image_offset, r[i].image_offset + r[i].length};
    }
    qsort(s, k, sizeof *s, span_cmp);
    for (size_t i = 1; i < k; i++)
        if (s[i - 1].end > s[i].start)
            ok = 0;
    free(s);
    return ok;
}

static uint64_t metadata_bytes(const hf_extent *r, size_t nr)
{
    uint64_t b = 0;
    for (size_t i = 0; i < nr; i++)
        b += r[i].length;
    return b;
}

static int in_ranges(const hf_extent *r, size_t nr, uint64_t start, uint64_t end)
{
    for (size_t i = 0; i < nr; i++)
        if (start >= r[i].image_offset && end <= r[i].image_offset + r[i].length)
            return 1;
    return 0;
}

static int all_zero(int fd, uint64_t start, uint64_t end)
{
    static char buf[1 << 16];
    while (start < end) {
        size_t want = end - start < sizeof buf ? (size_t)(end - start) : sizeof buf;
        ssize_t got = pread(fd, buf, want, (off_t)start);
        if (got <= 0)
            return 0;
        for (ssize_t i = 0; i < got; i++)
            if (buf[i])
                return 0;
        start += (uint64_t)got;
    }
    return 1;
}

/* What the builder wrote is metadata: every non-hole region of the raw file
 * lies inside the metadata ranges or holds only zeroes (so copying just the
 * ranges loses nothing), and no file extent holds any written byte. */
static int only_metadata_written(const char *raw, const hf_ext4_layout *l, const hf_extent *r,
                                 size_t nr)
{
    int fd = open(raw, O_RDONLY);
    if (fd < 0)
        return 0;
    int ok = 1;
    off_t pos = 0, size = (off_t)l->fs_bytes;
    while (ok && pos < size) {
        off_t d = lseek(fd, pos, SEEK_DATA);
        if (d < 0)
            break; /* ENXIO: only holes remain */
        off_t h = lseek(fd, d, SEEK_HOLE);
        for (uint64_t b = (uint64_t)d / BLK * BLK; b < (uint64_t)h; b += BLK)
            if (!in_ranges(r, nr, b, b + BLK) && !all_zero(fd, b, b + BLK))
                ok = 0;
        pos = h;
    }
    for (size_t i = 0; ok && i < l->n_files; i++)
        for (size_t j = 0; j < l->files[i].n_extents; j++) {
            const hf_extent *x = &l->files[i].extents[j];
            off_t d = lseek(fd, (off_t)x->image_offset, SEEK_DATA);
            if (d >= 0 && (uint64_t)d < x->image_offset + x->length)
                ok = 0;
        }
    close(fd);
    return ok;
}

/* Writes every file's pattern at its mapped offsets and returns its sha256. */
static int fill(const char *raw, const hf_ext4_layout *l, const hf_sized_file *f, size_t n,
                char (*hex)[65])
{
    int fd = open(raw, O_WRONLY);
    if (fd < 0)
        return 0;
    static uint8_t buf[1 << 20];
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        const hf_ext4_file_map *m = &l->files[i];
        for (size_t j = 0; j < m->n_extents && ok; j++) {
            const hf_extent *x = &m->extents[j];
            uint64_t end = x->file_offset + x->length;
            if (end > f[i].size)
                end = f[i].size; /* the tail block stays a hole past EOF */
            for (uint64_t o = x->file_offset; o < end;) {
                size_t len = end - o < sizeof buf ? (size_t)(end - o) : sizeof buf;
                for (size_t b = 0; b < len; b++)
                    buf[b] = pattern(i, o + b);
                if (pwrite(fd, buf, len, (off_t)(x->image_offset + (o - x->file_offset))) !=
                    (ssize_t)len)
                    ok = 0;
                EVP_DigestUpdate(md, buf, len);
                o += len;
            }
        }
        unsigned char d[32];
        EVP_DigestFinal_ex(md, d, NULL);
        EVP_MD_CTX_free(md);
        for (int b = 0; b < 32; b++)
            snprintf(hex[i] + 2 * b, 3, "%02x", d[b]);
    }
    if (close(fd) != 0)
        ok = 0;
    return ok;
}

static uint64_t disk_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : UINT64_MAX;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#define N_NAMED 8
#define N_MANY 300 /* a directory spanning several blocks */

static void small_layout(const char *raw, const char *keep)
{
    hf_sized_file f[N_NAMED + N_MANY] = {
        {"empty.txt", 0},
        {"one.bin", 1},
        {"block.bin", 4096},
        {"block_plus.bin", 4097},
        {"weights/model.safetensors", 5u << 20},
        {"a/b/c.txt", 12345},
        {"a/d.json", 777},
        {".hfhub/manifest.json", 3000},
    };
    static char many[N_MANY][48];
    for (size_t i = 0; i < N_MANY; i++) {
        snprintf(many[i], sizeof many[i], "many/entry-with-a-longer-name-%03zu.txt", i);
        f[N_NAMED + i] = (hf_sized_file){many[i], i * 7};
    }
    size_t n = sizeof f / sizeof *f;
    hf_ext4_options opt = {TEST_LABEL, TEST_MTIME, NULL, NULL, HF_MKE2FS_AUTO};
    hf_ext4_layout l;
    hf_error err = {0};
    hf_code rc = hf_ext4_build(raw, f, n, &opt, &l, &err);
    CHECK(rc == HF_OK, "build a small layout (%s)", err.msg);
    if (rc != HF_OK)
        return;
    struct stat st;
    uint64_t sized = 0;
    CHECK(hf_sizing_ext4(f, n, &sized, &err) == HF_OK && l.fs_bytes == sized,
          "fs_bytes is hf_sizing_ext4's (%llu)", (unsigned long long)l.fs_bytes);
    CHECK(stat(raw, &st) == 0 && (uint64_t)st.st_size == l.fs_bytes, "raw file has the fs size");
    CHECK(maps_cover(&l, f, n), "every map covers its file's rounded size exactly");
    CHECK(l.files[0].n_extents == 0, "an empty file has no extents");
    CHECK(l.files[1].n_extents == 1 && l.files[1].extents[0].length == BLK,
          "a 1-byte file has one 4 KiB extent");
    uint64_t covered = 0;
    for (size_t j = 0; j < l.files[3].n_extents; j++)
        covered += l.files[3].extents[j].length;
    CHECK(covered == 2 * BLK, "a 4097-byte file maps two blocks");

    hf_extent *r = NULL;
    size_t nr = 0;
    rc = hf_ext4_metadata_ranges(raw, &l, &r, &nr, &err);
    CHECK(rc == HF_OK && nr > 0, "metadata ranges (%s)", err.msg);
    if (rc != HF_OK || nr == 0) {
        hf_ext4_layout_free(&l);
        return;
    }
    CHECK(disjoint(&l, r, nr), "extents overlap neither each other nor the metadata ranges");
    CHECK(r[0].image_offset == 0, "metadata starts with the superblock");
    CHECK(only_metadata_written(raw, &l, r, nr),
          "the builder wrote only inside the metadata ranges, never into file extents");
    uint64_t meta = metadata_bytes(r, nr);
    CHECK(disk_bytes(raw) <= meta + (1u << 20), "raw file is sparse before filling (%llu on disk)",
          (unsigned long long)disk_bytes(raw));
    printf("# small layout: fs %llu bytes, metadata %llu bytes in %zu ranges\n",
           (unsigned long long)l.fs_bytes, (unsigned long long)meta, nr);

    static char hex[N_NAMED + N_MANY][65];
    CHECK(fill(raw, &l, f, n, hex), "wrote every file's pattern at its mapped offsets");
    hf_extent *r2 = NULL;
    size_t nr2 = 0;
    rc = hf_ext4_metadata_ranges(raw, &l, &r2, &nr2, &err);
    CHECK(rc == HF_OK && nr2 == nr && !memcmp(r, r2, nr * sizeof *r),
          "writing the data left the metadata intact");
    free(r2);
    free(r);

    if (keep) {
        char p[4096];
        snprintf(p, sizeof p, "%s.sha256", keep);
        FILE *out = fopen(p, "w");
        for (size_t i = 0; out && i < n; i++)
            fprintf(out, "%s  %s\n", hex[i], f[i].path);
        CHECK(out && fclose(out) == 0, "wrote the expected sums to %s", p);
    }
    hf_ext4_layout_free(&l);
    CHECK(l.files == NULL && l.n_files == 0, "layout_free resets the layout");
}

static void expect_failure(const char *raw, const hf_sized_file *f, size_t n, const char *label,
                           const char *what)
{
    hf_ext4_options opt = {label, TEST_MTIME, NULL, NULL, HF_MKE2FS_AUTO};
    hf_ext4_layout l;
    hf_error err = {0};
    hf_code rc = hf_ext4_build(raw, f, n, &opt, &l, &err);
    CHECK(rc != HF_OK && err.msg[0] && l.files == NULL, "%s fails: %s", what, err.msg);
    CHECK(access(raw, F_OK) != 0 && errno == ENOENT, "%s leaves no file behind", what);
}

static void failures(const char *raw)
{
    hf_sized_file dup[] = {{"x/config.json", 10}, {"y", 1}, {"x/config.json", 20}};
    expect_failure(raw, dup, 3, NULL, "a duplicate path");
    hf_sized_file both[] = {{"a", 10}, {"a/b", 20}};
    expect_failure(raw, both, 2, NULL, "a path that is a file and a directory");
    hf_sized_file both2[] = {{"a/b/c", 10}, {"a/b", 20}};
    expect_failure(raw, both2, 2, NULL, "a file inside another file");
    hf_sized_file up[] = {{"ok.txt", 1}, {"../x", 10}};
    expect_failure(raw, up, 2, NULL, "../x");
    hf_sized_file abs[] = {{"/etc/passwd", 10}};
    expect_failure(raw, abs, 1, NULL, "an absolute path");
    hf_sized_file lf[] = {{"lost+found", 10}};
    expect_failure(raw, lf, 1, NULL, "the reserved name lost+found");
    hf_sized_file fine[] = {{"a.txt", 10}};
    expect_failure(raw, fine, 1, "a-label-longer-than-16", "a label over 16 bytes");
    /* Sizes from a hostile Hub: refused at once, naming the file, before
     * anything is laid out (the sizing once looped per block group). */
    double t0 = now_s();
    hf_sized_file huge[] = {{"ok.txt", 1}, {"weights/huge.bin", 100000000000000000ull}};
    expect_failure(raw, huge, 2, NULL, "a file claiming 1e17 bytes");
    hf_sized_file max[] = {{"max.bin", (uint64_t)INT64_MAX}};
    expect_failure(raw, max, 1, NULL, "a file claiming 2^63-1 bytes");
    hf_sized_file over[] = {{"over.bin", HF_EXT4_MAX_FILE_BYTES + 1}};
    expect_failure(raw, over, 1, NULL, "a file one byte over 16 TiB - 4 KiB");
    hf_sized_file many[14];
    char names[14][24];
    for (int i = 0; i < 14; i++) {
        snprintf(names[i], sizeof names[i], "shard-%02d", i);
        many[i] = (hf_sized_file){names[i], HF_EXT4_MAX_FILE_BYTES};
    }
    expect_failure(raw, many, 14, NULL, "14 files of 16 TiB (over 192 TiB together)");
    hf_error err = {0};
    hf_ext4_layout l;
    hf_ext4_build(raw, huge, 2, NULL, &l, &err);
    CHECK(strstr(err.msg, "\"weights/huge.bin\" claims 100000000000000000 bytes") != NULL,
          "the refusal names the file and its claim: %s", err.msg);
    CHECK(now_s() - t0 < 1.0, "hostile sizes refused in %.3f s", now_s() - t0);
    /* A stale image at the path is removed too, not left looking valid. */
    int fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0)
        close(fd);
    expect_failure(raw, dup, 3, NULL, "a duplicate path over an old file");
}

/* Three 3 GiB shards and 1000 small files in 50 directories. */
static void scale_layout(const char *raw)
{
    size_t n = 3 + 1000;
    hf_sized_file *f = calloc(n, sizeof *f);
    char (*names)[64] = calloc(n, sizeof *names);
    for (size_t i = 0; i < 3; i++) {
        snprintf(names[i], sizeof names[i], "model-%05zu-of-00003.safetensors", i + 1);
        f[i] = (hf_sized_file){names[i], 3ull << 30};
    }
    for (size_t i = 0; i < 1000; i++) {
        snprintf(names[3 + i], sizeof names[3 + i], "dir%02zu/file-%04zu.json", i % 50, i);
        f[3 + i] = (hf_sized_file){names[3 + i], 100 + i * 37};
    }
    hf_ext4_options opt = {"hfhub-scale", TEST_MTIME, NULL, NULL, HF_MKE2FS_AUTO};
    hf_ext4_layout l;
    hf_error err = {0};
    double t0 = now_s();
    hf_code rc = hf_ext4_build(raw, f, n, &opt, &l, &err);
    double t1 = now_s();
    CHECK(rc == HF_OK, "build 3 x 3 GiB + 1000 files (%s)", err.msg);
    if (rc == HF_OK) {
        CHECK(t1 - t0 < 2.0, "built in %.3f s (< 2 s, sanitizer build)", t1 - t0);
        CHECK(maps_cover(&l, f, n), "large maps cover their files exactly");
        size_t big_extents = l.files[0].n_extents;
        hf_extent *r = NULL;
        size_t nr = 0;
        double t2 = now_s();
        rc = hf_ext4_metadata_ranges(raw, &l, &r, &nr, &err);
        double t3 = now_s();
        CHECK(rc == HF_OK, "large metadata ranges in %.3f s (%s)", t3 - t2, err.msg);
        CHECK(disjoint(&l, r, nr), "large layout: no overlap");
        uint64_t disk = disk_bytes(raw);
        CHECK(disk < (100u << 20), "large raw file uses %llu bytes on disk (< 100 MiB)",
              (unsigned long long)disk);
        printf("# scale layout: fs %llu bytes, metadata %llu bytes in %zu ranges, "
               "first shard in %zu map extents, %llu bytes on disk\n",
               (unsigned long long)l.fs_bytes, (unsigned long long)metadata_bytes(r, nr), nr,
               big_extents, (unsigned long long)disk);
        free(r);
        hf_ext4_layout_free(&l);
    }
    free(names);
    free(f);
}

/* ---- mke2fs policy, identity, reproducibility ------------------------------ */

static void policy(void)
{
    CHECK(hf_ext4_mke2fs_version("mke2fs 1.47.0 (5-Feb-2023)\n\tUsing EXT2FS Library version "
                                 "1.47.0\n") == 14700,
          "version of mke2fs 1.47.0");
    CHECK(hf_ext4_mke2fs_version("mke2fs 1.45.6 (20-Mar-2020)\n") == 14506, "version 1.45.6");
    CHECK(hf_ext4_mke2fs_version("mke2fs 1.46.5 (30-Dec-2021)") == 14605, "version 1.46.5");
    CHECK(hf_ext4_mke2fs_version("mke2fs 1.42 (29-Nov-2011)") == 14200, "version 1.42");
    CHECK(hf_ext4_mke2fs_version("mke2fs 1.47.1-rc1 (x)") == 14701, "version 1.47.1-rc1");
    CHECK(hf_ext4_mke2fs_version("mke2fs 1.47-WIP (x)") == 14700, "version 1.47-WIP");
    CHECK(hf_ext4_mke2fs_version("mke2fs version unknown") == 0 &&
              hf_ext4_mke2fs_version("") == 0 && hf_ext4_mke2fs_version(NULL) == 0 &&
              hf_ext4_mke2fs_version("mke2fs 1") == 0 &&
              hf_ext4_mke2fs_version("mke2fs 1.4700.0") == 0,
          "unrecognised version texts give 0");
    CHECK(hf_ext4_mke2fs_mode_for(14700) == HF_MKE2FS_PREZEROED &&
              hf_ext4_mke2fs_mode_for(14802) == HF_MKE2FS_PREZEROED,
          "1.47.0 and later: assume_storage_prezeroed");
    CHECK(hf_ext4_mke2fs_mode_for(14699) == HF_MKE2FS_PORTABLE &&
              hf_ext4_mke2fs_mode_for(14506) == HF_MKE2FS_PORTABLE &&
              hf_ext4_mke2fs_mode_for(0) == HF_MKE2FS_PORTABLE,
          "1.46.x, 1.45.6 and an unknown version: the portable options");
    const char *pz = hf_ext4_mke2fs_extended(HF_MKE2FS_PREZEROED);
    const char *po = hf_ext4_mke2fs_extended(HF_MKE2FS_PORTABLE);
    CHECK(strstr(pz, "assume_storage_prezeroed=1") && !strstr(po, "assume_storage_prezeroed"),
          "only the 1.47 options name assume_storage_prezeroed (%s | %s)", pz, po);
    CHECK(strstr(pz, "lazy_itable_init=1") && strstr(po, "lazy_itable_init=1") &&
              strstr(pz, "nodiscard") && strstr(po, "nodiscard") &&
              strstr(pz, "root_owner=0:0") && strstr(po, "root_owner=0:0"),
          "both leave the inode tables unwritten, never discard, root owns /");
}

static void name_uuid(void)
{
    /* sha256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad */
    uint8_t u[16], seed[16];
    char text[37];
    hf_ext4_name_uuid("abc", 3, u, seed, text);
    CHECK_STR(text, "ba7816bf-8f01-8fea-8141-40de5dae2223",
              "name UUID: sha256's first 16 bytes, version 8, variant 10");
    static const uint8_t want_seed[16] = {0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                          0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    CHECK(!memcmp(seed, want_seed, 16) && u[6] == 0x8f && u[8] == 0x81,
          "hash seed: sha256's last 16 bytes");
}

#define REPRO_MTIME 1717171717 /* 2024-05-31 */
static const uint8_t repro_uuid[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x8d, 0xef,
                                       0x80, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
static const uint8_t repro_seed[16] = {0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
                                       0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};

static int build_repro(const char *raw, hf_mke2fs_mode mode, hf_error *err)
{
    static char many[40][32];
    hf_sized_file f[44] = {{"config.json", 700}, {"model.safetensors", 3u << 20},
                           {"sub/dir/tokenizer.json", 9000}, {".hfhub/manifest.json", 2000}};
    for (size_t i = 0; i < 40; i++) {
        snprintf(many[i], sizeof many[i], "many/f%02zu", i);
        f[4 + i] = (hf_sized_file){many[i], i * 100};
    }
    hf_ext4_options opt = {"hfhub-model", REPRO_MTIME, repro_uuid, repro_seed, mode};
    hf_ext4_layout l;
    hf_code rc = hf_ext4_build(raw, f, 44, &opt, &l, err);
    hf_ext4_layout_free(&l);
    return rc == HF_OK;
}

/* Superblock fields an identical build must reproduce, read with libext2fs. */
static void check_super(const char *raw, const char *what)
{
    ext2_filsys fs = NULL;
    if (ext2fs_open(raw, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs)) {
        CHECK(0, "%s: libext2fs opens it", what);
        return;
    }
    struct ext2_super_block *sb = fs->super;
    int zeroed = 1;
    for (dgrp_t g = 0; g < fs->group_desc_count; g++)
        zeroed &= !!(ext2fs_bg_flags(fs, g) & EXT2_BG_INODE_ZEROED);
    CHECK(!memcmp(sb->s_uuid, repro_uuid, 16) && !memcmp(sb->s_hash_seed, repro_seed, 16),
          "%s: the UUID and hash seed given", what);
    CHECK(sb->s_mkfs_time == REPRO_MTIME && sb->s_wtime == REPRO_MTIME &&
              sb->s_lastcheck == REPRO_MTIME && sb->s_mtime == 0 && sb->s_kbytes_written == 0,
          "%s: created/written/checked at the given time, no lifetime-writes counter", what);
    CHECK(zeroed, "%s: every inode table is marked zeroed (no lazy init left)", what);
    CHECK(!ext2fs_has_feature_journal(sb) && ext2fs_has_feature_metadata_csum(sb) &&
              ext2fs_has_feature_flex_bg(sb) && !ext2fs_has_feature_resize_inode(sb) &&
              !ext2fs_has_feature_orphan_file(sb) && sb->s_log_groups_per_flex == 4,
          "%s: the pinned feature set (no journal, metadata_csum, flex_bg 16)", what);
    ext2fs_close_free(&fs);
}

/* Writes an executable script. */
static int script(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 0;
    fputs(text, f);
    return fclose(f) == 0 && chmod(path, 0755) == 0;
}

static int count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

/* mke2fs stand-ins ahead in PATH: one that says it is 1.45.6 and refuses
 * assume_storage_prezeroed exactly as 1.45/1.46 do, one that says 1.47
 * but refuses it too (must be retried without), one too old. */
static void fake_versions(const char *dir, const char *keep)
{
    char real[4096] = "";
    const char *cands[] = {"/usr/sbin/mke2fs", "/sbin/mke2fs", "/usr/bin/mke2fs"};
    for (size_t i = 0; i < 3 && !real[0]; i++)
        if (access(cands[i], X_OK) == 0)
            snprintf(real, sizeof real, "%s", cands[i]);
    if (!real[0]) {
        CHECK(0, "the real mke2fs is in /usr/sbin or /sbin");
        return;
    }
    const char *saved = getenv("PATH");
    char *old_path = strdup(saved ? saved : "/usr/bin:/bin");
    const char *versions[] = {"1.45.6 (20-Mar-2020)", "1.47.0 (5-Feb-2023)", "1.43.4 (31-Jan-2017)"};
    const char *names[] = {"v145", "liar", "old"};
    char raws[2][4300];
    for (int k = 0; k < 3; k++) {
        char bin[4200], sh[4300], log[4300], text[9000];
        snprintf(bin, sizeof bin, "%s/%s", dir, names[k]);
        snprintf(sh, sizeof sh, "%s/mke2fs", bin);
        snprintf(log, sizeof log, "%s/calls.log", bin);
        mkdir(bin, 0755);
        snprintf(text, sizeof text,
                 "#!/bin/sh\n"
                 "echo \"$*\" >>'%s'\n"
                 "if [ \"$1\" = -V ]; then\n"
                 "  printf 'mke2fs %s\\n\\tUsing EXT2FS Library version 0\\n' >&2; exit 0\n"
                 "fi\n"
                 "case \"$*\" in *assume_storage_prezeroed*)\n"
                 "  printf '\\nBad option(s) specified: assume_storage_prezeroed\\n\\n"
                 "Extended options are separated by commas, and may take an argument which\\n"
                 "\\tis set off by an equals (\\047=\\047) sign.\\n' >&2; exit 1;;\n"
                 "esac\n"
                 "exec '%s' \"$@\"\n",
                 log, versions[k], real);
        CHECK(script(sh, text), "wrote the %s mke2fs stand-in", names[k]);
        setenv("PATH", bin, 1);
        char raw[4300];
        snprintf(raw, sizeof raw, "%s/%s.raw", dir, names[k]);
        hf_error err = {0};
        int built = build_repro(raw, HF_MKE2FS_AUTO, &err);
        setenv("PATH", old_path, 1);
        int versions_asked = count_lines(log, "-V");
        int prezeroed = count_lines(log, "assume_storage_prezeroed");
        int formats = count_lines(log, "-q -F");
        if (k == 0) {
            CHECK(built, "a 1.45.6 mke2fs builds the image (%s)", err.msg);
            CHECK(versions_asked == 1 && prezeroed == 0 && formats == 1,
                  "1.45.6: version asked once, assume_storage_prezeroed never passed");
            snprintf(raws[0], sizeof raws[0], "%s", raw);
        } else if (k == 1) {
            CHECK(built, "a mke2fs calling itself 1.47.0 but refusing the option builds it (%s)",
                  err.msg);
            CHECK(versions_asked == 1 && prezeroed == 1 && formats == 2,
                  "it was retried once without assume_storage_prezeroed");
            snprintf(raws[1], sizeof raws[1], "%s", raw);
        } else {
            CHECK(!built && strstr(err.msg, "needs e2fsprogs >= 1.44") &&
                      strstr(err.msg, "1.43.4"),
                  "mke2fs 1.43.4 is refused: %s", err.msg);
            CHECK(access(raw, F_OK) != 0, "and leaves no file");
        }
        unlink(sh);
        unlink(log);
        rmdir(bin);
    }
    CHECK(unit_same_files(raws[0], raws[1]), "both stand-ins make the same bytes");
    check_super(raws[0], "1.45.6 stand-in");
    if (keep) {
        char p[4300];
        snprintf(p, sizeof p, "%s.portable.raw", keep);
        CHECK(rename(raws[0], p) == 0, "kept the 1.45.6 image for the e2e test");
    } else {
        unlink(raws[0]);
    }
    unlink(raws[1]);
    free(old_path);
}

static void reproducible(const char *dir, const char *keep)
{
    char a[4200], b[4200], c[4200], d[4200];
    snprintf(a, sizeof a, "%s/repro-a.raw", dir);
    snprintf(b, sizeof b, "%s/repro-b.raw", dir);
    snprintf(c, sizeof c, "%s/repro-c.raw", dir);
    snprintf(d, sizeof d, "%s/repro-d.raw", dir);
    hf_error err = {0};
    int ok = build_repro(a, HF_MKE2FS_AUTO, &err);
    CHECK(ok, "build with a fixed UUID, hash seed and time (%s)", err.msg);
    sleep(1); /* a clock read anywhere would now differ */
    /* and a clock set for e2fsprogs in the caller's environment is ignored */
    setenv("E2FSPROGS_FAKE_TIME", "12345", 1);
    setenv("SOURCE_DATE_EPOCH", "12345", 1);
    ok = ok && build_repro(b, HF_MKE2FS_PREZEROED, &err);
    unsetenv("E2FSPROGS_FAKE_TIME");
    unsetenv("SOURCE_DATE_EPOCH");
    ok = ok && build_repro(c, HF_MKE2FS_PORTABLE, &err);
    sleep(1);
    ok = ok && build_repro(d, HF_MKE2FS_PORTABLE, &err);
    CHECK(ok, "the same build, forced to each mke2fs mode (%s)", err.msg);
    CHECK(ok && unit_same_files(a, b),
          "two builds a second apart give the same bytes (the second with E2FSPROGS_FAKE_TIME "
          "and SOURCE_DATE_EPOCH set)");
    CHECK(ok && unit_same_files(c, d), "two builds with the portable options give the same bytes");
    CHECK(ok && unit_same_files(a, c), "the portable and the 1.47 options give the same bytes");
    if (ok) {
        check_super(a, "1.47 options");
        check_super(c, "portable options");
    }
    unlink(a);
    unlink(b);
    unlink(c);
    unlink(d);
    fake_versions(dir, keep);
}

int main(void)
{
    const char *keep = getenv("HFHUB_EXT4_KEEP");
    const char *tmp = getenv("TMPDIR");
    char dir[4096], raw[4200], bad[4200], scale[4200];
    snprintf(dir, sizeof dir, "%s/hfhub-ext4-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp %s", dir);
        UNIT_DONE();
    }
    snprintf(raw, sizeof raw, "%s", keep && *keep ? keep : "");
    if (!raw[0])
        snprintf(raw, sizeof raw, "%s/small.raw", dir);
    snprintf(bad, sizeof bad, "%s/bad.raw", dir);
    if (keep && *keep)
        snprintf(scale, sizeof scale, "%s.scale.raw", keep);
    else
        snprintf(scale, sizeof scale, "%s/scale.raw", dir);

    policy();
    name_uuid();
    reproducible(dir, keep && *keep ? keep : NULL);
    small_layout(raw, keep && *keep ? keep : NULL);
    failures(bad);
    scale_layout(scale);

    if (!(keep && *keep)) {
        unlink(raw);
        unlink(scale);
    }
    rmdir(dir);
    UNIT_DONE();
}
