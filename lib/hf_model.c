/* Model records built from Hub JSON (see hf_model.h). */
#define _GNU_SOURCE /* timegm */
#include "hf_model.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hf_buf.h"
#include "hf_repo_id.h"
#include "hf_repo_path.h"
#include "hf_select.h"
#include "hf_sizing.h"

#define MAX_TAGS 500
#define MAX_FILES 200000

void hf_model_init(hf_model *m)
{
    memset(m, 0, sizeof *m);
    m->downloads = m->likes = m->parameters = -1;
    m->files = m->files_bytes = m->image_bytes = -1;
    m->chat_template = HF_TRI_UNKNOWN;
}

static void free_tags(hf_model *m)
{
    for (size_t i = 0; i < m->n_tags; i++)
        free(m->tags[i]);
    free(m->tags);
    m->tags = NULL;
    m->n_tags = 0;
}

void hf_model_clear(hf_model *m)
{
    free(m->id);
    free(m->author);
    free(m->sha);
    free(m->pipeline_tag);
    free(m->library_name);
    free(m->license);
    free(m->license_name);
    free(m->license_link);
    free(m->gated);
    free(m->last_modified);
    free(m->created_at);
    free_tags(m);
    hf_model_init(m);
}

bool hf_is_commit_sha(const char *s)
{
    if (!s || strlen(s) != 40)
        return false;
    for (int i = 0; i < 40; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return true;
}

int64_t hf_model_parse_time(const char *iso)
{
    if (!iso)
        return -1;
    struct tm tm = {0};
    int y, mo, d, h, mi, s;
    if (sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) != 6)
        return -1;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        s > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    time_t t = timegm(&tm);
    return t < 0 ? -1 : (int64_t)t;
}

static hf_code type_error(const char *id, const char *field, const char *want, hf_error *err)
{
    return hf_error_set(err, HF_ERR_PROTOCOL,
                        "malformed answer from the Hub: field '%s' of model %s is not %s", field,
                        id ? id : "(unknown)", want);
}

/* Replaces *dst with the string field, if present. null counts as absent. */
static hf_code take_string(json_t *obj, const char *key, char **dst, const char *id,
                           hf_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return HF_OK;
    if (!json_is_string(v))
        return type_error(id, key, "a string", err);
    char *s = strdup(json_string_value(v));
    if (!s)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    free(*dst);
    *dst = s;
    return HF_OK;
}

static hf_code take_count(json_t *obj, const char *key, int64_t *dst, const char *id,
                          hf_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return HF_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return type_error(id, key, "a non-negative integer", err);
    *dst = (int64_t)json_integer_value(v);
    return HF_OK;
}

/* cardData.license may be a string or a list of strings. */
static hf_code license_from_card(hf_model *m, json_t *card, hf_error *err)
{
    json_t *lic = json_object_get(card, "license");
    if (!lic || json_is_null(lic))
        return HF_OK;
    hf_buf b;
    hf_buf_init(&b, 4096);
    if (json_is_string(lic)) {
        hf_buf_puts(&b, json_string_value(lic));
    } else if (json_is_array(lic)) {
        size_t i;
        json_t *item;
        json_array_foreach(lic, i, item) {
            if (!json_is_string(item)) {
                hf_buf_free(&b);
                return type_error(m->id, "cardData.license", "a string or a list of strings",
                                  err);
            }
            if (b.len)
                hf_buf_puts(&b, ", ");
            hf_buf_puts(&b, json_string_value(item));
        }
    } else {
        hf_buf_free(&b);
        return type_error(m->id, "cardData.license", "a string or a list of strings", err);
    }
    if (b.len == 0) {
        hf_buf_free(&b);
        return HF_OK;
    }
    free(m->license);
    m->license = hf_buf_steal(&b);
    hf_code rc = take_string(card, "license_name", &m->license_name, m->id, err);
    if (!rc)
        rc = take_string(card, "license_link", &m->license_link, m->id, err);
    return rc;
}

