/* Repository path safety check (see hf_repo_path.h). */
#include "hf_repo_path.h"

#include <string.h>

bool hf_repo_path_is_safe(const char *path)
{
    if (!path || !*path || path[0] == '/')
        return false;
    size_t n = strlen(path);
    if (n > HF_PATH_MAX)
        return false;
    const char *seg = path;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '/' || c == '\0') {
            size_t len = (size_t)(path + i - seg);
            if (len == 0 || len > HF_PATH_SEGMENT_MAX)
                return false;
            if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
                return false;
            seg = path + i + 1;
            continue;
        }
        if (c < 0x20 || c == 0x7f || c == '\\')
            return false;
    }
    return true;
}
