/* Hugging Face Hub API client (see hf_hub.h). */
#include "hf_hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hf_buf.h"

#define MAX_JSON_BYTES ((size_t)64 << 20)

hf_code hf_hub_endpoint_from_env(char **out, hf_error *err)
{
    const char *e = getenv("HF_ENDPOINT");
    if (!e || !*e)
        e = HF_DEFAULT_ENDPOINT;
    if (strncasecmp(e, "http://", 7) && strncasecmp(e, "https://", 8))
        return hf_error_set(err, HF_ERR_INVALID,
                            "HF_ENDPOINT must be an http:// or https:// URL (got '%.100s')", e);
    for (const char *p = e; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == '"' || *p == '\\' || (unsigned char)*p >= 0x7f)
            return hf_error_set(err, HF_ERR_INVALID,
                                "HF_ENDPOINT contains a character not allowed in a URL");
    size_t n = strlen(e);
    while (n > 0 && e[n - 1] == '/')
        n--;
    *out = strndup(e, n);
    return *out ? HF_OK : hf_error_set(err, HF_ERR_NOMEM, "out of memory");
}

hf_code hf_hub_init(hf_hub *hub, const char *endpoint, bool has_token, hf_http *http,
                    hf_error *err)
{
    memset(hub, 0, sizeof *hub);
    hf_code rc;
    if (endpoint) {
        size_t n = strlen(endpoint);
        while (n > 0 && endpoint[n - 1] == '/')
            n--;
        hub->endpoint = strndup(endpoint, n);
        rc = hub->endpoint ? HF_OK : hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    } else {
        rc = hf_hub_endpoint_from_env(&hub->endpoint, err);
    }
    hub->has_token = has_token;
    hub->http = http;
    return rc;
}

void hf_hub_clear(hf_hub *hub)
{
    free(hub->endpoint);
    memset(hub, 0, sizeof *hub);
}

static void add_param(hf_buf *b, const char *key, const char *value)
{
    if (!value || !*value)
        return;
    char *v = hf_http_escape(value);
    hf_buf_printf(b, "%c%s=%s", strchr(b->data, '?') ? '&' : '?', key, v ? v : "");
    free(v);
}

char *hf_hub_list_models_url(const hf_hub *hub, const hf_list_query *q)
{
    hf_buf b;
    hf_buf_init(&b, 0);
    hf_buf_printf(&b, "%s/api/models", hub->endpoint);
    add_param(&b, "author", q->author);
    add_param(&b, "search", q->search);
    add_param(&b, "pipeline_tag", q->pipeline_tag);
    add_param(&b, "sort", q->sort);
    if (q->sort)
        add_param(&b, "direction", "-1");
    char limit[32];
    snprintf(limit, sizeof limit, "%zu", q->page_size ? q->page_size : 100);
    add_param(&b, "limit", limit);
    for (size_t i = 0; q->expand && q->expand[i]; i++)
        add_param(&b, "expand", q->expand[i]);
    if (b.overflow) {
        hf_buf_free(&b);
        return NULL;
    }
    return hf_buf_steal(&b);
}

/* Ids were validated ([A-Za-z0-9._-] and one '/'), so they go in paths as is. */
char *hf_hub_model_info_url(const hf_hub *hub, const char *model_id)
{
    hf_buf b;
    hf_buf_init(&b, 0);
    hf_buf_printf(&b, "%s/api/models/%s?blobs=true", hub->endpoint, model_id);
    return b.overflow ? (hf_buf_free(&b), NULL) : hf_buf_steal(&b);
}

char *hf_hub_collection_url(const hf_hub *hub, const char *slug)
{
    hf_buf b;
    hf_buf_init(&b, 0);
    hf_buf_printf(&b, "%s/api/collections/%s", hub->endpoint, slug);
    return b.overflow ? (hf_buf_free(&b), NULL) : hf_buf_steal(&b);
}

char *hf_resolve_url(const char *endpoint, const char *prefix, const char *repo_id,
                     const char *revision, const char *path)
{
    char *rev = hf_http_escape(revision);
    hf_buf b;
    hf_buf_init(&b, 0);
    hf_buf_printf(&b, "%s/%s%s/resolve/%s/", endpoint, prefix, repo_id, rev ? rev : "");
    free(rev);
    /* Keep '/' between segments, escape each segment. */
    const char *p = path;
    while (*p) {
        size_t n = strcspn(p, "/");
        char *seg = strndup(p, n);
        char *esc = seg ? hf_http_escape(seg) : NULL;
        hf_buf_puts(&b, esc ? esc : "");
        free(seg);
        free(esc);
        p += n;
        if (*p == '/') {
            hf_buf_puts(&b, "/");
            p++;
        }
    }
    return b.overflow ? (hf_buf_free(&b), NULL) : hf_buf_steal(&b);
}

char *hf_hub_resolve_url(const hf_hub *hub, const char *model_id, const char *revision,
                         const char *path)
{
    return hf_resolve_url(hub->endpoint, "", model_id, revision, path);
}

/* The server's own words, shortened (hf_error_set escapes their control
 * characters, so they show as \xNN). */