static hf_code take_tags(hf_model *m, json_t *tags, hf_error *err)
{
    if (!json_is_array(tags))
        return type_error(m->id, "tags", "a list of strings", err);
    size_t n = json_array_size(tags);
    if (n > MAX_TAGS)
        n = MAX_TAGS;
    free_tags(m);
    m->tags = calloc(n ? n : 1, sizeof *m->tags);
    if (!m->tags)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(tags, i);
        if (!json_is_string(t))
            return type_error(m->id, "tags", "a list of strings", err);
        m->tags[i] = strdup(json_string_value(t));
        if (!m->tags[i])
            return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        m->n_tags = i + 1;
    }
    return HF_OK;
}

static void license_from_tags(hf_model *m)
{
    if (m->license)
        return;
    for (size_t i = 0; i < m->n_tags; i++)
        if (!strncmp(m->tags[i], "license:", 8) && m->tags[i][8]) {
            m->license = strdup(m->tags[i] + 8);
            return;
        }
}

hf_code hf_model_update_from_json(hf_model *m, json_t *obj, hf_error *err)
{
    if (!json_is_object(obj))
        return hf_error_set(err, HF_ERR_PROTOCOL,
                            "malformed answer from the Hub: a model entry is not an object");
    json_t *id = json_object_get(obj, "id");
    if (!json_is_string(id))
        id = json_object_get(obj, "modelId");
    if (!json_is_string(id))
        return hf_error_set(err, HF_ERR_PROTOCOL,
                            "malformed answer from the Hub: a model entry has no id");
    hf_code rc = hf_repo_id_check(json_string_value(id), err);
    if (rc)
        return hf_error_prefix(err, "the Hub returned an invalid model id: ");
    if (!m->id && !(m->id = strdup(json_string_value(id))))
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");

    char *sha = NULL;
    if ((rc = take_string(obj, "sha", &sha, m->id, err)))
        return rc;
    if (sha) {
        if (!hf_is_commit_sha(sha)) {
            free(sha);
            return type_error(m->id, "sha", "a 40-digit commit hash", err);
        }
        free(m->sha);
        m->sha = sha;
    }
    if ((rc = take_string(obj, "author", &m->author, m->id, err)) ||
        (rc = take_string(obj, "pipeline_tag", &m->pipeline_tag, m->id, err)) ||
        (rc = take_string(obj, "library_name", &m->library_name, m->id, err)) ||
        (rc = take_string(obj, "lastModified", &m->last_modified, m->id, err)) ||
        (rc = take_string(obj, "createdAt", &m->created_at, m->id, err)) ||
        (rc = take_count(obj, "downloads", &m->downloads, m->id, err)) ||
        (rc = take_count(obj, "likes", &m->likes, m->id, err)))
        return rc;

    json_t *v = json_object_get(obj, "gated");
    if (v && !json_is_null(v)) {
        const char *g = NULL;
        if (json_is_false(v))
            g = "no";
        else if (json_is_true(v))
            g = "yes";
        else if (json_is_string(v) && (!strcmp(json_string_value(v), "auto") ||
                                       !strcmp(json_string_value(v), "manual")))
            g = json_string_value(v);
        else
            return type_error(m->id, "gated", "false, \"auto\" or \"manual\"", err);
        free(m->gated);
        if (!(m->gated = strdup(g)))
            return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    if ((v = json_object_get(obj, "private")) && json_is_boolean(v))
        m->is_private = json_is_true(v);
    if ((v = json_object_get(obj, "disabled")) && json_is_boolean(v))
        m->disabled = json_is_true(v);

    if ((v = json_object_get(obj, "tags")) && !json_is_null(v)) {
        if ((rc = take_tags(m, v, err)))
            return rc;
    }
    json_t *card = json_object_get(obj, "cardData");
    if (card && json_is_object(card)) {
        if ((rc = license_from_card(m, card, err)))
            return rc;
    }
    license_from_tags(m);

    json_t *st = json_object_get(obj, "safetensors");
    json_t *gguf = json_object_get(obj, "gguf");
    json_t *total = NULL;
    if (json_is_object(st))
        total = json_object_get(st, "total");
    if (!json_is_integer(total) && json_is_object(gguf))
        total = json_object_get(gguf, "total");
    if (json_is_integer(total) && json_integer_value(total) >= 0)
        m->parameters = (int64_t)json_integer_value(total);
    return HF_OK;
}

static bool nonempty_template(json_t *v)
{
    return (json_is_string(v) && json_string_length(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0);
}

hf_tri hf_model_chat_template_in_tokenizer_config(json_t *tc)
{
    if (!json_is_object(tc))
        return HF_TRI_UNKNOWN;
    return nonempty_template(json_object_get(tc, "chat_template")) ? HF_TRI_YES : HF_TRI_NO;
}


hf_code hf_model_files_from_info(hf_model *m, json_t *info, hf_error *err)
{
    json_t *siblings = json_object_get(info, "siblings");
    if (!json_is_array(siblings))
        return hf_error_set(err, HF_ERR_PROTOCOL,
                            "malformed answer from the Hub: model %s has no file list", m->id);
    size_t n = json_array_size(siblings);
    if (n > MAX_FILES)
        return hf_error_set(err, HF_ERR_PROTOCOL,
                            "model %s lists %zu files, more than the %d hfhub accepts", m->id, n,
                            MAX_FILES);
    const char **paths = calloc(n ? n : 1, sizeof *paths);
    uint64_t *sizes = calloc(n ? n : 1, sizeof *sizes);
    bool *selected = calloc(n ? n : 1, sizeof *selected);
    hf_sized_file *files = calloc(n ? n : 1, sizeof *files);
    hf_code rc = HF_OK;
    if (!paths || !sizes || !selected || !files) {
        rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        goto out;
    }
    bool has_tokenizer_config = false, has_template_file = false;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(siblings, i);
        json_t *name = json_object_get(s, "rfilename");
        json_t *size = json_object_get(s, "size");
        if (!json_is_string(name)) {
            rc = type_error(m->id, "siblings.rfilename", "a string", err);
            goto out;
        }
        paths[i] = json_string_value(name);
        if (!hf_repo_path_is_safe(paths[i])) {
            rc = hf_error_set(err, HF_ERR_PROTOCOL,
                              "model %s lists an unsafe file path; refusing the model", m->id);
            goto out;
        }
        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            rc = type_error(m->id, "siblings.size", "a non-negative integer", err);
            goto out;
        }
        sizes[i] = (uint64_t)json_integer_value(size);
        if (!strcmp(paths[i], "tokenizer_config.json"))
            has_tokenizer_config = true;
        if (!strcmp(paths[i], "chat_template.jinja") || !strcmp(paths[i], "chat_template.json") ||
            !strncmp(paths[i], "additional_chat_templates/", 26))
            has_template_file = true;
    }
    hf_select_files(paths, n, NULL, selected);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (selected[i] && strncmp(paths[i], ".hfhub/", 7)) /* our name space: not imported */
            files[k++] = (hf_sized_file){paths[i], sizes[i]};
    /* The image size first: it refuses sizes no image holds, so the sum
     * below (at most the image size) cannot wrap. */
    uint64_t image = 0, bytes = 0;
    if ((rc = hf_sizing_ext4(files, k, &image, err))) {
        hf_error_prefix(err, "model %s: ", m->id);
        goto out;
    }
    for (size_t i = 0; i < k; i++)
        bytes += files[i].size;
    m->files = (int64_t)k;
    m->files_bytes = (int64_t)bytes;
    m->image_bytes = (int64_t)image;

    json_t *config = json_object_get(info, "config");
    json_t *tc = json_is_object(config) ? json_object_get(config, "tokenizer_config") : NULL;
    json_t *pc = json_is_object(config) ? json_object_get(config, "processor_config") : NULL;
    json_t *gguf = json_object_get(info, "gguf");
    m->tokenizer_config_to_read = false;
    if (has_template_file ||
        (json_is_object(config) && nonempty_template(json_object_get(config, "chat_template_jinja"))) ||
        (json_is_object(tc) && nonempty_template(json_object_get(tc, "chat_template"))) ||
        (json_is_object(pc) && nonempty_template(json_object_get(pc, "chat_template"))) ||
        (json_is_object(gguf) && nonempty_template(json_object_get(gguf, "chat_template")))) {
        m->chat_template = HF_TRI_YES;
    } else if (has_tokenizer_config && !json_is_object(tc)) {
        m->chat_template = HF_TRI_UNKNOWN;
        m->tokenizer_config_to_read = true;
    } else {
        m->chat_template = HF_TRI_NO;
    }
out:
    free(paths);
    free(sizes);
    free(selected);
    free(files);
    return rc;
}

