/* Checks file paths that come from a repository listing before they are used
 * for anything on the local side: relative, '/'-separated, no '.' or '..'
 * segments, no empty segments, no control characters or backslashes, and
 * bounded lengths. A path that fails is hostile or broken, never "fixed". */
#ifndef HF_REPO_PATH_H
#define HF_REPO_PATH_H

#include <stdbool.h>

#define HF_PATH_MAX 1024
#define HF_PATH_SEGMENT_MAX 255

bool hf_repo_path_is_safe(const char *path);

#endif