static void server_message(const hf_http_request *r, char *out, size_t outsz)
{
    const char *m = r->resp.x_error_message;
    json_t *j = NULL;
    if (!m && r->resp.body.data && r->resp.body.len) {
        j = json_loadb(r->resp.body.data, r->resp.body.len, 0, NULL);
        json_t *e = json_object_get(j, "error");
        if (json_is_string(e))
            m = json_string_value(e);
    }
    size_t o = 0;
    for (size_t i = 0; m && m[i] && o + 1 < outsz && i < 300; i++)
        out[o++] = m[i];
    out[o] = '\0';
    json_decref(j);
}

hf_code hf_hub_check(const hf_hub *hub, hf_http_request *r, const char *what, json_t **json,
                     hf_error *err)
{
    if (json)
        *json = NULL;
    if (r->err.code) {
        *err = r->err;
        if (r->err.code == HF_ERR_NETWORK)
            hf_error_prefix(err, "%s: the Hub at %s cannot be reached (check the network, "
                                 "HTTPS_PROXY and HF_ENDPOINT): ",
                            what, hub->endpoint);
        else
            hf_error_prefix(err, "%s: ", what);
        return err->code;
    }
    long s = r->resp.status;
    char msg[320];
    server_message(r, msg, sizeof msg);
    const char *code = r->resp.x_error_code ? r->resp.x_error_code : "";
    if (s >= 200 && s < 300) {
        if (!json)
            return HF_OK;
        json_error_t jerr;
        *json = json_loadb(r->resp.body.data ? r->resp.body.data : "", r->resp.body.len,
                           JSON_REJECT_DUPLICATES, &jerr);
        if (!*json)
            return hf_error_set(err, HF_ERR_PROTOCOL,
                                "%s: the Hub sent malformed JSON (%s at line %d); is HF_ENDPOINT "
                                "a Hugging Face Hub?",
                                what, jerr.text, jerr.line);
        return HF_OK;
    }
    if (!strcmp(code, "GatedRepo")) {
        if (s == 401 || !hub->has_token)
            return hf_error_set(err, HF_ERR_AUTH,
                                "%s is gated: accept its conditions on the Hub and set HF_TOKEN "
                                "to a token of that account (%s)",
                                what, msg);
        return hf_error_set(err, HF_ERR_AUTH,
                            "%s is gated and the token's account is not approved yet: request "
                            "access on the model's page, or use another token (%s)",
                            what, msg);
    }
    if (!strcmp(code, "RevisionNotFound"))
        return hf_error_set(err, HF_ERR_NOT_FOUND, "%s: revision not found (%s)", what, msg);
    if (!strcmp(code, "EntryNotFound"))
        return hf_error_set(err, HF_ERR_NOT_FOUND, "%s: file not found (%s)", what, msg);
    if (s == 401) {
        if (hub->has_token)
            return hf_error_set(err, HF_ERR_AUTH,
                                "%s: not found, or private and the token has no access, or the "
                                "token is invalid (%s); check the name and HF_TOKEN",
                                what, msg);
        return hf_error_set(err, HF_ERR_AUTH,
                            "%s: not found, or private (the Hub answers 401 to anonymous "
                            "requests for both); check the name, or set HF_TOKEN if it is "
                            "private (%s)",
                            what, msg);
    }
    if (s == 403)
        return hf_error_set(err, HF_ERR_AUTH, "%s: access denied by the Hub (%s)", what, msg);
    if (s == 404)
        return hf_error_set(err, HF_ERR_NOT_FOUND, "%s: not found on the Hub (%s)", what,
                            msg[0] ? msg : "404");
    if (s == 429) {
        double wait = r->resp.ratelimit_reset >= 0 ? r->resp.ratelimit_reset : r->resp.retry_after;
        if (wait >= 0)
            return hf_error_set(err, HF_ERR_RATE_LIMIT,
                                "%s: rate-limited by the Hub after %d attempts; the quota resets "
                                "in %.0f s. Run again later, or set HF_TOKEN (a logged-in quota "
                                "is higher)",
                                what, r->attempts, wait);
        return hf_error_set(err, HF_ERR_RATE_LIMIT,
                            "%s: rate-limited by the Hub after %d attempts; run again later, "
                            "or set HF_TOKEN (a logged-in quota is higher)",
                            what, r->attempts);
    }
    if (s >= 500)
        return hf_error_set(err, HF_ERR_SERVER,
                            "%s: the Hub failed with HTTP %ld after %d attempts (%s); it is "
                            "probably a passing outage, run again later",
                            what, s, r->attempts, msg[0] ? msg : "no detail");
    if (s >= 300 && s < 400)
        return hf_error_set(err, HF_ERR_PROTOCOL, "%s: unexpected redirect (HTTP %ld)", what, s);
    if (s == 400)
        return hf_error_set(err, HF_ERR_HTTP, "%s: the Hub rejected the request (%s)", what,
                            msg[0] ? msg : "HTTP 400");
    return hf_error_set(err, HF_ERR_HTTP, "%s: unexpected HTTP %ld from the Hub (%s)", what, s,
                        msg[0] ? msg : "no detail");
}