/* ---- cache / JSON form --------------------------------------------------- */

static void set_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, v ? json_string(v) : json_null());
}

static void set_int(json_t *o, const char *k, int64_t v)
{
    json_object_set_new(o, k, v >= 0 ? json_integer((json_int_t)v) : json_null());
}

json_t *hf_model_to_json(const hf_model *m)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    set_str(o, "id", m->id);
    set_str(o, "author", m->author);
    set_str(o, "sha", m->sha);
    set_str(o, "pipeline_tag", m->pipeline_tag);
    set_str(o, "library_name", m->library_name);
    set_str(o, "license", m->license);
    set_str(o, "license_name", m->license_name);
    set_str(o, "license_link", m->license_link);
    if (m->gated && !strcmp(m->gated, "no"))
        json_object_set_new(o, "gated", json_false());
    else if (m->gated && !strcmp(m->gated, "yes"))
        json_object_set_new(o, "gated", json_true());
    else
        set_str(o, "gated", m->gated);
    json_object_set_new(o, "private", json_boolean(m->is_private));
    json_object_set_new(o, "disabled", json_boolean(m->disabled));
    set_int(o, "downloads", m->downloads);
    set_int(o, "likes", m->likes);
    set_str(o, "lastModified", m->last_modified);
    set_str(o, "createdAt", m->created_at);
    set_int(o, "parameters", m->parameters);
    json_t *tags = json_array();
    for (size_t i = 0; i < m->n_tags; i++)
        json_array_append_new(tags, json_string(m->tags[i]));
    json_object_set_new(o, "tags", tags);
    set_int(o, "files", m->files);
    set_int(o, "files_bytes", m->files_bytes);
    set_int(o, "image_bytes", m->image_bytes);
    json_object_set_new(o, "chat_template",
                        m->chat_template == HF_TRI_UNKNOWN ? json_null()
                                                           : json_boolean(m->chat_template));
    json_object_set_new(o, "tokenizer_config_to_read", json_boolean(m->tokenizer_config_to_read));
    return o;
}

