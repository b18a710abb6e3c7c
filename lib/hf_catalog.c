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

/* Takes the model *m over unless its id is already there (then clears it). */
static hf_code cand_take(candidates *c, hf_model *m, hf_error *err)
{
    if (!cand_grow(c)) {
        hf_model_clear(m);
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    size_t h = id_hash(m->id) % c->nslots;
    while (c->slots[h]) {
        if (!strcasecmp(c->v[c->slots[h] - 1].id, m->id)) {
            hf_model_clear(m);
            return HF_OK;
        }
        h = (h + 1) % c->nslots;
    }
    c->v[c->n] = *m;
    hf_model_init(m);
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

/* The key the order compares first (before the id). */
static int64_t sort_key(const hf_model *m, const hf_catalog_query *q)
{
    if (!strcmp(q->sort, "lastModified"))
        return hf_model_parse_time(m->last_modified);
    return !strcmp(q->sort, "likes") ? m->likes : m->downloads;
}

static int cmp_model_ptrs(const void *pa, const void *pb, void *arg)
{
    return cmp_models(*(hf_model *const *)pa, *(hf_model *const *)pb, arg);
}

/* ---- the run ----------------------------------------------------------------
 *
 * Every source is a chain of requests: an organisation's listing pages in
 * order (then, for an empty listing, the organisation and user questions), a
 * collection's one request. All chains run at once on one hf_http feed, with
 * the per-model requests, within HFHUB_CONCURRENCY. Nothing of the result
 * depends on the order in which answers arrive:
 *
 * - each source keeps its entries in listing order, and the sources are
 *   merged (de-duplicated, sorted, cut to the limit) in the order given, once
 *   all are complete, exactly as one after another;
 * - a failing source decides the run once every source before it is
 *   complete: its error is the one a run one source after another reports;
 * - per-model answers are applied to the final list in its order, and their
 *   warnings and errors are reported in that order.
 *
 * Per-model requests start before the listings end for the models that are
 * certain to be in the final list: in descending order, a model ranks in the
 * top `limit` when the models received ahead of it, plus what every source
 * still listing could yet add ahead of it, are fewer than the limit. (The Hub
 * lists descending, so a source whose last entry ranks below the model adds
 * nothing ahead of it.) Should the Hub break its order, such a request is
 * only wasted: answers count for the final list alone. */

enum { OWNER_SOURCE = 1, OWNER_SLOT, OWNER_FINAL };
enum { SRC_RUNNING, SRC_DONE, SRC_FAILED };

typedef struct {
    int owner;                  /* OWNER_SOURCE */
    bool collection;
    const char *name;
    char what[300];
    int state;
    hf_error err;               /* SRC_FAILED */
    hf_hub_pager pager;         /* organisations */
    int ns_step;                /* -1 listing, else the namespace question asked */
    hf_http_request req;        /* the source's request, one at a time */
    bool req_live;
    size_t raw_items;           /* listing entries received, valid or not */
    hf_model *models;           /* parsed entries, in listing order */
    size_t n_models, cap_models;
    char **warnings;            /* entries skipped, in listing order */
    size_t n_warnings;
    bool parse_failed;
    hf_error parse_err;
} source;

/* What the per-model request of one model id gave, or the cache. */
typedef struct {
    int owner;                  /* OWNER_SLOT */
    char *id, *sha, *lm;        /* id and cache key looked up (sha, else lastModified) */
    bool hit;
    hf_model cached;
    hf_http_request info;
    bool info_live, info_final;
    size_t final;               /* 1 + its index in the final list; 0 none */
} slot;

/* A model of the final list. */
typedef struct {
    int owner;                  /* OWNER_FINAL */
    size_t index;
    slot *s;
    bool keep, dirty, detail_known;
    hf_error *derr;             /* per-model request failed */
    char *dwarn;
    hf_http_request *tok;       /* tokenizer_config.json (--full) */
    hf_error *cerr;
    char *cwarn;
} final_model;

typedef struct {
    hf_http_request **v;
    size_t head, n, cap;
} req_queue;

typedef struct {
    hf_hub *hub;
    const hf_cache *cache;
    const hf_catalog_query *q;
    hf_catalog *cat;
    hf_catalog_progress_fn progress;
    void *puser;
    source *src;
    size_t n_src, running;
    bool decided;               /* the run failed: rc, err */
    hf_code rc;
    hf_error err;
    req_queue q_list, q_tok, q_info;
    slot **slots;
    size_t n_slots, cap_slots;
    size_t *map;                /* exact id -> slot index + 1, open addressing */
    size_t nmap;
    bool final_known;
    candidates cand;            /* the final list */
    final_model *fm;
    size_t infos_needed, infos_done, toks_needed, toks_done;
    bool any_derr;
    hf_http_feed feed;
} run_ctx;

static void run_fail(run_ctx *x, hf_code code, const hf_error *e)
{
    if (x->decided)
        return;
    x->decided = true;
    x->rc = code;
    if (e)
        x->err = *e;
    else
        hf_error_set(&x->err, code, "out of memory");
    x->feed.cancel = true;
}

static bool q_push(run_ctx *x, req_queue *q, hf_http_request *r)
{
    if (q->head == q->n)
        q->head = q->n = 0;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        hf_http_request **v = realloc(q->v, cap * sizeof *v);
        if (!v) {
            run_fail(x, HF_ERR_NOMEM, NULL);
            return false;
        }
        q->v = v;
        q->cap = cap;
    }
    q->v[q->n++] = r;
    return true;
}

static hf_http_request *q_pop(req_queue *q)
{
    return q->head < q->n ? q->v[q->head++] : NULL;
}

static char *format_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format_warning(const char *fmt, ...)
{
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return strdup(buf);
}

static hf_error *error_copy(const hf_error *e)
{
    hf_error *c = malloc(sizeof *c);
    if (c)
        *c = *e;
    return c;
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* ---- per-model requests ahead of the final list ---------------------------------- */

static size_t exact_hash(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static slot *slot_find(const run_ctx *x, const char *id)
{
    if (!x->nmap)
        return NULL;
    for (size_t h = exact_hash(id) % x->nmap; x->map[h]; h = (h + 1) % x->nmap)
        if (!strcmp(x->slots[x->map[h] - 1]->id, id))
            return x->slots[x->map[h] - 1];
    return NULL;
}

static void map_put(run_ctx *x, size_t idx)
{
    size_t h = exact_hash(x->slots[idx]->id) % x->nmap;
    while (x->map[h] && strcmp(x->slots[x->map[h] - 1]->id, x->slots[idx]->id))
        h = (h + 1) % x->nmap;
    x->map[h] = idx + 1;
}

/* A slot for model m: the cache is asked now; on a miss the model's request
 * is queued. */
static slot *slot_new(run_ctx *x, const hf_model *m)
{
    if (x->n_slots == x->cap_slots || (x->n_slots + 1) * 2 > x->nmap) {
        size_t cap = x->cap_slots ? x->cap_slots * 2 : 64;
        slot **v = realloc(x->slots, cap * sizeof *v);
        size_t *map = calloc(cap * 2, sizeof *map);
        if (!v || !map) {
            if (v)
                x->slots = v;
            free(map);
            run_fail(x, HF_ERR_NOMEM, NULL);
            return NULL;
        }
        x->slots = v;
        x->cap_slots = cap;
        free(x->map);
        x->map = map;
        x->nmap = cap * 2;
        for (size_t i = 0; i < x->n_slots; i++)
            map_put(x, i);
    }
    slot *s = calloc(1, sizeof *s);
    if (!s) {
        run_fail(x, HF_ERR_NOMEM, NULL);
        return NULL;
    }
    s->owner = OWNER_SLOT;
    hf_model_init(&s->cached);
    const char *lm = m->sha ? NULL : m->last_modified;
    s->id = strdup(m->id);
    s->sha = m->sha ? strdup(m->sha) : NULL;
    s->lm = lm ? strdup(lm) : NULL;
    x->slots[x->n_slots] = s;
    if (!s->id || (m->sha && !s->sha) || (lm && !s->lm)) {
        x->n_slots++; /* freed with the others */
        run_fail(x, HF_ERR_NOMEM, NULL);
        return NULL;
    }
    map_put(x, x->n_slots++);
    s->hit = hf_cache_get(x->cache, m->id, m->sha, lm, &s->cached);
    if (s->hit)
        return s;
    char *url = hf_hub_model_info_url(x->hub, m->id);
    if (!url || hf_http_request_init(&s->info, url, MAX_INFO_BYTES)) {
        free(url);
        hf_http_request_cleanup(&s->info);
        run_fail(x, HF_ERR_NOMEM, NULL);
        return NULL;
    }
    free(url);
    s->info.user = s;
    s->info_live = true;
    q_push(x, &x->q_info, &s->info);
    return s;
}

/* Starts the per-model requests of the models certain to be in the final
 * list (see above). Descending order only: ascending needs every listing. */
static void speculate(run_ctx *x)
{
    const hf_catalog_query *q = x->q;
    if (q->direction > 0 || x->decided || x->final_known)
        return;
    size_t total = 0;
    for (size_t i = 0; i < x->n_src; i++) {
        if (x->src[i].state == SRC_FAILED || x->src[i].parse_failed)
            return; /* the run is failing: nothing more is worth asking */
        total += x->src[i].n_models;
    }
    if (!total)
        return;
    hf_model **all = malloc(total * sizeof *all);
    if (!all) {
        run_fail(x, HF_ERR_NOMEM, NULL);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < x->n_src; i++)
        for (size_t j = 0; j < x->src[i].n_models; j++)
            all[n++] = &x->src[i].models[j];
    qsort_r(all, n, sizeof *all, cmp_model_ptrs, (void *)q);
    for (size_t k = 0; k < n && !x->decided; k++) {
        int64_t key = sort_key(all[k], q);
        size_t pending = 0;
        for (size_t i = 0; i < x->n_src; i++) {
            const source *s = &x->src[i];
            /* a complete listing, or one whose entries to come rank below */
            if (s->state != SRC_RUNNING || (!s->collection && s->ns_step >= 0) ||
                (!s->collection && s->n_models > 0 &&
                 sort_key(&s->models[s->n_models - 1], q) < key))
                continue;
            /* a collection can add any number; a listing up to the limit */
            pending += s->collection ? q->limit
                                     : q->limit - (s->raw_items < q->limit ? s->raw_items : q->limit);
        }
        if (k + pending >= q->limit)
            break;
        if (!slot_find(x, all[k]->id))
            slot_new(x, all[k]);
    }
    free(all);
}

/* ---- sources ------------------------------------------------------------- */

static void source_parse(source *s, json_t *item)
{
    if (s->parse_failed)
        return;
    hf_model m;
    hf_model_init(&m);
    hf_error e;
    if (hf_model_update_from_json(&m, item, &e)) {
        hf_model_clear(&m);
        if (e.code == HF_ERR_INVALID) {
            /* A hostile id is never used, and must not hide every other
             * model. A field of the wrong type, by contrast, means the Hub
             * changed its format: failing keeps oned's apps as they are. */
            char *w = format_warning("skipped a listing entry: %s", e.msg);
            char **v = w ? realloc(s->warnings, (s->n_warnings + 1) * sizeof *v) : NULL;
            if (v) {
                s->warnings = v;
                v[s->n_warnings++] = w;
            } else {
                free(w);
            }
            return;
        }
        s->parse_failed = true;
        s->parse_err = e;
        return;
    }
    if (s->n_models == s->cap_models) {
        size_t cap = s->cap_models ? s->cap_models * 2 : 64;
        hf_model *v = realloc(s->models, cap * sizeof *v);
        if (!v) {
            hf_model_clear(&m);
            s->parse_failed = true;
            hf_error_set(&s->parse_err, HF_ERR_NOMEM, "out of memory");
            return;
        }
        s->models = v;
        s->cap_models = cap;
    }
    s->models[s->n_models++] = m;
}

static void build_final(run_ctx *x);

/* The run fails with the error of the first failing source once every
 * source before it is complete; it goes on once all are complete. */
static void check_sources(run_ctx *x)
{
    for (size_t i = 0; i < x->n_src && !x->decided; i++) {
        if (x->src[i].state == SRC_RUNNING)
            return;
        if (x->src[i].state == SRC_FAILED)
            run_fail(x, x->src[i].err.code, &x->src[i].err);
    }
    if (!x->decided && !x->final_known)
        build_final(x);
}

static void source_end(run_ctx *x, source *s, hf_code rc, const hf_error *e)
{
    hf_error ee;
    if (!rc && !s->collection && s->raw_items > HF_CATALOG_MAX_SOURCE_MODELS) {
        rc = hf_error_set(&ee, HF_ERR_USAGE,
                          "%s has more than %d matching models: ascending order needs the whole "
                          "listing; narrow it with a task or search filter, or sort descending",
                          s->what, HF_CATALOG_MAX_SOURCE_MODELS);
        e = &ee;
    }
    if (!rc && s->parse_failed) {
        rc = s->parse_err.code;
        e = &s->parse_err;
    }
    s->state = rc ? SRC_FAILED : SRC_DONE;
    if (rc)
        s->err = *e;
    x->running--;
    check_sources(x);
}

/* Queues the source's next request (s->req prepared). */
static bool source_queue(run_ctx *x, source *s)
{
    s->req_live = true;
    s->req.user = s;
    return q_push(x, &x->q_list, &s->req);
}

static hf_code source_ask_namespace(run_ctx *x, source *s, hf_error *e)
{
    char *url = hf_hub_namespace_url(x->hub, s->ns_step, s->name);
    if (!url || hf_http_request_init(&s->req, url, MAX_INFO_BYTES)) {
        free(url);
        hf_http_request_cleanup(&s->req);
        return hf_error_set(e, HF_ERR_NOMEM, "out of memory");
    }
    free(url);
    source_queue(x, s);
    return HF_OK;
}

static void source_done(run_ctx *x, source *s, hf_http_request *r)
{
    hf_error e;
    hf_code rc = HF_OK;
    if (s->collection) {
        json_t *coll = NULL;
        rc = hf_hub_check(x->hub, r, s->what, &coll, &e);
        json_t *items = json_object_get(coll, "items");
        if (!rc && !json_is_array(items))
            rc = hf_error_set(&e, HF_ERR_PROTOCOL, "%s: the answer has no list of items", s->what);
        size_t i;
        json_t *item;
        if (!rc)
            json_array_foreach(items, i, item) {
                json_t *type = json_object_get(item, "type");
                /* datasets, spaces, papers and nested collections are not models */
                if (json_is_string(type) && !strcmp(json_string_value(type), "model"))
                    source_parse(s, item);
            }
        json_decref(coll);
        hf_http_request_cleanup(r);
        s->req_live = false;
        source_end(x, s, rc, &e);
        speculate(x);
        return;
    }
    if (s->ns_step < 0) {
        json_t *page = NULL;
        rc = hf_hub_pager_take(x->hub, &s->pager, r, s->what, &page, &e);
        hf_http_request_cleanup(r);
        s->req_live = false;
        if (!rc) {
            size_t i;
            json_t *item;
            s->raw_items += json_array_size(page);
            json_array_foreach(page, i, item) source_parse(s, item);
        }
        json_decref(page);
        if (!rc && s->pager.next) {
            rc = hf_hub_pager_request(&s->pager, &s->req, s->what, &e);
            if (!rc) {
                source_queue(x, s);
                speculate(x);
                return;
            }
        } else if (!rc && s->raw_items == 0) {
            /* The Hub lists nothing for an unknown author, exactly as for
             * an existing one with no matching model; oned would then keep
             * the apps of a misspelt organisation forever. Only an empty
             * listing pays for this question. */
            s->ns_step = 0;
            if (!(rc = source_ask_namespace(x, s, &e)))
                return;
        }
        source_end(x, s, rc, &e);
        speculate(x);
        return;
    }
    bool exists = false;
    rc = hf_hub_namespace_answer(x->hub, s->ns_step, s->name, r, &exists, &e);
    hf_http_request_cleanup(r);
    s->req_live = false;
    if (!rc && !exists && s->ns_step + 1 < HF_HUB_NAMESPACE_STEPS) {
        s->ns_step++;
        if (!(rc = source_ask_namespace(x, s, &e)))
            return;
    }
    if (!rc && !exists)
        rc = hf_error_set(&e, HF_ERR_NOT_FOUND,
                          "%s: no organisation or user of that name on the Hub (check the "
                          "spelling of HFHUB_ORG or --org)",
                          s->what);
    source_end(x, s, rc, &e);
}

/* ---- per-model details ------------------------------------------------------ */

static bool is_gone(const hf_error *e)
{
    return e->code == HF_ERR_NOT_FOUND || (e->code == HF_ERR_AUTH && !strstr(e->msg, "gated"));
}

/* Progress: the model details, then (once all are known) the chat templates. */
static void report(run_ctx *x, bool details)
{
    if (!x->progress)
        return;
    if (details && x->infos_needed)
        x->progress(x->puser, "model details", x->infos_done, x->infos_needed);
    if (x->toks_needed && x->infos_done == x->infos_needed)
        x->progress(x->puser, "chat templates", x->toks_done, x->toks_needed);
}

/* --full: the model's tokenizer_config.json, when only it can tell. */
static void maybe_read_tokenizer_config(run_ctx *x, final_model *f)
{
    hf_model *m = &x->cand.v[f->index];
    if (!x->q->full || !f->keep || !m->tokenizer_config_to_read || !m->sha || x->any_derr ||
        x->decided)
        return;
    char *url = hf_hub_resolve_url(x->hub, m->id, m->sha, "tokenizer_config.json");
    f->tok = calloc(1, sizeof *f->tok);
    if (!url || !f->tok || hf_http_request_init(f->tok, url, MAX_TOKENIZER_CONFIG_BYTES)) {
        free(url);
        run_fail(x, HF_ERR_NOMEM, NULL);
        return;
    }
    free(url);
    f->tok->user = f;
    x->toks_needed++;
    q_push(x, &x->q_tok, f->tok);
}

static void apply_cache_hit(run_ctx *x, final_model *f)
{
    hf_model *m = &x->cand.v[f->index];
    hf_model *cached = &f->s->cached;
    /* Derived fields from the cache; listing fields stay fresh. */
    x->cat->cache_hits++;
    m->files = cached->files;
    m->files_bytes = cached->files_bytes;
    m->image_bytes = cached->image_bytes;
    m->chat_template = cached->chat_template;
    m->tokenizer_config_to_read = cached->tokenizer_config_to_read;
    if (m->parameters < 0)
        m->parameters = cached->parameters;
    if (!m->sha) {
        /* collection item: the cache also holds what only model info gives */
        hf_model fresh = *m;
        *m = *cached;
        hf_model_init(cached);
        m->downloads = fresh.downloads >= 0 ? fresh.downloads : m->downloads;
        m->likes = fresh.likes >= 0 ? fresh.likes : m->likes;
        hf_model_clear(&fresh);
    }
    hf_model_clear(cached);
    f->detail_known = true;
    maybe_read_tokenizer_config(x, f);
}

static void process_info(run_ctx *x, final_model *f)
{
    hf_model *m = &x->cand.v[f->index];
    hf_http_request *r = &f->s->info;
    char what[200];
    snprintf(what, sizeof what, "model %s", m->id);
    json_t *info = NULL;
    hf_error e;
    hf_code rc = hf_hub_check(x->hub, r, what, &info, &e);
    if (rc && is_gone(&e)) {
        f->dwarn = format_warning("skipped %s (listed, but the Hub no longer serves it: %s)",
                                  m->id, e.msg);
        f->keep = false;
        rc = HF_OK;
    } else {
        if (!rc && !json_is_object(info))
            rc = hf_error_set(&e, HF_ERR_PROTOCOL, "%s: the answer is not a JSON object", what);
        if (!rc)
            rc = hf_model_update_from_json(m, info, &e);
        if (!rc && !m->sha)
            rc = hf_error_set(&e, HF_ERR_PROTOCOL, "%s: the answer has no commit (sha)", what);
        if (!rc && (rc = hf_model_files_from_info(m, info, &e)) == HF_ERR_INVALID) {
            /* sizes no image can hold: this model cannot be imported, the others can */
            f->dwarn = format_warning("skipped %s (%s)", m->id, e.msg);
            f->keep = false;
            rc = HF_OK;
        } else if (rc) {
            x->any_derr = true;
            if (!(f->derr = error_copy(&e)))
                run_fail(x, HF_ERR_NOMEM, NULL);
        } else {
            f->dirty = true;
        }
    }
    json_decref(info);
    hf_http_request_cleanup(r);
    f->s->info_live = false;
    f->detail_known = true;
    x->infos_done++;
    if (!rc && f->keep)
        maybe_read_tokenizer_config(x, f);
    report(x, true);
}

static void process_tokenizer_config(run_ctx *x, final_model *f)
{
    hf_model *m = &x->cand.v[f->index];
    hf_http_request *r = f->tok;
    char what[200];
    snprintf(what, sizeof what, "tokenizer_config.json of model %s", m->id);
    hf_error e;
    hf_code rc = hf_hub_check(x->hub, r, what, NULL, &e);
    if (rc == HF_ERR_AUTH) {
        /* gated without an approved token: the answer stays unknown */
        f->cwarn = format_warning("%s: chat template unknown (%s)", m->id, e.msg);
    } else if (rc == HF_ERR_NOT_FOUND) {
        m->chat_template = HF_TRI_NO;
        m->tokenizer_config_to_read = false;
        f->dirty = true;
    } else if (rc) {
        if (!(f->cerr = error_copy(&e)))
            run_fail(x, HF_ERR_NOMEM, NULL);
    } else {
        json_t *tc = json_loadb(r->resp.body.data ? r->resp.body.data : "", r->resp.body.len, 0,
                                NULL);
        if (!json_is_object(tc)) {
            /* the model's own file is broken: no loader could use a template from it */
            f->cwarn = format_warning(
                "%s: tokenizer_config.json is not valid JSON; HAS_CHAT_TEMPLATE=NO", m->id);
            m->chat_template = HF_TRI_NO;
        } else {
            m->chat_template = hf_model_chat_template_in_tokenizer_config(tc);
        }
        json_decref(tc);
        m->tokenizer_config_to_read = false;
        f->dirty = true;
    }
    hf_http_request_cleanup(r);
    free(r);
    f->tok = NULL;
    x->toks_done++;
    report(x, false);
}

/* All sources are complete: merge them in their order, sort, cut, and give
 * each model of the final list its cache entry or per-model request. */
static void build_final(run_ctx *x)
{
    hf_error e;
    x->final_known = true;
    for (size_t i = 0; i < x->n_src; i++) {
        source *s = &x->src[i];
        for (size_t j = 0; j < s->n_warnings; j++)
            add_warning(x->cat, "%s", s->warnings[j]);
        for (size_t j = 0; j < s->n_models && !x->decided; j++)
            if (cand_take(&x->cand, &s->models[j], &e))
                run_fail(x, e.code, &e);
    }
    if (x->decided)
        return;
    candidates *c = &x->cand;
    if (c->n > 1)
        qsort_r(c->v, c->n, sizeof *c->v, cmp_models, (void *)x->q);
    size_t n = c->n < x->q->limit ? c->n : x->q->limit;
    for (size_t i = n; i < c->n; i++)
        hf_model_clear(&c->v[i]);
    c->n = n;
    /* Answers to models that did not make it are of no use. */
    x->fm = calloc(n ? n : 1, sizeof *x->fm);
    if (!x->fm) {
        run_fail(x, HF_ERR_NOMEM, NULL);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        final_model *f = &x->fm[i];
        const hf_model *m = &c->v[i];
        f->owner = OWNER_FINAL;
        f->index = i;
        f->keep = true;
        slot *s = slot_find(x, m->id);
        if (!s || s->final || !str_eq(s->sha, m->sha) ||
            !str_eq(s->lm, m->sha ? NULL : m->last_modified))
            s = slot_new(x, m);
        if (!s)
            return;
        s->final = i + 1;
        f->s = s;
        if (!s->hit)
            x->infos_needed++;
    }
    for (size_t k = 0; k < x->n_slots; k++) {
        slot *s = x->slots[k];
        if (!s->final && s->info_live && s->info_final) {
            hf_http_request_cleanup(&s->info);
            s->info_live = false;
        }
    }
    if (x->progress && x->infos_needed)
        x->progress(x->puser, "model details", x->infos_done, x->infos_needed);
    for (size_t i = 0; i < n && !x->decided; i++) {
        final_model *f = &x->fm[i];
        if (f->s->hit)
            apply_cache_hit(x, f);
        else if (f->s->info_final)
            process_info(x, f);
    }
    if (!x->infos_needed)
        report(x, false);
}

/* ---- the feed ------------------------------------------------------------ */

static hf_http_request *feed_next(void *user)
{
    run_ctx *x = user;
    if (x->decided)
        return NULL;
    hf_http_request *r = q_pop(&x->q_list);
    if (!r && (r = q_pop(&x->q_tok)) == NULL)
        r = q_pop(&x->q_info);
    if (r && *(int *)r->user != OWNER_SOURCE)
        x->cat->detail_requests++;
    return r;
}

static void feed_done(void *user, hf_http_request *r)
{
    run_ctx *x = user;
    int owner = *(int *)r->user;
    if (owner == OWNER_SOURCE) {
        source *s = r->user;
        if (x->decided) {
            hf_http_request_cleanup(r);
            s->req_live = false;
        } else {
            source_done(x, s, r);
        }
    } else if (owner == OWNER_SLOT) {
        slot *s = r->user;
        s->info_final = true;
        if (s->final && !x->decided) {
            process_info(x, &x->fm[s->final - 1]);
        } else if (x->final_known || x->decided) {
            hf_http_request_cleanup(r);
            s->info_live = false;
        }
    } else {
        final_model *f = r->user;
        if (!x->decided) {
            process_tokenizer_config(x, f);
        } else {
            hf_http_request_cleanup(r);
            free(r);
            f->tok = NULL;
        }
    }
}

static void run_free(run_ctx *x)
{
    for (size_t i = 0; i < x->n_src; i++) {
        source *s = &x->src[i];
        if (s->req_live)
            hf_http_request_cleanup(&s->req);
        hf_hub_pager_clear(&s->pager);
        for (size_t j = 0; j < s->n_models; j++)
            hf_model_clear(&s->models[j]);
        free(s->models);
        for (size_t j = 0; j < s->n_warnings; j++)
            free(s->warnings[j]);
        free(s->warnings);
    }
    free(x->src);
    for (size_t k = 0; k < x->n_slots; k++) {
        slot *s = x->slots[k];
        if (s->info_live)
            hf_http_request_cleanup(&s->info);
        hf_model_clear(&s->cached);
        free(s->id);
        free(s->sha);
        free(s->lm);
        free(s);
    }
    free(x->slots);
    free(x->map);
    for (size_t i = 0; x->fm && i < x->cand.n; i++) {
        final_model *f = &x->fm[i];
        if (f->tok) {
            hf_http_request_cleanup(f->tok);
            free(f->tok);
        }
        free(f->derr);
        free(f->dwarn);
        free(f->cerr);
        free(f->cwarn);
    }
    free(x->fm);
    cand_free(&x->cand);
    free(x->q_list.v);
    free(x->q_tok.v);
    free(x->q_info.v);
}

static hf_code run_start(run_ctx *x, hf_error *err)
{
    const hf_catalog_query *q = x->q;
    bool use_collections = q->collections && q->collections[0];
    const char *const *names = use_collections ? q->collections : q->orgs;
    while (names[x->n_src])
        x->n_src++;
    x->src = calloc(x->n_src, sizeof *x->src);
    if (!x->src)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    /* The Hub sorts descending only: the first `limit` models of each source
     * are the candidates for a descending catalog; ascending order needs the
     * whole listing. */
    size_t want = q->direction < 0 ? q->limit : HF_CATALOG_MAX_SOURCE_MODELS + 1;
    size_t page = want < 1000 ? want : 1000;
    for (size_t i = 0; i < x->n_src; i++) {
        source *s = &x->src[i];
        s->owner = OWNER_SOURCE;
        s->collection = use_collections;
        s->name = names[i];
        s->ns_step = -1;
        s->state = SRC_RUNNING;
        x->running++;
        snprintf(s->what, sizeof s->what, "%s %s", use_collections ? "collection" : "organisation",
                 names[i]);
        hf_code rc;
        if (use_collections) {
            char *url = hf_hub_collection_url(x->hub, names[i]);
            rc = url && !hf_http_request_init(&s->req, url, MAX_INFO_BYTES)
                     ? HF_OK
                     : hf_error_set(err, HF_ERR_NOMEM, "out of memory");
            if (rc && url)
                hf_http_request_cleanup(&s->req);
            free(url);
        } else {
            hf_list_query lq = {.author = names[i],
                                .search = q->search,
                                .pipeline_tag = q->task,
                                .sort = q->sort,
                                .expand = LIST_EXPAND,
                                .page_size = page};
            char *url = hf_hub_list_models_url(x->hub, &lq);
            rc = url ? hf_hub_pager_init(&s->pager, url, want, err)
                     : hf_error_set(err, HF_ERR_NOMEM, "out of memory");
            free(url);
            if (!rc)
                rc = hf_hub_pager_request(&s->pager, &s->req, s->what, err);
        }
        if (rc)
            return rc;
        if (!source_queue(x, s))
            return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    return HF_OK;
}

hf_code hf_catalog_build(hf_hub *hub, const hf_cache *cache, const hf_catalog_query *q,
                         hf_catalog_progress_fn progress, void *puser, hf_catalog *out,
                         hf_error *err)
{
    memset(out, 0, sizeof *out);
    hf_code rc = hf_catalog_query_check(q, err);
    if (rc)
        return rc;
    run_ctx x = {.hub = hub, .cache = cache, .q = q, .cat = out, .progress = progress,
                 .puser = puser};
    x.feed = (hf_http_feed){.next = feed_next, .done = feed_done, .user = &x};
    if (progress)
        progress(puser, "listing", 0, 0);
    rc = run_start(&x, err);
    if (!rc)
        hf_http_run_feed(hub->http, &x.feed);
    if (!rc && x.decided)
        rc = x.rc, *err = x.err;
    size_t n = x.final_known ? x.cand.n : 0;
    for (size_t i = 0; !rc && i < n; i++)
        if (!x.fm[i].detail_known)
            rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    if (!rc && !x.final_known)
        rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    /* Answers in the order of the final list, as one after another. */
    for (size_t i = 0; !rc && i < n; i++) {
        if (x.fm[i].derr)
            rc = x.fm[i].derr->code, *err = *x.fm[i].derr;
        else if (x.fm[i].dwarn)
            add_warning(out, "%s", x.fm[i].dwarn);
    }
    for (size_t i = 0; !rc && q->full && i < n; i++) {
        if (x.fm[i].tok)
            rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        else if (x.fm[i].cerr)
            rc = x.fm[i].cerr->code, *err = *x.fm[i].cerr;
        else if (x.fm[i].cwarn)
            add_warning(out, "%s", x.fm[i].cwarn);
    }
    if (!rc) {
        out->models = calloc(n ? n : 1, sizeof *out->models);
        if (!out->models)
            rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; !rc && i < n; i++) {
        if (x.fm[i].dirty) {
            hf_error e;
            if (hf_cache_put(cache, &x.cand.v[i], &e))
                add_warning(out, "cache: %s", e.msg);
        }
        if (x.fm[i].keep) {
            out->models[out->n++] = x.cand.v[i];
            hf_model_init(&x.cand.v[i]);
        }
    }
    run_free(&x);
    if (rc)
        hf_catalog_free(out); /* no partial list */
    return rc;
}
