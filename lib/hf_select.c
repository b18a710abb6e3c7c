/* Default file selection for imports (see hf_select.h). */
#include "hf_select.h"

#include <fnmatch.h>
#include <string.h>
#include <strings.h>

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static bool is_git_plumbing(const char *path)
{
    const char *base = basename_of(path);
    return !strncmp(path, ".git/", 5) || !strcmp(base, ".gitattributes") ||
           !strcmp(base, ".gitignore") || !strcmp(base, ".gitmodules");
}

static bool has_prefix_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return !strncmp(path, dir, n) && path[n] == '/';
}

/* Weights that duplicate safetensors in another framework's format. */
static bool is_redundant_weight(const char *path)
{
    const char *base = basename_of(path);
    if (has_prefix_dir(path, "onnx") || has_prefix_dir(path, "openvino") ||
        has_prefix_dir(path, "coreml") || strstr(path, ".mlpackage/"))
        return true;
    if (ends_with(base, ".bin") &&
        (!strncmp(base, "pytorch_model", 13) || !strncmp(base, "model", 5)))
        return true;
    return ends_with(base, ".pt") || ends_with(base, ".pth") || ends_with(base, ".h5") ||
           ends_with(base, ".msgpack") || ends_with(base, ".ot") || ends_with(base, ".onnx") ||
           ends_with(base, ".onnx_data") || ends_with(base, ".ckpt");
}

bool hf_select_default(const char *path, bool repo_has_safetensors)
{
    if (is_git_plumbing(path))
        return false;
    if (repo_has_safetensors && is_redundant_weight(path))
        return false;
    return true;
}

static bool matches_any(const char *path, const char *const *globs)
{
    if (!globs)
        return false;
    for (size_t i = 0; globs[i]; i++)
        if (fnmatch(globs[i], path, 0) == 0)
            return true;
    return false;
}

void hf_select_files(const char *const *paths, size_t n, const hf_select_rules *rules,
                     bool *selected)
{
    bool has_st = false;
    for (size_t i = 0; i < n; i++)
        if (ends_with(paths[i], ".safetensors"))
            has_st = true;
    bool have_includes = rules && rules->include && rules->include[0];
    for (size_t i = 0; i < n; i++) {
        bool take;
        if (have_includes)
            take = matches_any(paths[i], rules->include);
        else
            take = hf_select_default(paths[i], has_st);
        if (rules && matches_any(paths[i], rules->exclude))
            take = false;
        selected[i] = take;
    }
}
