/* Error reporting helpers (see hf_error.h). */
#include "hf_error.h"
#include "hf_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

hf_code hf_error_set(hf_error *err, hf_code code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* messages quote the server's words and names: terminal-safe */
        hf_text_escape_inplace(err->msg, sizeof err->msg);
    }
    return code;
}

hf_code hf_error_prefix(hf_error *err, const char *fmt, ...)
{
    if (!err)
        return HF_OK;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(prefix);
    if (n >= sizeof err->msg)
        n = sizeof err->msg - 1;
    memcpy(err->msg, prefix, n);
    size_t rest = strnlen(old, sizeof old);
    if (rest > sizeof err->msg - 1 - n)
        rest = sizeof err->msg - 1 - n;
    memcpy(err->msg + n, old, rest);
    err->msg[n + rest] = '\0';
    hf_text_escape_inplace(err->msg, sizeof err->msg);
    return err->code;
}

void hf_error_clear(hf_error *err)
{
    if (err) {
        err->code = HF_OK;
        err->msg[0] = '\0';
    }
}

const char *hf_code_name(hf_code code)
{
    switch (code) {
    case HF_OK: return "ok";
    case HF_ERR_USAGE: return "usage";
    case HF_ERR_INVALID: return "invalid";
    case HF_ERR_NETWORK: return "network";
    case HF_ERR_AUTH: return "auth";
    case HF_ERR_NOT_FOUND: return "not-found";
    case HF_ERR_RATE_LIMIT: return "rate-limit";
    case HF_ERR_SERVER: return "server";
    case HF_ERR_HTTP: return "http";
    case HF_ERR_PROTOCOL: return "protocol";
    case HF_ERR_TIMEOUT: return "timeout";
    case HF_ERR_IO: return "io";
    case HF_ERR_NOMEM: return "nomem";
    }
    return "unknown";
}

int hf_code_exit_status(hf_code code)
{
    switch (code) {
    case HF_OK: return 0;
    case HF_ERR_USAGE:
    case HF_ERR_INVALID: return 2;
    default: return 1;
    }
}
