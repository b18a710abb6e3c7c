/* HTTP transport on libcurl's multi interface (see hf_http.h). */
#include "hf_http.h"
#include "hf_http_headers.h"

#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_REDIRECTS 5

struct hf_http {
    CURLM *multi;
    char *endpoint;
    char *auth_header;        /* "Authorization: Bearer ..." or NULL */
    char *user_agent;
    double deadline;
    int max_parallel;
    int max_retries;
    long retry_base_ms;
    long connect_timeout_ms;
    long stall_timeout_s;
    double pause_until;       /* a 429 pauses every new request until then */
    long sent;
};

double hf_http_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

hf_code hf_http_new(const hf_http_options *opt, hf_http **out, hf_error *err)
{
    static int global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return hf_error_set(err, HF_ERR_NETWORK, "cannot initialise libcurl");
        global_done = 1;
    }
    hf_http *h = calloc(1, sizeof *h);
    if (!h)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    h->multi = curl_multi_init();
    h->endpoint = dup_or_null(opt->endpoint);
    h->user_agent = strdup(opt->user_agent ? opt->user_agent : "hfhub");
    if (opt->token && *opt->token) {
        size_t n = strlen(opt->token) + 32;
        h->auth_header = malloc(n);
        if (h->auth_header)
            snprintf(h->auth_header, n, "Authorization: Bearer %s", opt->token);
    }
    h->deadline = opt->deadline;
    h->max_parallel = opt->max_parallel > 0 ? opt->max_parallel : 8;
    h->max_retries = opt->max_retries >= 0 ? opt->max_retries : 5;
    h->retry_base_ms = opt->retry_base_ms > 0 ? opt->retry_base_ms : 1000;
    h->connect_timeout_ms = opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 10000;
    h->stall_timeout_s = opt->stall_timeout_s > 0 ? opt->stall_timeout_s : 30;
    if (!h->multi || !h->user_agent || (opt->endpoint && !h->endpoint) ||
        (opt->token && *opt->token && !h->auth_header)) {
        hf_http_free(h);
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)h->max_parallel);
    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    *out = h;
    return HF_OK;
}

void hf_http_free(hf_http *h)
{
    if (!h)
        return;
    if (h->multi)
        curl_multi_cleanup(h->multi);
    free(h->endpoint);
    if (h->auth_header) {
        /* The token should not linger in freed memory. */
        memset(h->auth_header, 0, strlen(h->auth_header));
        free(h->auth_header);
    }
    free(h->user_agent);
    free(h);
}

long hf_http_requests_sent(const hf_http *h)
{
    return h->sent;
}

void hf_http_set_deadline(hf_http *h, double deadline)
{
    h->deadline = deadline;
}

static void response_clear(hf_http_response *r)
{
    free(r->url);
    free(r->location);
    free(r->link_next);
    free(r->x_error_code);
    free(r->x_error_message);
    free(r->x_repo_commit);
    free(r->etag);
    free(r->x_linked_etag);
    free(r->content_type);
    size_t limit = r->body.limit;
    hf_buf_free(&r->body);
    memset(r, 0, sizeof *r);
    hf_buf_init(&r->body, limit);
    r->x_linked_size = r->content_length = -1;
    r->retry_after = r->ratelimit_reset = -1;
    r->ratelimit_remaining = -1;
}

hf_code hf_http_request_init(hf_http_request *r, const char *url, size_t max_body)
{
    memset(r, 0, sizeof *r);
    hf_buf_init(&r->resp.body, max_body);
    response_clear(&r->resp);
    r->max_body = max_body;
    r->follow_redirects = true;
    r->url = strdup(url);
    return r->url ? HF_OK : HF_ERR_NOMEM;
}

void hf_http_request_cleanup(hf_http_request *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    if (r->headers)
        curl_slist_free_all(r->headers);
    response_clear(&r->resp);
    hf_buf_free(&r->resp.body);
    free(r->url);
    memset(r, 0, sizeof *r);
}

/* ---- URL helpers -------------------------------------------------------- */

static long default_port(const char *scheme)
{
    if (!scheme)
        return 0;
    if (!strcasecmp(scheme, "https"))
        return 443;
    if (!strcasecmp(scheme, "http"))
        return 80;
    return 0;
}

static bool url_origin(const char *url, char **scheme, char **host, long *port)
{
    CURLU *u = curl_url();
    bool ok = false;
    char *p = NULL;
    *scheme = *host = NULL;
    *port = 0;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, host, 0) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_PORT, &p, 0) == CURLUE_OK && p)
            *port = strtol(p, NULL, 10);
        else
            *port = default_port(*scheme);
        ok = true;
    }
    curl_free(p);
    curl_url_cleanup(u);
    return ok;
}

