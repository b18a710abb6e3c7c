/* HTTP transport for everything hfhub fetches, on libcurl's multi interface.
 * It runs a batch of requests with bounded concurrency over reused
 * connections (HTTP/2 where offered), retries 408/429/5xx and dropped
 * connections with backoff that honours RateLimit and Retry-After, keeps every
 * request inside one overall deadline, and follows redirects itself so that
 * the Hub token is only ever sent to the Hub's own origin (never to a CDN). */
#ifndef HF_HTTP_H
#define HF_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "hf_buf.h"
#include "hf_error.h"

typedef struct hf_http hf_http;

typedef struct {
    const char *endpoint;     /* origin allowed to receive the token */
    const char *token;        /* NULL: anonymous */
    const char *user_agent;
    double deadline;          /* absolute, hf_http_now() clock; 0 = none */
    int max_parallel;         /* concurrent transfers (>= 1) */
    int max_retries;          /* retries after the first attempt */
    long retry_base_ms;       /* first backoff step; doubles up to 8x */
    long connect_timeout_ms;
    long stall_timeout_s;     /* no byte for this long = stalled connection */
} hf_http_options;

typedef struct {
    long status;              /* 0 when no response was received */
    hf_buf body;
    char *url;                /* URL of the last attempt */
    char *location;           /* Location of an unfollowed redirect */
    char *link_next;          /* Link: <...>; rel="next" */
    char *x_error_code;
    char *x_error_message;
    char *x_repo_commit;
    char *etag;
    char *x_linked_etag;
    char *content_type;
    long long x_linked_size;  /* -1 when absent */
    long long content_length; /* -1 when absent */
    double retry_after;       /* seconds; -1 when absent */
    long ratelimit_remaining; /* -1 when absent */
    double ratelimit_reset;   /* seconds until the window resets; -1 */
} hf_http_response;

typedef struct hf_http_request {
    /* Set by the caller (hf_http_request_init fills the defaults). */
    char *url;
    bool head;
    bool follow_redirects;
    size_t max_body;          /* refuse larger answers (HF_ERR_PROTOCOL) */
    void *user;
    /* Results. err.code != HF_OK: no usable response (network, deadline,
     * oversized body). Otherwise resp.status is the final status, which may
     * still be an error status that retries did not cure. */
    hf_http_response resp;
    hf_error err;
    int attempts;
    /* Internal. */
    int redirects;
    size_t index;             /* position in the batch being run */
    double not_before;
    void *easy;
    void *headers;
} hf_http_request;

double hf_http_now(void);

hf_code hf_http_new(const hf_http_options *opt, hf_http **out, hf_error *err);
void hf_http_free(hf_http *h);
/* Number of HTTP requests sent so far (attempts and redirects included). */
long hf_http_requests_sent(const hf_http *h);
/* Moves the overall deadline. */
void hf_http_set_deadline(hf_http *h, double deadline);

hf_code hf_http_request_init(hf_http_request *r, const char *url, size_t max_body);
void hf_http_request_cleanup(hf_http_request *r);

/* Runs all requests to completion (see hf_http_request for the outcome). */
void hf_http_run(hf_http *h, hf_http_request **reqs, size_t n);

/* Convenience for one request. */
void hf_http_run_one(hf_http *h, hf_http_request *r);

/* The absolute URL a redirect from base to location leads to (malloc'd),
 * if it is http or https; NULL otherwise, with err saying why and naming
 * any other scheme (file, ftp, gopher, ...), which is never followed. */
char *hf_http_redirect_url(const char *base, const char *location, hf_error *err);

/* A run whose requests are not known in advance: next() hands over the next
 * request to start (NULL: none ready now), done() receives each request once
 * it is final (the outcome as in hf_http_run) and may make more requests
 * ready. Concurrency, retries, the 429 pause and the deadline are those of
 * hf_http_run; past the deadline every request fails with HF_ERR_TIMEOUT,
 * including those next() still hands over. The run ends when next() has
 * nothing and nothing is in flight or waiting for a retry, or when a
 * callback sets cancel: requests still held are then abandoned (err set,
 * done() not called). Requests belong to the caller and must stay in place
 * until they are final or the run has returned. */
typedef struct {
    hf_http_request *(*next)(void *user);
    void (*done)(void *user, hf_http_request *r);
    void *user;
    bool cancel;
} hf_http_feed;

void hf_http_run_feed(hf_http *h, hf_http_feed *feed);

/* True when scheme, host and port of url equal those of origin_url. */
bool hf_http_same_origin(const char *url, const char *origin_url);

/* Percent-encodes s for use in a URL path segment or query value
 * (everything but unreserved characters). Caller frees. */
char *hf_http_escape(const char *s);

#endif
