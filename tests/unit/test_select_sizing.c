/* Default file selection and the import size formula. */
#include <stdlib.h>
#include <time.h>

#include "hf_select.h"
#include "hf_sizing.h"
#include "hf_strlist.h"
#include "unit.h"

static uint64_t ext4_bytes(const hf_sized_file *f, size_t n)
{
    uint64_t b = 0;
    hf_error err;
    return hf_sizing_ext4(f, n, &b, &err) == HF_OK ? b : 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The closed form gives exactly what the loop over block groups gave (the
 * figures below come from that loop): SIZE and existing images stay. */
static void same_as_before(void)
{
    static const uint64_t want[][2] = {
        {0ull, 9437184ull}, {1ull, 9437184ull}, {4096ull, 9437184ull}, {4097ull, 9437184ull},
        {1000000000ull, 1019215872ull}, {5000000000ull, 5059379200ull},
        {134217728ull, 144703488ull}, {134217729ull, 144703488ull},
        {137438953472ull, 138835656704ull}, {1099511627776ull, 1110627581952ull},
        {17592186040320ull, 17769958473728ull}};
    int same = 0, total = (int)(sizeof want / sizeof *want);
    for (int i = 0; i < total; i++) {
        hf_sized_file f[] = {{"a/b/model.safetensors", want[i][0]}, {"config.json", 700}};
        uint64_t got = ext4_bytes(f, 2);
        if (got == want[i][1])
            same++;
        else
            printf("# %llu bytes: got %llu, want %llu\n", (unsigned long long)want[i][0],
                   (unsigned long long)got, (unsigned long long)want[i][1]);
    }
    CHECK(same == total, "%d of %d sizes as the block-group loop gave (1 byte to 16 TiB)", same,
          total);
    hf_sized_file *m = calloc(20000, sizeof *m);
    char (*names)[40] = calloc(20000, sizeof *names);
    for (int i = 0; i < 20000; i++) {
        snprintf(names[i], sizeof names[i], "d%d/e%d/f%d.bin", i % 97, i % 13, i);
        m[i] = (hf_sized_file){names[i], (uint64_t)i * 12345};
    }
    uint64_t many = ext4_bytes(m, 20000);
    for (int i = 0; i < 20000; i++)
        m[i].size = 0;
    uint64_t many_empty = ext4_bytes(m, 20000);
    CHECK(many == 2493923721216ull && many_empty == 31457280ull,
          "20000 files in 1261 directories: as before (%llu, %llu)", (unsigned long long)many,
          (unsigned long long)many_empty);
    free(names);
    free(m);
}

static void expect_refused(const hf_sized_file *f, size_t n, const char *names, const char *what)
{
    uint64_t b = 12345;
    hf_error err = {0};
    double t0 = now_s();
    hf_code rc = hf_sizing_ext4(f, n, &b, &err);
    double t = now_s() - t0;
    CHECK(rc == HF_ERR_INVALID && b == 0 && strstr(err.msg, names),
          "%s: refused in %.3f s, naming %s: %s", what, t, names, err.msg);
    CHECK(t < 0.5, "%s: refused at once (%.3f s)", what, t);
}

/* Sizes a hostile Hub may claim: bounded time, a refusal naming the file,
 * never a wrapped sum. */
static void hostile_sizes(void)
{
    hf_sized_file e17[] = {{"config.json", 10}, {"big/model.bin", 100000000000000000ull}};
    expect_refused(e17, 2, "\"big/model.bin\" claims 100000000000000000 bytes", "1e17 bytes");
    hf_sized_file max[] = {{"x.bin", (uint64_t)INT64_MAX}};
    expect_refused(max, 1, "\"x.bin\" claims 9223372036854775807 bytes", "2^63-1 bytes");
    hf_sized_file u64[] = {{"y.bin", UINT64_MAX}};
    expect_refused(u64, 1, "\"y.bin\"", "2^64-1 bytes");
    hf_sized_file over[] = {{"over.bin", HF_EXT4_MAX_FILE_BYTES + 1}};
    expect_refused(over, 1, "\"over.bin\"", "16 TiB - 4 KiB + 1 byte");

    uint64_t b = 0;
    hf_error err;
    hf_sized_file edge[] = {{"edge.bin", HF_EXT4_MAX_FILE_BYTES}};
    CHECK(hf_sizing_ext4(edge, 1, &b, &err) == HF_OK && b > HF_EXT4_MAX_FILE_BYTES &&
              b < HF_EXT4_MAX_FILE_BYTES / 100 * 102,
          "a file of exactly 16 TiB - 4 KiB fits (%llu)", (unsigned long long)b);

    /* 11 x 16 TiB = 176 TiB fits under 192 TiB; 12 (192 TiB of data) does not. */
    hf_sized_file shards[12];
    char names[12][24];
    for (int i = 0; i < 12; i++) {
        snprintf(names[i], sizeof names[i], "model-%02d.bin", i);
        shards[i] = (hf_sized_file){names[i], HF_EXT4_MAX_FILE_BYTES};
    }
    CHECK(hf_sizing_ext4(shards, 11, &b, &err) == HF_OK && b <= HF_EXT4_MAX_FS_BYTES,
          "11 files of 16 TiB fit (%llu bytes)", (unsigned long long)b);
    shards[5].size = HF_EXT4_MAX_FILE_BYTES + 1;
    expect_refused(shards, 11, "\"model-05.bin\"", "one of 11 files over the file limit");
    shards[5].size = HF_EXT4_MAX_FILE_BYTES;
    expect_refused(shards, 12, "larger than 211106232532992 bytes (192 TiB",
                   "12 files of 16 TiB (192 TiB of data)");

    /* Sizes whose plain sum wraps 64 bits to a small number: 2^20 + 1 files of
     * 16 TiB - 4 KiB, and two of 2^63 in the directory form. */
    size_t n = ((size_t)1 << 20) + 1;
    hf_sized_file *wrap = calloc(n, sizeof *wrap);
    for (size_t i = 0; i < n; i++)
        wrap[i] = (hf_sized_file){"w.bin", HF_EXT4_MAX_FILE_BYTES};
    expect_refused(wrap, n, "larger than", "a sum of sizes past 2^64");
    free(wrap);
    hf_sized_file half[] = {{"a.bin", (uint64_t)1 << 62}, {"b.bin", (uint64_t)1 << 62}};
    CHECK(hf_sizing_dir(half, 1, &b, &err) == HF_OK && b == ((uint64_t)1 << 62) + 8192,
          "directory form: 2^62 bytes are counted");
    b = 1;
    CHECK(hf_sizing_dir(half, 2, &b, &err) == HF_ERR_INVALID && b == 0 &&
              strstr(err.msg, "\"b.bin\" claims 4611686018427387904 bytes"),
          "directory form: a total past 2^63 is refused, naming the file: %s", err.msg);
    CHECK(hf_sizing_dir(max, 1, &b, &err) == HF_ERR_INVALID && strstr(err.msg, "\"x.bin\""),
          "directory form: 2^63-1 bytes (2^63 in 4 KiB units) refused: %s", err.msg);
    CHECK(hf_sizing_dir(u64, 1, &b, &err) == HF_ERR_INVALID, "directory form: 2^64-1 refused");
}

/* Trees a hostile Hub may list: time linear in the files. */
static void hostile_trees(void)
{
    size_t n = 100000;
    hf_sized_file *f = calloc(n, sizeof *f);
    char (*names)[32] = calloc(n, sizeof *names);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "d%zu/f", i);
        f[i] = (hf_sized_file){names[i], 1000};
    }
    uint64_t b = 0;
    hf_error err;
    double t0 = now_s();
    hf_code rc = hf_sizing_ext4(f, n, &b, &err);
    double t = now_s() - t0;
    CHECK(rc == HF_OK && b == 1327497216ull,
          "100,000 files in 100,000 directories: %llu bytes as before", (unsigned long long)b);
    CHECK(t < 1.0, "100,000 files in 100,000 directories sized in %.3f s (was 25 s)", t);
    /* One chain of 500 nested directories per file, 200 files sharing it. */
    char deep[1100] = "";
    for (int i = 0; i < 500; i++)
        strcat(deep, "a/");
    char (*dn)[1200] = calloc(200, sizeof *dn);
    for (size_t i = 0; i < 200; i++) {
        snprintf(dn[i], sizeof dn[i], "%sf%zu", deep, i);
        f[i] = (hf_sized_file){dn[i], 1};
    }
    t0 = now_s();
    rc = hf_sizing_ext4(f, 200, &b, &err);
    t = now_s() - t0;
    CHECK(rc == HF_OK && t < 0.5, "200 files 500 directories deep sized in %.3f s", t);
    free(dn);
    /* 400 chains of 500 directories each (200,000 directories): the cost
     * is the length of the paths, not length x depth. */
    dn = calloc(400, sizeof *dn);
    for (size_t i = 0; i < 400; i++) {
        snprintf(dn[i], sizeof dn[i], "%zu/%sf", i, deep);
        f[i] = (hf_sized_file){dn[i], 1};
    }
    t0 = now_s();
    rc = hf_sizing_ext4(f, 400, &b, &err);
    t = now_s() - t0;
    CHECK(rc == HF_OK && t < 2.0, "400 files in 400 chains 500 directories deep sized in %.3f s", t);
    free(dn);
    free(names);
    free(f);
}

