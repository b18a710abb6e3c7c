/* Catalog building (see hf_catalog.h). */
#define _GNU_SOURCE /* qsort_r */
#include "hf_catalog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hf_repo_id.h"

#define MAX_INFO_BYTES ((size_t)32 << 20)
#define MAX_TOKENIZER_CONFIG_BYTES ((size_t)16 << 20)

static const char *const LIST_EXPAND[] = {
    "author",  "sha",          "lastModified", "createdAt", "downloads",
    "likes",   "tags",         "pipeline_tag", "library_name", "gated",
    "private", "disabled",     "cardData",     "safetensors", NULL};

hf_code hf_catalog_query_check(const hf_catalog_query *q, hf_error *err)
{
    hf_code rc;
    if (!q->sort || (strcmp(q->sort, "downloads") && strcmp(q->sort, "likes") &&
                     strcmp(q->sort, "lastModified")))
        return hf_error_set(err, HF_ERR_USAGE,
                            "unknown sort '%.60s': use downloads, likes or lastModified",
                            q->sort ? q->sort : "");
    if (q->direction != -1 && q->direction != 1)
        return hf_error_set(err, HF_ERR_USAGE,
                            "direction must be -1 (descending) or 1 (ascending)");
    if (q->limit < 1 || q->limit > HF_CATALOG_MAX_LIMIT)
        return hf_error_set(err, HF_ERR_USAGE, "limit must be a whole number from 1 to %d",
                            HF_CATALOG_MAX_LIMIT);
    bool any_source = false;
    for (size_t i = 0; q->collections && q->collections[i]; i++) {
        if ((rc = hf_collection_slug_check(q->collections[i], err)))
            return rc;
        any_source = true;
    }
    for (size_t i = 0; q->orgs && q->orgs[i]; i++) {
        if ((rc = hf_org_check(q->orgs[i], err)))
            return rc;
        any_source = true;
    }
    if (!any_source)
        return hf_error_set(err, HF_ERR_USAGE, "no organisation or collection to index");
    if (q->task) {
        for (const char *p = q->task; *p; p++)
            if (!(((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-') &&
                  p - q->task < 64))
                return hf_error_set(err, HF_ERR_USAGE,
                                    "'%.64s' is not a task name: use a Hub pipeline tag such as "
                                    "text-generation",
                                    q->task);
        if (!*q->task)
            return hf_error_set(err, HF_ERR_USAGE, "the task is empty");
    }
    if (q->search && strlen(q->search) > 200)
        return hf_error_set(err, HF_ERR_USAGE, "the search text is longer than 200 characters");
    return HF_OK;
}

static void add_warning(hf_catalog *c, const char *fmt, ...)
{
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **w = realloc(c->warnings, (c->n_warnings + 1) * sizeof *w);
    if (!w)
        return;
    c->warnings = w;
    if ((w[c->n_warnings] = strdup(buf)))
        c->n_warnings++;
}

void hf_catalog_free(hf_catalog *c)
{
    for (size_t i = 0; i < c->n; i++)
        hf_model_clear(&c->models[i]);
    free(c->models);
    for (size_t i = 0; i < c->n_warnings; i++)
        free(c->warnings[i]);
    free(c->warnings);
    memset(c, 0, sizeof *c);
}

/* ---- candidate set with case-insensitive de-duplication ----------------- */

typedef struct {
    hf_model *v;
    size_t n, cap;
    size_t *slots;     /* open addressing: index + 1, 0 = empty */
    size_t nslots;
    bool from_collection;
} candidates;

static size_t id_hash(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
        h *= 1099511628211ULL;
    }
    return h;
}

static bool cand_grow(candidates *c)
{
    if (c->n + 1 <= c->cap && (c->n + 1) * 2 <= c->nslots)
        return true;
    size_t cap = c->cap ? c->cap * 2 : 64;
    hf_model *v = realloc(c->v, cap * sizeof *v);
    if (!v)
        return false;
    c->v = v;
    c->cap = cap;
    free(c->slots);
    c->nslots = cap * 2;
    c->slots = calloc(c->nslots, sizeof *c->slots);
    if (!c->slots)
        return false;
    for (size_t i = 0; i < c->n; i++) {
        size_t h = id_hash(c->v[i].id) % c->nslots;
        while (c->slots[h])
            h = (h + 1) % c->nslots;
        c->slots[h] = i + 1;
    }
    return true;
}

/* Adds the model in obj unless its id is already there. */
static hf_code cand_add(candidates *c, json_t *obj, hf_catalog *cat, hf_error *err)
{
    hf_model m;
    hf_model_init(&m);
    hf_error e;
    if (hf_model_update_from_json(&m, obj, &e)) {
        hf_model_clear(&m);
        if (e.code == HF_ERR_INVALID) {
            /* A hostile id is never used, and must not hide every other
             * model. A field of the wrong type, by contrast, means the Hub
             * changed its format: failing keeps oned's apps as they are. */
            add_warning(cat, "skipped a listing entry: %s", e.msg);
            return HF_OK;
        }
        *err = e;
        return e.code;
    }
    if (!cand_grow(c)) {
        hf_model_clear(&m);
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    size_t h = id_hash(m.id) % c->nslots;
    while (c->slots[h]) {
        if (!strcasecmp(c->v[c->slots[h] - 1].id, m.id)) {
            hf_model_clear(&m);
            return HF_OK;
        }
        h = (h + 1) % c->nslots;
    }
    c->v[c->n] = m;
    c->slots[h] = ++c->n;
    return HF_OK;
}

static void cand_free(candidates *c)
{
    for (size_t i = 0; i < c->n; i++)
        hf_model_clear(&c->v[i]);
    free(c->v);
    free(c->slots);
}

/* ---- request batches -------------------------------------------------- */

typedef struct {
    hf_http_request *reqs;
    hf_http_request **ptrs;
    size_t *model;      /* index of the model each request is for */
    size_t n;
} batch;

static hf_code batch_new(batch *b, size_t cap, hf_error *err)
{
    b->reqs = calloc(cap ? cap : 1, sizeof *b->reqs);
    b->ptrs = calloc(cap ? cap : 1, sizeof *b->ptrs);
    b->model = calloc(cap ? cap : 1, sizeof *b->model);
    b->n = 0;
    return b->reqs && b->ptrs && b->model ? HF_OK : hf_error_set(err, HF_ERR_NOMEM, "out of memory");
}

/* Queues a request for url (taken over, may be NULL on allocation failure). */
static hf_code batch_add(batch *b, char *url, size_t max_body, size_t model, hf_error *err)
{
    hf_code rc = url && !hf_http_request_init(&b->reqs[b->n], url, max_body)
                     ? HF_OK
                     : hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    free(url);
    if (!rc) {
        b->ptrs[b->n] = &b->reqs[b->n];
        b->model[b->n++] = model;
    }
    return rc;
}

static void batch_run(batch *b, hf_hub *hub, const char *phase, hf_catalog_progress_fn progress,
                      void *puser, hf_catalog *cat)
{
    if (!b->n)
        return;
    if (progress)
        progress(puser, phase, 0, b->n);
    hf_http_run(hub->http, b->ptrs, b->n);
    cat->detail_requests += b->n;
    if (progress)
        progress(puser, phase, b->n, b->n);
}

static void batch_free(batch *b)
{
    for (size_t j = 0; b->reqs && j < b->n; j++)
        hf_http_request_cleanup(&b->reqs[j]);
    free(b->reqs);
    free(b->ptrs);
    free(b->model);
}

/* ---- sources ------------------------------------------------------------- */

static hf_code list_org(hf_hub *hub, const hf_catalog_query *q, const char *org,
                        candidates *cand, hf_catalog *cat, hf_error *err)
{
    /* The Hub sorts descending only: the first `limit` models of each source
     * are the candidates for a descending catalog; ascending order needs the
     * whole listing. */
    size_t want = q->direction < 0 ? q->limit : HF_CATALOG_MAX_SOURCE_MODELS + 1;
    size_t page = want < 1000 ? want : 1000;
    hf_list_query lq = {.author = org,
                        .search = q->search,
                        .pipeline_tag = q->task,
                        .sort = q->sort,
                        .expand = LIST_EXPAND,
                        .page_size = page};
    char *url = hf_hub_list_models_url(hub, &lq);
    if (!url)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    char what[200];
    snprintf(what, sizeof what, "organisation %s", org);
    json_t *items = json_array();
    hf_code rc = hf_hub_fetch_pages(hub, url, want, what, items, err);
    free(url);
    if (!rc && json_array_size(items) == 0) {
        /* The Hub lists nothing for an unknown author, exactly as for an
         * existing one with no matching model; oned would then keep the
         * apps of a misspelt organisation forever. Only an empty listing
         * pays for this question. */
        bool exists = false;
        rc = hf_hub_namespace_exists(hub, org, &exists, err);
        if (!rc && !exists)
            rc = hf_error_set(err, HF_ERR_NOT_FOUND,
                              "%s: no organisation or user of that name on the Hub (check the "
                              "spelling of HFHUB_ORG or --org)",
                              what);
    }
    if (!rc && json_array_size(items) > HF_CATALOG_MAX_SOURCE_MODELS)
        rc = hf_error_set(err, HF_ERR_USAGE,
                          "%s has more than %d matching models: ascending order needs the whole "
                          "listing; narrow it with a task or search filter, or sort descending",
                          what, HF_CATALOG_MAX_SOURCE_MODELS);
    size_t i;
    json_t *item;
    if (!rc)
        json_array_foreach(items, i, item) {
            if ((rc = cand_add(cand, item, cat, err)))
                break;
        }
    json_decref(items);
    return rc;
}

static hf_code list_collections(hf_hub *hub, const hf_catalog_query *q, candidates *cand,
                                hf_catalog *cat, hf_error *err)
{
    size_t n = 0;
    while (q->collections[n])
        n++;
    batch b;
    hf_code rc = batch_new(&b, n, err);
    for (size_t k = 0; !rc && k < n; k++)
        rc = batch_add(&b, hf_hub_collection_url(hub, q->collections[k]), MAX_INFO_BYTES, k, err);
    if (!rc)
        hf_http_run(hub->http, b.ptrs, b.n);
    for (size_t k = 0; !rc && k < b.n; k++) {
        char what[300];
        snprintf(what, sizeof what, "collection %s", q->collections[k]);
        json_t *coll = NULL;
        rc = hf_hub_check(hub, &b.reqs[k], what, &coll, err);
        json_t *items = json_object_get(coll, "items");
        if (!rc && !json_is_array(items))
            rc = hf_error_set(err, HF_ERR_PROTOCOL, "%s: the answer has no list of items", what);
        size_t i;
        json_t *item;
        if (!rc)
            json_array_foreach(items, i, item) {
                json_t *type = json_object_get(item, "type");
                /* datasets, spaces, papers and nested collections are not models */
                if (!json_is_string(type) || strcmp(json_string_value(type), "model"))
                    continue;
                if ((rc = cand_add(cand, item, cat, err)))
                    break;
            }
        json_decref(coll);
    }
    batch_free(&b);
    return rc;
}

/* ---- order ---------------------------------------------------------------- */

static int cmp_models(const void *pa, const void *pb, void *arg)
{
    const hf_model *a = pa, *b = pb;
    const hf_catalog_query *q = arg;
    int c = 0;
    if (!strcmp(q->sort, "lastModified")) {
        int64_t ta = hf_model_parse_time(a->last_modified);
        int64_t tb = hf_model_parse_time(b->last_modified);
        c = ta < tb ? -1 : ta > tb;
    } else {
        bool likes = !strcmp(q->sort, "likes");
        int64_t va = likes ? a->likes : a->downloads;
        int64_t vb = likes ? b->likes : b->downloads;
        c = va < vb ? -1 : va > vb;
    }
    if (c)
        return q->direction < 0 ? -c : c;
    return strcmp(a->id, b->id); /* stable, deterministic ties */
}

/* ---- per-model details ------------------------------------------------------ */

static bool is_gone(const hf_error *e)
{
    return e->code == HF_ERR_NOT_FOUND || (e->code == HF_ERR_AUTH && !strstr(e->msg, "gated"));
}

static hf_code fetch_details(hf_hub *hub, const hf_cache *cache, hf_model *models, size_t n,
                             bool *keep, bool *dirty, hf_catalog_progress_fn progress,
                             void *puser, hf_catalog *cat, hf_error *err)
{
    batch b;
    hf_code rc = batch_new(&b, n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        hf_model cached;
        hf_model_init(&cached);
        if (hf_cache_get(cache, models[i].id, models[i].sha,
                         models[i].sha ? NULL : models[i].last_modified, &cached)) {
            /* Derived fields from the cache; listing fields stay fresh. */
            cat->cache_hits++;
            models[i].files = cached.files;
            models[i].files_bytes = cached.files_bytes;
            models[i].image_bytes = cached.image_bytes;
            models[i].chat_template = cached.chat_template;
            models[i].tokenizer_config_to_read = cached.tokenizer_config_to_read;
            if (models[i].parameters < 0)
                models[i].parameters = cached.parameters;
            if (!models[i].sha) {
                /* collection item: the cache also holds what only model info gives */
                hf_model fresh = models[i];
                models[i] = cached;
                hf_model_init(&cached);
                models[i].downloads = fresh.downloads >= 0 ? fresh.downloads : models[i].downloads;
                models[i].likes = fresh.likes >= 0 ? fresh.likes : models[i].likes;
                hf_model_clear(&fresh);
            }
            hf_model_clear(&cached);
            continue;
        }
        hf_model_clear(&cached);
        rc = batch_add(&b, hf_hub_model_info_url(hub, models[i].id), MAX_INFO_BYTES, i, err);
    }
    if (!rc)
        batch_run(&b, hub, "model details", progress, puser, cat);
    for (size_t j = 0; !rc && j < b.n; j++) {
        hf_model *m = &models[b.model[j]];
        char what[200];
        snprintf(what, sizeof what, "model %s", m->id);
        json_t *info = NULL;
        hf_error e;
        hf_code r = hf_hub_check(hub, &b.reqs[j], what, &info, &e);
        if (r && is_gone(&e)) {
            add_warning(cat, "skipped %s (listed, but the Hub no longer serves it: %s)", m->id,
                        e.msg);
            keep[b.model[j]] = false;
            continue;
        }
        if (!r && !json_is_object(info))
            r = hf_error_set(&e, HF_ERR_PROTOCOL, "%s: the answer is not a JSON object", what);
        if (!r)
            r = hf_model_update_from_json(m, info, &e);
        if (!r && !m->sha)
            r = hf_error_set(&e, HF_ERR_PROTOCOL, "%s: the answer has no commit (sha)", what);
        if (!r && (r = hf_model_files_from_info(m, info, &e)) == HF_ERR_INVALID) {
            /* sizes no image can hold: this model cannot be imported, the others can */
            add_warning(cat, "skipped %s (%s)", m->id, e.msg);
            keep[b.model[j]] = false;
            json_decref(info);
            continue;
        }
        json_decref(info);
        if (r) {
            *err = e;
            rc = r;
            break;
        }
        dirty[b.model[j]] = true;
    }
    batch_free(&b);
    return rc;
}

static hf_code fetch_chat_templates(hf_hub *hub, hf_model *models, size_t n, const bool *keep,
                                    bool *dirty, hf_catalog_progress_fn progress, void *puser,
                                    hf_catalog *cat, hf_error *err)
{
    batch b;
    hf_code rc = batch_new(&b, n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        if (!keep[i] || !models[i].tokenizer_config_to_read || !models[i].sha)
            continue;
        rc = batch_add(&b, hf_hub_resolve_url(hub, models[i].id, models[i].sha, "tokenizer_config.json"),
                       MAX_TOKENIZER_CONFIG_BYTES, i, err);
    }
    if (!rc)
        batch_run(&b, hub, "chat templates", progress, puser, cat);
    for (size_t j = 0; !rc && j < b.n; j++) {
        hf_model *m = &models[b.model[j]];
        char what[200];
        snprintf(what, sizeof what, "tokenizer_config.json of model %s", m->id);
        hf_error e;
        hf_code r = hf_hub_check(hub, &b.reqs[j], what, NULL, &e);
        if (r == HF_ERR_AUTH) {
            /* gated without an approved token: the answer stays unknown */
            add_warning(cat, "%s: chat template unknown (%s)", m->id, e.msg);
            continue;
        }
        if (r == HF_ERR_NOT_FOUND) {
            m->chat_template = HF_TRI_NO;
            m->tokenizer_config_to_read = false;
            dirty[b.model[j]] = true;
            continue;
        }
        if (r) {
            *err = e;
            rc = r;
            break;
        }
        json_t *tc = json_loadb(b.reqs[j].resp.body.data ? b.reqs[j].resp.body.data : "",
                                b.reqs[j].resp.body.len, 0, NULL);
        if (!json_is_object(tc)) {
            /* the model's own file is broken: no loader could use a template from it */
            add_warning(cat, "%s: tokenizer_config.json is not valid JSON; HAS_CHAT_TEMPLATE=NO",
                        m->id);
            m->chat_template = HF_TRI_NO;
        } else {
            m->chat_template = hf_model_chat_template_in_tokenizer_config(tc);
        }
        json_decref(tc);
        m->tokenizer_config_to_read = false;
        dirty[b.model[j]] = true;
    }
    batch_free(&b);
    return rc;
}

hf_code hf_catalog_build(hf_hub *hub, const hf_cache *cache, const hf_catalog_query *q,
                         hf_catalog_progress_fn progress, void *puser, hf_catalog *out,
                         hf_error *err)
{
    memset(out, 0, sizeof *out);
    hf_code rc = hf_catalog_query_check(q, err);
    if (rc)
        return rc;
    candidates cand = {0};
    bool use_collections = q->collections && q->collections[0];
    cand.from_collection = use_collections;
    if (progress)
        progress(puser, "listing", 0, 0);
    if (use_collections) {
        rc = list_collections(hub, q, &cand, out, err);
    } else {
        for (size_t i = 0; !rc && q->orgs[i]; i++)
            rc = list_org(hub, q, q->orgs[i], &cand, out, err);
    }
    if (rc) {
        cand_free(&cand);
        return rc;
    }
    if (cand.n > 1)
        qsort_r(cand.v, cand.n, sizeof *cand.v, cmp_models, (void *)q);
    size_t n = cand.n < q->limit ? cand.n : q->limit;
    for (size_t i = n; i < cand.n; i++)
        hf_model_clear(&cand.v[i]);
    cand.n = n;

    bool *keep = malloc(n ? n : 1);
    bool *dirty = calloc(n ? n : 1, 1);
    if (!keep || !dirty) {
        rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    } else {
        memset(keep, 1, n ? n : 1);
        rc = fetch_details(hub, cache, cand.v, n, keep, dirty, progress, puser, out, err);
    }
    if (!rc && q->full)
        rc = fetch_chat_templates(hub, cand.v, n, keep, dirty, progress, puser, out, err);
    if (!rc) {
        out->models = calloc(n ? n : 1, sizeof *out->models);
        if (!out->models)
            rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (!rc && dirty[i]) {
            hf_error e;
            if (hf_cache_put(cache, &cand.v[i], &e))
                add_warning(out, "cache: %s", e.msg);
        }
        if (!rc && keep[i]) {
            out->models[out->n++] = cand.v[i];
            hf_model_init(&cand.v[i]);
        }
    }
    free(keep);
    free(dirty);
    cand_free(&cand);
    if (rc) {
        for (size_t i = 0; i < out->n; i++)
            hf_model_clear(&out->models[i]);
        free(out->models);
        out->models = NULL;
        out->n = 0;
    }
    return rc;
}
