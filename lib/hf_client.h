/* Everything a program needs to talk to the Hub, set up from the
 * environment in one place: the endpoint (HF_ENDPOINT), the token (HF_TOKEN,
 * HUGGING_FACE_HUB_TOKEN, token file), the HTTP transport with its limits
 * (HFHUB_CONCURRENCY, HFHUB_MAX_RETRIES, HFHUB_RETRY_BASE_MS, and the
 * HFHUB_TIMEOUT deadline),
 * the Hub client and the catalog cache. Proxies come from libcurl's own
 * environment variables (HTTPS_PROXY, https_proxy, NO_PROXY). */
#ifndef HF_CLIENT_H
#define HF_CLIENT_H

#include "hf_cache.h"
#include "hf_error.h"
#include "hf_http.h"
#include "hf_hub.h"

#define HFHUB_VERSION "0.1.0"

typedef struct {
    hf_http *http;
    hf_hub hub;
    hf_cache cache;
    char *token;        /* for the download engine; NULL when anonymous */
    long retry_base_ms; /* HFHUB_RETRY_BASE_MS, for the download engine too */
    char user_agent[128];
} hf_client;

/* The Hub requests' overall deadline is HFHUB_TIMEOUT seconds from now, or
 * default_timeout_s when it is not set. */
hf_code hf_client_open(hf_client *c, double default_timeout_s, hf_error *err);
void hf_client_close(hf_client *c);

#endif
