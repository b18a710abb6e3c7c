/* Client set-up from the environment (see hf_client.h). */
#include "hf_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_strlist.h"
#include "hf_token.h"

static hf_code env_long(const char *name, long min, long max, long dflt, long *out,
                        hf_error *err)
{
    const char *v = getenv(name);
    *out = dflt;
    if (!v || !*v)
        return HF_OK;
    if (!hf_parse_long(v, min, max, out))
        return hf_error_set(err, HF_ERR_USAGE, "%s must be a whole number from %ld to %ld", name,
                            min, max);
    return HF_OK;
}

hf_code hf_client_open(hf_client *c, double default_timeout_s, hf_error *err)
{
    memset(c, 0, sizeof *c);
    long parallel, retries, base_ms, timeout_s;
    hf_code rc;
    if ((rc = env_long("HFHUB_TIMEOUT", 1, 86400, (long)default_timeout_s, &timeout_s, err)) ||
        (rc = env_long("HFHUB_CONCURRENCY", 1, 64, 16, &parallel, err)) ||
        (rc = env_long("HFHUB_MAX_RETRIES", 0, 20, 5, &retries, err)) ||
        (rc = env_long("HFHUB_RETRY_BASE_MS", 1, 60000, 1000, &base_ms, err)))
        return rc;
    char *endpoint = NULL, *token = NULL;
    if ((rc = hf_hub_endpoint_from_env(&endpoint, err)))
        return rc;
    if ((rc = hf_token_find(&token, err))) {
        free(endpoint);
        return rc;
    }
    char *ua = c->user_agent;
    snprintf(c->user_agent, sizeof c->user_agent, "hfhub/%s; %s", HFHUB_VERSION, curl_version());
    hf_http_options opt = {
        .endpoint = endpoint,
        .token = token,
        .user_agent = ua,
        .deadline = hf_http_now() + (double)timeout_s,
        .max_parallel = (int)parallel,
        .max_retries = (int)retries,
        .retry_base_ms = base_ms,
    };
    rc = hf_http_new(&opt, &c->http, err);
    bool has_token = token != NULL;
    c->token = token;
    c->retry_base_ms = base_ms;
    if (!rc)
        rc = hf_hub_init(&c->hub, endpoint, has_token, c->http, err);
    if (!rc)
        rc = hf_cache_open(&c->cache, NULL, endpoint, err);
    free(endpoint);
    if (rc)
        hf_client_close(c);
    return rc;
}

void hf_client_close(hf_client *c)
{
    hf_cache_close(&c->cache);
    hf_hub_clear(&c->hub);
    hf_token_free(c->token);
    hf_http_free(c->http);
    memset(c, 0, sizeof *c);
}