bool hf_http_same_origin(const char *url, const char *origin_url)
{
    if (!url || !origin_url)
        return false;
    char *s1, *h1, *s2, *h2;
    long p1, p2;
    bool ok1 = url_origin(url, &s1, &h1, &p1);
    bool ok2 = url_origin(origin_url, &s2, &h2, &p2);
    bool same = ok1 && ok2 && !strcasecmp(s1, s2) && !strcasecmp(h1, h2) && p1 == p2;
    curl_free(s1);
    curl_free(h1);
    curl_free(s2);
    curl_free(h2);
    return same;
}

char *hf_http_redirect_url(const char *base, const char *location, hf_error *err)
{
    CURLU *u = curl_url();
    char *out = NULL, *scheme = NULL, *res = NULL;
    if (!u) {
        hf_error_set(err, HF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    /* any scheme is parsed, so that a refusal can name it */
    if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_URL, location, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        hf_error_set(err, HF_ERR_PROTOCOL, "a redirect to an invalid address (%.200s)", location);
    } else if (strcasecmp(scheme, "http") && strcasecmp(scheme, "https")) {
        hf_error_set(err, HF_ERR_PROTOCOL,
                     "a redirect to a %.40s:// address (%.200s); only http and https are followed",
                     scheme, location);
    } else if (curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK || !(res = strdup(out))) {
        hf_error_set(err, HF_ERR_PROTOCOL, "a redirect to an invalid address (%.200s)", location);
    }
    curl_free(scheme);
    curl_free(out);
    curl_url_cleanup(u);
    return res;
}

char *hf_http_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* ---- response headers --------------------------------------------------- */

static void set_field(char **field, const char *v, size_t n)
{
    free(*field);
    *field = hf_header_trim(v, n);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    hf_http_request *req = userp;
    hf_http_response *r = &req->resp;
    size_t n = size * nmemb;
    if (n >= 5 && !strncmp(data, "HTTP/", 5)) {
        /* A new response (e.g. after 100 Continue): forget earlier headers. */
        char *url = r->url;
        r->url = NULL;
        response_clear(r);
        r->url = url;
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon)
        return n;
    size_t klen = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vlen = n - klen - 1;
#define IS(name) (klen == sizeof(name) - 1 && !strncasecmp(data, name, klen))
    if (IS("location")) {
        set_field(&r->location, v, vlen);
    } else if (IS("link")) {
        char *val = hf_header_trim(v, vlen);
        if (val) {
            char *next = hf_header_link_next(val);
            if (next) {
                free(r->link_next);
                r->link_next = next;
            }
            free(val);
        }
    } else if (IS("x-error-code")) {
        set_field(&r->x_error_code, v, vlen);
    } else if (IS("x-error-message")) {
        set_field(&r->x_error_message, v, vlen);
    } else if (IS("x-repo-commit")) {
        set_field(&r->x_repo_commit, v, vlen);
    } else if (IS("etag")) {
        set_field(&r->etag, v, vlen);
    } else if (IS("x-linked-etag")) {
        set_field(&r->x_linked_etag, v, vlen);
    } else if (IS("content-type")) {
        set_field(&r->content_type, v, vlen);
    } else if (IS("x-linked-size") || IS("content-length") || IS("retry-after") ||
               IS("ratelimit")) {
        char *val = hf_header_trim(v, vlen);
        if (val) {
            if (IS("x-linked-size"))
                r->x_linked_size = strtoll(val, NULL, 10);
            else if (IS("content-length"))
                r->content_length = strtoll(val, NULL, 10);
            else if (IS("retry-after"))
                hf_header_seconds(val, &r->retry_after);
            else
                hf_header_ratelimit(val, &r->ratelimit_remaining, &r->ratelimit_reset);
            free(val);
        }
    }
#undef IS
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    hf_http_request *req = userp;
    size_t n = size * nmemb;
    if (!hf_buf_append(&req->resp.body, data, n))
        return 0; /* makes libcurl abort the transfer: CURLE_WRITE_ERROR */
    return n;
}

/* ---- one attempt -------------------------------------------------------- */

static bool start_attempt(hf_http *h, hf_http_request *r, double now)
{
    char *url = r->url;
    r->url = NULL;
    response_clear(&r->resp);
    r->url = url;
    r->resp.url = strdup(url);

    CURL *e = curl_easy_init();
    if (!e) {
        hf_error_set(&r->err, HF_ERR_NOMEM, "out of memory");
        return false;
    }
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Accept: application/json, */*");
    if (h->auth_header && h->endpoint && hf_http_same_origin(r->url, h->endpoint))
        hdrs = curl_slist_append(hdrs, h->auth_header);

    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Waiting to multiplex only pays where HTTP/2 can be negotiated (TLS):
     * over cleartext HTTP/1.1 it held every request of a batch back until
     * the first answer had arrived. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, strncasecmp(r->url, "https:", 6) ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, h->stall_timeout_s);
    if (h->deadline > 0) {
        double left = h->deadline - now;
        long ms = left > 0.001 ? (long)(left * 1000) : 1;
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms);
    }
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    if (r->head)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    r->easy = e;
    r->headers = hdrs;
    r->attempts++;
    h->sent++;
    curl_multi_add_handle(h->multi, e);
    return true;
}

static void end_attempt(hf_http *h, hf_http_request *r)
{
    if (r->easy) {
        curl_multi_remove_handle(h->multi, r->easy);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    if (r->headers) {
        curl_slist_free_all(r->headers);
        r->headers = NULL;
    }
}

static bool retryable_status(long s)
{
    return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static bool retryable_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

/* Seconds to wait before the next attempt. */
static double backoff_delay(const hf_http *h, const hf_http_request *r)
{
    const hf_http_response *resp = &r->resp;
    if (resp->status == 429 && resp->ratelimit_remaining == 0 && resp->ratelimit_reset >= 0)
        return resp->ratelimit_reset + 1;
    if (resp->retry_after >= 0)
        return resp->retry_after;
    int k = r->attempts - 1;
    if (k > 3)
        k = 3;
    return (double)h->retry_base_ms / 1000.0 * (double)(1 << k);
}

/* Decides what follows a finished attempt. Returns true when r is final. */
static bool finish_attempt(hf_http *h, hf_http_request *r, CURLcode cc, double now)
{
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    r->resp.status = status;
    end_attempt(h, r);

    if (cc == CURLE_WRITE_ERROR && r->resp.body.overflow) {
        hf_error_set(&r->err, HF_ERR_PROTOCOL,
                     "the answer from %s is larger than %zu MB; refusing it", r->url,
                     r->max_body >> 20);
        return true;
    }
    if (cc == CURLE_OPERATION_TIMEDOUT && h->deadline > 0 && now >= h->deadline - 0.01) {
        hf_error_set(&r->err, HF_ERR_TIMEOUT, "%s did not answer before the deadline", r->url);
        return true;
    }

    bool redirect = cc == CURLE_OK && status >= 300 && status < 400 && status != 304 &&
                    r->resp.location && r->follow_redirects;
    if (redirect) {
        if (++r->redirects > MAX_REDIRECTS) {
            hf_error_set(&r->err, HF_ERR_PROTOCOL, "too many redirects from %s", r->url);
            return true;
        }
        char *next = hf_http_redirect_url(r->url, r->resp.location, &r->err);
        if (!next) {
            hf_error_prefix(&r->err, "%s: ", r->url);
            return true;
        }
        free(r->url);
        r->url = next;
        r->not_before = now;
        r->attempts--; /* a redirect is not a failed attempt */
        return false;
    }

    bool retry = (cc != CURLE_OK && retryable_curl(cc)) || (cc == CURLE_OK && retryable_status(status));
    if (!retry) {
        if (cc != CURLE_OK)
            hf_error_set(&r->err, HF_ERR_NETWORK, "cannot fetch %s: %s", r->url,
                         curl_easy_strerror(cc));
        return true;
    }
    double delay = backoff_delay(h, r);
    bool out_of_time = h->deadline > 0 && now + delay >= h->deadline;
    if (r->attempts > h->max_retries || out_of_time) {
        if (cc != CURLE_OK)
            hf_error_set(&r->err, out_of_time ? HF_ERR_TIMEOUT : HF_ERR_NETWORK,
                         "cannot fetch %s: %s (%d attempt%s%s)", r->url, curl_easy_strerror(cc),
                         r->attempts, r->attempts == 1 ? "" : "s",
                         out_of_time ? ", deadline reached" : "");
        return true; /* the final status stays in resp for the caller to explain */
    }
    r->not_before = now + delay;
    if (status == 429 && r->not_before > h->pause_until)
        h->pause_until = r->not_before;
    return false;
}

void hf_http_run_one(hf_http *h, hf_http_request *r)
{
    hf_http_run(h, &r, 1);
}

/* ---- runs fed as they go (see hf_http_run_feed) -------------------------------- */

static void held_remove(hf_http_request **held, size_t *n, hf_http_request *r)
{
    for (size_t i = 0; i < *n; i++)
        if (held[i] == r) {
            held[i] = held[--*n];
            return;
        }
}

static void feed_reset(hf_http_request *r)
{
    hf_error_clear(&r->err);
    r->attempts = r->redirects = 0;
    r->not_before = 0;
}

void hf_http_run_feed(hf_http *h, hf_http_feed *f)
{
    /* held: requests started or waiting for a retry (or for the 429 pause) */
    size_t cap = (size_t)h->max_parallel + 16, n_held = 0;
    hf_http_request **held = malloc(cap * sizeof *held);
    int active = 0;
    if (!held)
        f->cancel = true;
    while (!f->cancel) {
        double now = hf_http_now();
        if (h->deadline > 0 && now >= h->deadline) {
            while (n_held > 0 && !f->cancel) {
                hf_http_request *r = held[--n_held];
                end_attempt(h, r);
                hf_error_set(&r->err, HF_ERR_TIMEOUT, "%s: no answer before the deadline", r->url);
                f->done(f->user, r);
            }
            hf_http_request *r;
            while (!f->cancel && (r = f->next(f->user)) != NULL) {
                feed_reset(r);
                hf_error_set(&r->err, HF_ERR_TIMEOUT, "%s: no answer before the deadline", r->url);
                f->done(f->user, r);
            }
            break;
        }
        double wake = now + 1.0;
        /* waiting requests whose time has come first, then new ones */
        for (size_t i = 0; i < n_held && active < h->max_parallel; i++) {
            hf_http_request *r = held[i];
            if (r->easy)
                continue;
            double start_at = r->not_before > h->pause_until ? r->not_before : h->pause_until;
            if (start_at > now) {
                if (start_at < wake)
                    wake = start_at;
                continue;
            }
            if (start_attempt(h, r, now)) {
                active++;
            } else {
                held_remove(held, &n_held, r);
                i--;
                f->done(f->user, r);
            }
        }
        while (!f->cancel && active < h->max_parallel && (h->pause_until <= now || n_held == 0)) {
            if (n_held == cap) {
                hf_http_request **nh = realloc(held, 2 * cap * sizeof *held);
                if (!nh)
                    break;
                held = nh;
                cap *= 2;
            }
            hf_http_request *r = f->next(f->user);
            if (!r)
                break;
            feed_reset(r);
            held[n_held++] = r;
            if (h->pause_until > now) {
                if (h->pause_until < wake)
                    wake = h->pause_until;
            } else if (start_attempt(h, r, now)) {
                active++;
            } else {
                n_held--;
                f->done(f->user, r);
            }
        }
        if (n_held == 0 || f->cancel)
            break;
        int running = 0;
        curl_multi_perform(h->multi, &running);
        CURLMsg *msg;
        int left;
        bool finished_any = false;
        while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            hf_http_request *r = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            CURLcode cc = msg->data.result;
            active--;
            finished_any = true;
            if (finish_attempt(h, r, cc, hf_http_now())) {
                held_remove(held, &n_held, r);
                f->done(f->user, r);
            }
        }
        now = hf_http_now();
        long timeout_ms = (long)((wake - now) * 1000);
        if (timeout_ms < 0 || finished_any)
            timeout_ms = 0; /* a slot was freed: start the next request now */
        if (timeout_ms > 1000)
            timeout_ms = 1000;
        if (active > 0 || timeout_ms > 0)
            curl_multi_poll(h->multi, NULL, 0, (int)timeout_ms, NULL);
    }
    for (size_t i = 0; i < n_held; i++) {
        end_attempt(h, held[i]);
        hf_error_set(&held[i]->err, HF_ERR_NETWORK, "%s: abandoned", held[i]->url);
    }
    free(held);
}

/* hf_http_run: a fed run over a fixed array, handed over in order. */
typedef struct {
    hf_http_request **reqs;
    size_t n, next;
} array_feed;

static hf_http_request *array_next(void *user)
{
    array_feed *a = user;
    if (a->next >= a->n)
        return NULL;
    a->reqs[a->next]->index = a->next;
    return a->reqs[a->next++];
}

static void array_done(void *user, hf_http_request *r)
{
    (void)user;
    (void)r; /* the outcome stays in the request */
}

void hf_http_run(hf_http *h, hf_http_request **reqs, size_t n)
{
    array_feed a = {.reqs = reqs, .n = n};
    hf_http_feed feed = {.next = array_next, .done = array_done, .user = &a};
    hf_http_run_feed(h, &feed);
    if (feed.cancel) /* out of memory before the run could start */
        for (size_t i = a.next; i < n; i++)
            hf_error_set(&reqs[i]->err, HF_ERR_NOMEM, "out of memory");
}