hf_code hf_model_from_cache_json(hf_model *m, json_t *o, hf_error *err)
{
    /* The cache file is written by us but lives on disk: check it again. */
    hf_code rc = hf_model_update_from_json(m, o, err);
    if (rc)
        return rc;
    if ((rc = take_string(o, "license", &m->license, m->id, err)) ||
        (rc = take_string(o, "license_name", &m->license_name, m->id, err)) ||
        (rc = take_string(o, "license_link", &m->license_link, m->id, err)))
        return rc;
    json_t *v = json_object_get(o, "parameters");
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        m->parameters = json_integer_value(v);
    if ((rc = take_count(o, "files", &m->files, m->id, err)) ||
        (rc = take_count(o, "files_bytes", &m->files_bytes, m->id, err)) ||
        (rc = take_count(o, "image_bytes", &m->image_bytes, m->id, err)))
        return rc;
    /* An entry an older hfhub wrote for a model whose sizes no image holds. */
    if (m->image_bytes > (int64_t)HF_EXT4_MAX_FS_BYTES)
        return type_error(m->id, "image_bytes", "a size an image can have", err);
    v = json_object_get(o, "chat_template");
    m->chat_template = json_is_boolean(v) ? (json_is_true(v) ? HF_TRI_YES : HF_TRI_NO)
                                          : HF_TRI_UNKNOWN;
    m->tokenizer_config_to_read = json_is_true(json_object_get(o, "tokenizer_config_to_read"));
    return HF_OK;
}
