/* The catalog: turns sources (organisations with optional task and search
 * filters, or collections) into an ordered, de-duplicated, limited list of
 * models with everything an OpenNebula app needs. Listing requests give most
 * fields; what needs a per-model request (exact size, chat template) is
 * cached per (model, commit). Sources are listed concurrently, beside the
 * per-model requests, with the result of one request at a time. A source
 * that fails fails the whole catalog: a partial list would make oned delete
 * apps. */
#ifndef HF_CATALOG_H
#define HF_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "hf_cache.h"
#include "hf_error.h"
#include "hf_hub.h"
#include "hf_model.h"

#define HF_CATALOG_MAX_LIMIT 10000
/* Ascending order needs each source's complete listing; this bounds it. */
#define HF_CATALOG_MAX_SOURCE_MODELS 10000

typedef struct {
    const char *const *orgs;         /* NULL-terminated; used without collections */
    const char *const *collections;  /* NULL-terminated slugs; override orgs and task */
    const char *task;                /* pipeline_tag filter, organisations only */
    const char *search;              /* substring filter, organisations only */
    const char *sort;                /* "downloads", "likes" or "lastModified" */
    int direction;                   /* -1 descending, 1 ascending */
    size_t limit;                    /* global, after merge and sort */
    bool full;                       /* decide HAS_CHAT_TEMPLATE */
} hf_catalog_query;

typedef void (*hf_catalog_progress_fn)(void *user, const char *phase, size_t done,
                                       size_t total);

typedef struct {
    hf_model *models;
    size_t n;
    char **warnings;       /* things skipped, for the log */
    size_t n_warnings;
    size_t cache_hits;
    size_t detail_requests;
} hf_catalog;

/* Checks the query's values (names, sort, direction, limit). */
hf_code hf_catalog_query_check(const hf_catalog_query *q, hf_error *err);

hf_code hf_catalog_build(hf_hub *hub, const hf_cache *cache, const hf_catalog_query *q,
                         hf_catalog_progress_fn progress, void *progress_user, hf_catalog *out,
                         hf_error *err);

void hf_catalog_free(hf_catalog *c);

#endif
