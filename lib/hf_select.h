/* Which files of a repository an import takes. The default leaves out Git
 * plumbing (.gitattributes, .gitignore, .git/...) and, when the repository has
 * safetensors weights, the redundant copies of the same weights in older
 * formats (PyTorch .bin/.pt/.pth, TensorFlow .h5, Flax .msgpack, Rust .ot,
 * ONNX, OpenVINO and Core ML exports). include/exclude globs (fnmatch, matched
 * against the whole path) override it: include globs, when given, replace the
 * default (only files matching one are taken); exclude globs then drop files.
 * The catalog's SIZE and the downloader use this same rule. */
#ifndef HF_SELECT_H
#define HF_SELECT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *const *include;  /* NULL-terminated, or NULL */
    const char *const *exclude;  /* NULL-terminated, or NULL */
} hf_select_rules;

/* selected[i] tells whether paths[i] is taken. */
void hf_select_files(const char *const *paths, size_t n, const hf_select_rules *rules,
                     bool *selected);

/* The default rule alone, for one path, given whether the repo has safetensors. */
bool hf_select_default(const char *path, bool repo_has_safetensors);

#endif
