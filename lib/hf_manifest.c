/* Import manifest (see hf_manifest.h). */
#include "hf_manifest.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *render(const hf_manifest_info *info, const hf_fetch_file *files, size_t n,
                      bool with_address)
{
    json_t *m = json_object();
    json_object_set_new(m, "hfhub_manifest", json_integer(1));
    if (with_address)
        json_object_set_new(m, "address", json_string(info->address));
    json_object_set_new(m, "repo_type",
                        json_string(info->repo_type == HF_REPO_DATASET ? "dataset" : "model"));
    json_object_set_new(m, "repo_id", json_string(info->repo_id));
    json_object_set_new(m, "revision", info->revision ? json_string(info->revision) : json_null());
    json_object_set_new(m, "commit", json_string(info->commit));
    json_object_set_new(m, "format", json_string(info->format));
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_object();
        json_object_set_new(f, "path", json_string(files[i].path));
        json_object_set_new(f, "size", json_integer((json_int_t)files[i].size));
        json_object_set_new(f, "sha256", json_string(files[i].computed_sha256));
        json_object_set_new(f, "git_oid", json_string(files[i].oid));
        json_object_set_new(f, "lfs", json_boolean(files[i].sha256 != NULL));
        json_array_append_new(arr, f);
    }
    json_object_set_new(m, "files", arr);
    return m;
}

hf_code hf_manifest_render(const hf_manifest_info *info, const hf_fetch_file *files, size_t n,
                           size_t pad_to, char **out, size_t *len, hf_error *err)
{
    char *text = NULL;
    for (int with_address = 1; with_address >= 0 && !text; with_address--) {
        json_t *m = render(info, files, n, with_address);
        char *s = m ? json_dumps(m, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        json_decref(m);
        if (!s)
            return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        if (pad_to && strlen(s) + 1 > pad_to) {
            free(s); /* too long: try without the (user-given) address */
            continue;
        }
        text = s;
    }
    if (!text)
        return hf_error_set(err, HF_ERR_INVALID,
                            "the manifest does not fit in the %zu bytes reserved for it", pad_to);
    size_t l = strlen(text);
    size_t total = pad_to ? pad_to : l + 1;
    char *buf = malloc(total);
    if (!buf) {
        free(text);
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    memcpy(buf, text, l);
    memset(buf + l, ' ', total - l);
    buf[total - 1] = '\n';
    free(text);
    *out = buf;
    *len = total;
    return HF_OK;
}
