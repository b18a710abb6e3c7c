/* Repository file lists (see hf_repo_tree.h). */
#include "hf_repo_tree.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_buf.h"
#include "hf_model.h"
#include "hf_repo_path.h"

#define MAX_TREE_FILES 200000

static bool is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return true;
}

hf_code hf_repo_resolve_commit(hf_hub *hub, hf_repo_type type, const char *repo_id,
                               const char *revision, char commit[41], char **last_modified,
                               hf_error *err)
{
    const char *rev = revision ? revision : "main";
    char *esc = hf_http_escape(rev);
    hf_buf url;
    hf_buf_init(&url, 0);
    hf_buf_printf(&url, "%s/api/%s/%s/revision/%s", hub->endpoint, hf_repo_type_api(type), repo_id,
                  esc ? esc : "");
    free(esc);
    hf_http_request r;
    if (url.overflow || hf_http_request_init(&r, url.data, (size_t)32 << 20)) {
        hf_buf_free(&url);
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    hf_buf_free(&url);
    hf_http_run_one(hub->http, &r);
    char what[400];
    snprintf(what, sizeof what, "%s %s@%s", type == HF_REPO_DATASET ? "dataset" : "model", repo_id,
             rev);
    json_t *info = NULL;
    hf_code rc = hf_hub_check(hub, &r, what, &info, err);
    hf_http_request_cleanup(&r);
    if (rc)
        return rc;
    json_t *sha = json_object_get(info, "sha");
    if (!json_is_string(sha) || !hf_is_commit_sha(json_string_value(sha))) {
        json_decref(info);
        return hf_error_set(err, HF_ERR_PROTOCOL, "%s: the Hub's answer has no valid commit (sha)",
                            what);
    }
    memcpy(commit, json_string_value(sha), 41);
    json_t *lm = json_object_get(info, "lastModified");
    if (last_modified)
        *last_modified = json_is_string(lm) ? strdup(json_string_value(lm)) : NULL;
    json_decref(info);
    return HF_OK;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(((const hf_repo_file *)a)->path, ((const hf_repo_file *)b)->path);
}

static hf_code add_entry(hf_repo_tree *t, json_t *e, const char *what, hf_error *err)
{
    json_t *type = json_object_get(e, "type");
    if (!json_is_string(type))
        return hf_error_set(err, HF_ERR_PROTOCOL, "%s: a tree entry has no type", what);
    if (strcmp(json_string_value(type), "file"))
        return HF_OK; /* directories follow from the paths */
    json_t *path = json_object_get(e, "path"), *size = json_object_get(e, "size"),
           *oid = json_object_get(e, "oid"), *lfs = json_object_get(e, "lfs");
    if (!json_is_string(path) || !hf_repo_path_is_safe(json_string_value(path)))
        return hf_error_set(err, HF_ERR_PROTOCOL,
                            "%s: the tree lists an unsafe or missing path; refusing the repository",
                            what);
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return hf_error_set(err, HF_ERR_PROTOCOL, "%s: %s has no valid size", what,
                            json_string_value(path));
    if (!json_is_string(oid) || !is_hex(json_string_value(oid), 40))
        return hf_error_set(err, HF_ERR_PROTOCOL, "%s: %s has no valid git oid", what,
                            json_string_value(path));
    if (t->n >= MAX_TREE_FILES)
        return hf_error_set(err, HF_ERR_PROTOCOL, "%s: more than %d files", what, MAX_TREE_FILES);
    hf_repo_file f = {0};
    f.size = (uint64_t)json_integer_value(size);
    memcpy(f.oid, json_string_value(oid), 41);
    if (lfs && !json_is_null(lfs)) {
        json_t *lo = json_object_get(lfs, "oid"), *ls = json_object_get(lfs, "size");
        if (!json_is_string(lo) || !is_hex(json_string_value(lo), 64) || !json_is_integer(ls) ||
            (uint64_t)json_integer_value(ls) != f.size)
            return hf_error_set(err, HF_ERR_PROTOCOL,
                                "%s: %s has an invalid LFS entry (sha256 or size)", what,
                                json_string_value(path));
        memcpy(f.sha256, json_string_value(lo), 65);
        f.lfs = true;
    }
    if (!(f.path = strdup(json_string_value(path))))
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    if (!(t->n & (t->n - 1))) { /* 0, 1, 2, 4...: double, so 200,000 entries stay linear */
        hf_repo_file *v = realloc(t->files, (t->n ? 2 * t->n : 1) * sizeof *v);
        if (!v) {
            free(f.path);
            return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        }
        t->files = v;
    }
    t->files[t->n++] = f;
    return HF_OK;
}

hf_code hf_repo_tree_list(hf_hub *hub, hf_repo_type type, const char *repo_id,
                          const char *commit, hf_repo_tree *out, hf_error *err)
{
    memset(out, 0, sizeof *out);
    memcpy(out->commit, commit, 41);
    hf_buf url;
    hf_buf_init(&url, 0);
    hf_buf_printf(&url, "%s/api/%s/%s/tree/%s?recursive=true&expand=false", hub->endpoint,
                  hf_repo_type_api(type), repo_id, commit);
    char what[300];
    snprintf(what, sizeof what, "file list of %s@%.12s", repo_id, commit);
    json_t *items = json_array();
    hf_code rc = url.overflow || !items
                     ? hf_error_set(err, HF_ERR_NOMEM, "out of memory")
                     : hf_hub_fetch_pages(hub, url.data, (size_t)MAX_TREE_FILES * 2, what, items, err);
    hf_buf_free(&url);
    size_t i;
    json_t *e;
    if (!rc)
        json_array_foreach(items, i, e) {
            if ((rc = add_entry(out, e, what, err)))
                break;
        }
    json_decref(items);
    if (!rc && out->n > 1) {
        /* sorted by path: duplicates become neighbours */
        qsort(out->files, out->n, sizeof *out->files, cmp_path);
        for (size_t k = 1; k < out->n && !rc; k++)
            if (!strcmp(out->files[k - 1].path, out->files[k].path))
                rc = hf_error_set(err, HF_ERR_PROTOCOL, "%s: the tree lists %s twice", what,
                                  out->files[k].path);
    }
    if (rc)
        hf_repo_tree_free(out);
    return rc;
}

void hf_repo_tree_free(hf_repo_tree *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->files[i].path);
    free(t->files);
    free(t->last_modified);
    memset(t, 0, sizeof *t);
}
