/* The Hugging Face Hub's HTTP API as hfhub uses it: builds the URLs of the
 * routes (listing, model info, collections, resolve), walks paginated
 * listings, and turns the Hub's error answers (status, X-Error-Code,
 * X-Error-Message) into messages that tell an operator what to do. */
#ifndef HF_HUB_H
#define HF_HUB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hf_error.h"
#include "hf_http.h"

#define HF_DEFAULT_ENDPOINT "https://huggingface.co"

typedef struct {
    char *endpoint;   /* no trailing slash */
    bool has_token;
    hf_http *http;    /* not owned */
} hf_hub;

/* endpoint: NULL means $HF_ENDPOINT, else huggingface.co. Must be http(s). */
hf_code hf_hub_init(hf_hub *hub, const char *endpoint, bool has_token, hf_http *http,
                    hf_error *err);
void hf_hub_clear(hf_hub *hub);

/* Resolves the endpoint from $HF_ENDPOINT (or the default); checks it. */
hf_code hf_hub_endpoint_from_env(char **out, hf_error *err);

typedef struct {
    const char *author;       /* may be NULL */
    const char *search;
    const char *pipeline_tag;
    const char *sort;         /* downloads | likes | lastModified | ... */
    const char *const *expand;/* NULL-terminated */
    size_t page_size;
} hf_list_query;

/* URL of the first page of /api/models for q. Caller frees. */
char *hf_hub_list_models_url(const hf_hub *hub, const hf_list_query *q);
/* /api/models/{id}?blobs=true (file sizes; public for gated models). */
char *hf_hub_model_info_url(const hf_hub *hub, const char *model_id);
/* /api/collections/{slug} */
char *hf_hub_collection_url(const hf_hub *hub, const char *slug);
/* {endpoint}/{prefix}{id}/resolve/{revision}/{path}, each path segment
 * escaped; prefix is "" for models, "datasets/" for datasets. */
char *hf_resolve_url(const char *endpoint, const char *prefix, const char *repo_id,
                     const char *revision, const char *path);
/* /{id}/resolve/{revision}/{path} of a model */
char *hf_hub_resolve_url(const hf_hub *hub, const char *model_id, const char *revision,
                         const char *path);

/* Whether an organisation or user of that name exists: the Hub answers
 * /api/organizations/{name}/overview, then /api/users/{name}/overview, with
 * 404 for an unknown name (a model author may be either). *exists is set on
 * HF_OK; any other answer (network, 429, 5xx) is an error, since the
 * question stays open. name must be valid (hf_org_check). */
hf_code hf_hub_namespace_exists(hf_hub *hub, const char *name, bool *exists, hf_error *err);

/* The same question one request at a time, for callers that run several
 * things at once. Step 0 is the organisation, step 1 the user. The URL is
 * NULL when out of memory; hf_hub_namespace_answer reads the answer to a
 * step: HF_OK with *exists, or an error as above. After a 404 at step 0,
 * ask step 1; after a 404 at step 1 the name is unknown. */
#define HF_HUB_NAMESPACE_STEPS 2
char *hf_hub_namespace_url(const hf_hub *hub, int step, const char *name);
hf_code hf_hub_namespace_answer(const hf_hub *hub, int step, const char *name,
                                hf_http_request *r, bool *exists, hf_error *err);

/* Checks a finished request: transport errors, the Hub's error statuses and,
 * for a 2xx, that the body parses as JSON (returned in *json when not NULL).
 * what names the object for the message ("model acme/x", "collection ...").*/
hf_code hf_hub_check(const hf_hub *hub, hf_http_request *r, const char *what, json_t **json,
                     hf_error *err);

/* Fetches every page of a listing starting at url, until max_items items
 * are collected or the listing ends; items are appended to out (an array).
 * Next-page links must stay on the Hub's origin. */
hf_code hf_hub_fetch_pages(hf_hub *hub, const char *url, size_t max_items, const char *what,
                           json_t *out, hf_error *err);

/* The same walk one page at a time, for callers that run several listings
 * at once (hf_hub_fetch_pages is built on it). */
typedef struct {
    char *next;        /* URL of the page to fetch; NULL once the listing is complete */
    size_t max_items;
    size_t items;      /* items taken so far, at most max_items */
    int pages;
} hf_hub_pager;

hf_code hf_hub_pager_init(hf_hub_pager *p, const char *url, size_t max_items, hf_error *err);
void hf_hub_pager_clear(hf_hub_pager *p);
/* Prepares r (uninitialised) for the page at p->next, which must be set.
 * Fails when the listing does not end (10000 pages). */
hf_code hf_hub_pager_request(hf_hub_pager *p, hf_http_request *r, const char *what,
                             hf_error *err);
/* Takes the finished request for that page: checks the answer, gives its
 * items in *page (a new array, at most what max_items still allows) and
 * moves p->next on, to NULL when the listing is complete. */
hf_code hf_hub_pager_take(hf_hub *hub, hf_hub_pager *p, hf_http_request *r, const char *what,
                          json_t **page, hf_error *err);

#endif