hf_code hf_hub_pager_init(hf_hub_pager *p, const char *url, size_t max_items, hf_error *err)
{
    memset(p, 0, sizeof *p);
    p->max_items = max_items;
    if (max_items == 0)
        return HF_OK;
    p->next = strdup(url);
    return p->next ? HF_OK : hf_error_set(err, HF_ERR_NOMEM, "out of memory");
}

void hf_hub_pager_clear(hf_hub_pager *p)
{
    free(p->next);
    memset(p, 0, sizeof *p);
}

hf_code hf_hub_pager_request(hf_hub_pager *p, hf_http_request *r, const char *what,
                             hf_error *err)
{
    if (++p->pages > 10000)
        return hf_error_set(err, HF_ERR_PROTOCOL, "%s: the listing does not end", what);
    if (hf_http_request_init(r, p->next, MAX_JSON_BYTES)) {
        hf_http_request_cleanup(r);
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    return HF_OK;
}

hf_code hf_hub_pager_take(hf_hub *hub, hf_hub_pager *p, hf_http_request *r, const char *what,
                          json_t **page_out, hf_error *err)
{
    *page_out = NULL;
    free(p->next);
    p->next = NULL;
    json_t *page = NULL;
    hf_code rc = hf_hub_check(hub, r, what, &page, err);
    if (!rc && !json_is_array(page))
        rc = hf_error_set(err, HF_ERR_PROTOCOL, "%s: the Hub's answer is not a list", what);
    if (!rc && r->resp.link_next) {
        if (!hf_http_same_origin(r->resp.link_next, hub->endpoint))
            rc = hf_error_set(err, HF_ERR_PROTOCOL,
                              "%s: the next page link leaves the Hub's origin %s; refusing it",
                              what, hub->endpoint);
        else if (json_array_size(page) == 0)
            ; /* an empty page with a next link: stop rather than loop */
        else if (!(p->next = strdup(r->resp.link_next)))
            rc = hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    if (rc) {
        json_decref(page);
        return rc;
    }
    while (json_array_size(page) > p->max_items - p->items)
        json_array_remove(page, json_array_size(page) - 1);
    p->items += json_array_size(page);
    if (p->items >= p->max_items) {
        free(p->next);
        p->next = NULL;
    }
    *page_out = page;
    return HF_OK;
}

hf_code hf_hub_fetch_pages(hf_hub *hub, const char *url, size_t max_items, const char *what,
                           json_t *out, hf_error *err)
{
    hf_hub_pager p;
    hf_code rc = hf_hub_pager_init(&p, url, max_items, err);
    while (!rc && p.next) {
        hf_http_request r;
        if ((rc = hf_hub_pager_request(&p, &r, what, err)))
            break;
        hf_http_run_one(hub->http, &r);
        json_t *page = NULL;
        rc = hf_hub_pager_take(hub, &p, &r, what, &page, err);
        if (!rc)
            json_array_extend(out, page);
        json_decref(page);
        hf_http_request_cleanup(&r);
    }
    hf_hub_pager_clear(&p);
    return rc;
}

static const char *const NAMESPACE_KINDS[HF_HUB_NAMESPACE_STEPS][2] = {
    {"organizations", "organisation"}, {"users", "user"}};

char *hf_hub_namespace_url(const hf_hub *hub, int step, const char *name)
{
    hf_buf url;
    hf_buf_init(&url, 0);
    hf_buf_printf(&url, "%s/api/%s/%s/overview", hub->endpoint, NAMESPACE_KINDS[step][0], name);
    return url.overflow ? (hf_buf_free(&url), NULL) : hf_buf_steal(&url);
}

hf_code hf_hub_namespace_answer(const hf_hub *hub, int step, const char *name,
                                hf_http_request *r, bool *exists, hf_error *err)
{
    char what[200];
    snprintf(what, sizeof what, "%s %s", NAMESPACE_KINDS[step][1], name);
    hf_error e;
    hf_code rc = hf_hub_check(hub, r, what, NULL, &e);
    *exists = rc == HF_OK;
    if (rc && rc != HF_ERR_NOT_FOUND) {
        *err = e;
        return rc;
    }
    return HF_OK;
}

hf_code hf_hub_namespace_exists(hf_hub *hub, const char *name, bool *exists, hf_error *err)
{
    *exists = false;
    for (int k = 0; k < HF_HUB_NAMESPACE_STEPS && !*exists; k++) {
        char *url = hf_hub_namespace_url(hub, k, name);
        hf_http_request r;
        if (!url || hf_http_request_init(&r, url, MAX_JSON_BYTES)) {
            if (url)
                hf_http_request_cleanup(&r);
            free(url);
            return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        }
        free(url);
        hf_http_run_one(hub->http, &r);
        hf_code rc = hf_hub_namespace_answer(hub, k, name, &r, exists, err);
        hf_http_request_cleanup(&r);
        if (rc)
            return rc;
    }
    return HF_OK;
}
