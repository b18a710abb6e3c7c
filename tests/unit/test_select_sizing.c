/* Default file selection and the import size formula. */
#include <stdlib.h>

#include "hf_select.h"
#include "hf_sizing.h"
#include "hf_strlist.h"
#include "unit.h"

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
    uint64_t b = hf_sizing_ext4_bytes(one, 2);
    CHECK(b % (1 << 20) == 0, "image size is whole MiB");
    CHECK(b > 1000000000ull + 8192, "image holds the data");
    CHECK(b < 1000000000ull * 102 / 100 + (24u << 20), "image overhead is small (%llu)",
          (unsigned long long)b);
    hf_sized_file empty[] = {{"README.md", 0}};
    uint64_t e = hf_sizing_ext4_bytes(empty, 1);
    CHECK(e >= (8u << 20) && e <= (16u << 20), "tiny model gives a small image (%llu)",
          (unsigned long long)e);
    hf_sized_file big[] = {{"a/b/c/model-00001.safetensors", 5000000000ull},
                           {"a/b/c/model-00002.safetensors", 5000000000ull}};
    CHECK(hf_sizing_ext4_bytes(big, 2) > hf_sizing_ext4_bytes(one, 2), "size grows with content");
    CHECK(hf_sizing_mib((1 << 20) + 1) == 2 && hf_sizing_mib(1 << 20) == 1, "MiB rounds up");
    CHECK(hf_sizing_dir_bytes(one, 2) == 1000001536ull + 4096 + 8192, "dir size in 4 KiB units");

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