int main(void)
{
    const char *paths[] = {".gitattributes", "README.md", "config.json", "model.safetensors",
                           "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack",
                           "onnx/model.onnx", "tokenizer.json", "sub/.gitignore",
                           "training_args.bin"};
    size_t n = sizeof paths / sizeof *paths;
    bool sel[16];
    hf_select_files(paths, n, NULL, sel);
    CHECK(!sel[0] && !sel[9], "git plumbing left out");
    CHECK(sel[1] && sel[2] && sel[3] && sel[8] && sel[10], "model files kept");
    CHECK(!sel[4] && !sel[5] && !sel[6] && !sel[7], "redundant weights left out when safetensors exist");
    const char *no_st[] = {"config.json", "pytorch_model.bin", "model.gguf"};
    hf_select_files(no_st, 3, NULL, sel);
    CHECK(sel[0] && sel[1] && sel[2], "without safetensors the .bin weights are kept");
    const char *inc[] = {"*.json", NULL};
    const char *exc[] = {"tokenizer*", NULL};
    hf_select_rules rules = {inc, exc};
    hf_select_files(paths, n, &rules, sel);
    CHECK(sel[2] && !sel[8] && !sel[3] && !sel[1], "include and exclude globs override");

    hf_sized_file one[] = {{"model.safetensors", 1000000000ull}, {"config.json", 700}};
    uint64_t b = ext4_bytes(one, 2);
    CHECK(b % (1 << 20) == 0, "image size is whole MiB");
    CHECK(b > 1000000000ull + 8192, "image holds the data");
    CHECK(b < 1000000000ull * 102 / 100 + (24u << 20), "image overhead is small (%llu)",
          (unsigned long long)b);
    hf_sized_file empty[] = {{"README.md", 0}};
    uint64_t e = ext4_bytes(empty, 1);
    CHECK(e >= (8u << 20) && e <= (16u << 20), "tiny model gives a small image (%llu)",
          (unsigned long long)e);
    hf_sized_file big[] = {{"a/b/c/model-00001.safetensors", 5000000000ull},
                           {"a/b/c/model-00002.safetensors", 5000000000ull}};
    CHECK(ext4_bytes(big, 2) > ext4_bytes(one, 2), "size grows with content");
    CHECK(hf_sizing_mib((1 << 20) + 1) == 2 && hf_sizing_mib(1 << 20) == 1, "MiB rounds up");
    uint64_t d = 0;
    hf_error err;
    CHECK(hf_sizing_dir(one, 2, &d, &err) == HF_OK && d == 1000001536ull + 4096 + 8192,
          "dir size in 4 KiB units");
    same_as_before();
    hostile_sizes();
    hostile_trees();

    hf_strlist l = {0};
    hf_strlist_add_csv(&l, " ONEnextgen, mycompany-ai ,,ONEnextgen");
    hf_strlist_add_csv(&l, "x");
    CHECK(l.n == 3 && !strcmp(l.items[0], "ONEnextgen") && !strcmp(l.items[1], "mycompany-ai") &&
              !strcmp(l.items[2], "x") && l.items[3] == NULL,
          "comma lists trimmed, de-duplicated, NULL-terminated");
    hf_strlist_free(&l);
    long v;
    CHECK(hf_parse_long("50", 1, 100, &v) && v == 50, "number parses");
    CHECK(!hf_parse_long("5x", 1, 100, &v) && !hf_parse_long("", 1, 100, &v) &&
              !hf_parse_long("0", 1, 100, &v) && !hf_parse_long("99999999999999999999", 1, 100, &v),
          "bad numbers refused");
    UNIT_DONE();
}
