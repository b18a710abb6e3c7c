/* What the catalog knows about one model, gathered from the Hub's listing,
 * model-info and collection answers. Every string here has been checked for
 * type; ids and commits for syntax. Values are still untrusted text: they
 * are escaped when they reach an OpenNebula template. */
#ifndef HF_MODEL_H
#define HF_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hf_error.h"

typedef enum { HF_TRI_UNKNOWN = -1, HF_TRI_NO = 0, HF_TRI_YES = 1 } hf_tri;

typedef struct {
    char *id;               /* "org/name", valid */
    char *author;
    char *sha;              /* 40 lowercase hex, or NULL */
    char *pipeline_tag;
    char *library_name;
    char *license;          /* cardData.license, else the license: tag */
    char *license_name;     /* for license "other" */
    char *license_link;
    char *gated;            /* "no", "auto" or "manual"; NULL unknown */
    bool is_private;
    bool disabled;
    int64_t downloads;      /* -1 unknown */
    int64_t likes;          /* -1 unknown */
    char *last_modified;    /* ISO 8601 as the Hub writes it */
    char *created_at;
    int64_t parameters;     /* -1 unknown */
    char **tags;
    size_t n_tags;
    /* Derived from the model's file list (per-model request or cache). */
    int64_t files;          /* selected files; -1 unknown */
    int64_t files_bytes;    /* bytes of the selected files; -1 unknown */
    int64_t image_bytes;    /* size of the qcow2 import's filesystem; -1 unknown */
    hf_tri chat_template;
    bool tokenizer_config_to_read; /* only tokenizer_config.json can tell */
} hf_model;

void hf_model_init(hf_model *m);
void hf_model_clear(hf_model *m);

/* Fills m from a Hub model object (listing item, model info or collection
 * item): every field present overwrites; absent fields stay. Fails on a
 * missing or invalid id, or a field of the wrong type. */
hf_code hf_model_update_from_json(hf_model *m, json_t *obj, hf_error *err);

/* From a model-info answer with siblings (blobs=true): the selected files'
 * sizes, the image size and the chat-template verdict. */
hf_code hf_model_files_from_info(hf_model *m, json_t *info, hf_error *err);

/* Chat template from tokenizer_config.json's content. */
hf_tri hf_model_chat_template_in_tokenizer_config(json_t *tokenizer_config);

/* Serialises the model for the cache and for --output json; parses it back. */
json_t *hf_model_to_json(const hf_model *m);
hf_code hf_model_from_cache_json(hf_model *m, json_t *obj, hf_error *err);

/* Seconds since the epoch of an ISO 8601 UTC time, or -1. */
int64_t hf_model_parse_time(const char *iso);

bool hf_is_commit_sha(const char *s);

#endif
