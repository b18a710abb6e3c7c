/* libFuzzer target: the import size of hostile trees and sizes (the input is
 * a tree as text, see fuzz_tree). Whatever the claims, hf_sizing answers in
 * bounded time (libFuzzer's -timeout catches a loop), and either refuses
 * with a message naming a file or gives a size that holds every byte
 * claimed, is the same whatever the order of the files, and is within the
 * limits it promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "hf_repo_path.h"
#include "hf_sizing.h"

#define MAX_FILES 4000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size), *store = NULL;
    if (!text)
        return 0;
    fuzz_file *ff = NULL;
    size_t n = fuzz_tree(text, MAX_FILES, &ff, &store);
    /* Callers hand only safe paths (hf_repo_path_is_safe); the manifest's
     * own path is allowed and must not change the result. */
    hf_sized_file *f = calloc(n + 1, sizeof *f), *rev = calloc(n + 1, sizeof *rev);
    size_t k = 0;
    uint64_t sum = 0;
    int wrapped = 0, has_manifest = 0;
    for (size_t i = 0; f && rev && i < n; i++) {
        if (!hf_repo_path_is_safe(ff[i].path))
            continue;
        f[k++] = (hf_sized_file){ff[i].path, ff[i].size};
        if (!strcmp(ff[i].path, HF_MANIFEST_PATH)) {
            has_manifest = 1;
            continue;
        }
        wrapped |= sum + ff[i].size < sum;
        sum += ff[i].size;
    }
    if (f && rev) {
        for (size_t i = 0; i < k; i++)
            rev[i] = f[k - 1 - i];
        uint64_t a = 1, b = 2;
        hf_error ea = {0}, eb = {0};
        hf_code ra = hf_sizing_ext4(f, k, &a, &ea);
        hf_code rb = hf_sizing_ext4(rev, k, &b, &eb);
        if (ra != rb || a != b)
            abort(); /* the order of the files changed the answer */
        if (ra == HF_OK) {
            if (a % (1u << 20) || a > HF_EXT4_MAX_FS_BYTES || wrapped || a < sum)
                abort();
            for (size_t i = 0; i < k; i++) /* the manifest's listed size is not used */
                if (f[i].size > HF_EXT4_MAX_FILE_BYTES && strcmp(f[i].path, HF_MANIFEST_PATH))
                    abort();
            if (!has_manifest) {
                rev[k] = (hf_sized_file){HF_MANIFEST_PATH, 12345};
                if (hf_sizing_ext4(rev, k + 1, &b, &eb) != HF_OK || b != a)
                    abort(); /* listing the manifest changed the answer */
            }
        } else if (ra != HF_ERR_INVALID || a != 0 || !strchr(ea.msg, '"')) {
            abort(); /* a refusal names the file */
        }
        uint64_t d = 1;
        hf_code rd = hf_sizing_dir(f, k, &d, &ea);
        if (rd == HF_OK) {
            if (d % HF_EXT4_BLOCK || d > (uint64_t)INT64_MAX || (!has_manifest && (wrapped || d < sum)))
                abort();
        } else if (rd != HF_ERR_INVALID || d != 0 || !strchr(ea.msg, '"')) {
            abort();
        }
    }
    free(f);
    free(rev);
    free(ff);
    free(store);
    free(text);
    return 0;
}
