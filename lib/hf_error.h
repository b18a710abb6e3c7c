/* Error reporting for the hfhub library: every call that can fail returns an
 * hf_code and fills an hf_error with a sentence an operator can act on.
 * The library never prints and never exits; programs decide what to show.
 * Messages are terminal-safe: hf_error_set and hf_error_prefix escape every
 * control character and invalid UTF-8 byte (hf_text.h), since they quote the
 * server's words and names. */
#ifndef HF_ERROR_H
#define HF_ERROR_H

#include <stddef.h>

typedef enum {
    HF_OK = 0,
    HF_ERR_USAGE,        /* bad option or argument given by the caller */
    HF_ERR_INVALID,      /* invalid input data (id, driver message, ...) */
    HF_ERR_NETWORK,      /* could not reach the server */
    HF_ERR_AUTH,         /* 401/403: token missing, wrong or not approved */
    HF_ERR_NOT_FOUND,    /* 404: model, revision, collection or file */
    HF_ERR_RATE_LIMIT,   /* 429 that outlasted our retries or deadline */
    HF_ERR_SERVER,       /* 5xx that outlasted our retries */
    HF_ERR_HTTP,         /* any other unexpected HTTP status */
    HF_ERR_PROTOCOL,     /* malformed or oversized answer */
    HF_ERR_TIMEOUT,      /* the overall deadline passed */
    HF_ERR_IO,           /* local file system */
    HF_ERR_NOMEM
} hf_code;

typedef struct {
    hf_code code;
    char msg[1024];
} hf_error;

/* Sets err (if not NULL) and returns code, so callers can `return hf_error_set(...)`. */
hf_code hf_error_set(hf_error *err, hf_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with context ("org acme: " + msg). */
hf_code hf_error_prefix(hf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void hf_error_clear(hf_error *err);

/* Short stable name of a code, for logs and JSON ("network", "auth", ...). */
const char *hf_code_name(hf_code code);

/* Process exit status for a code: 2 for usage/invalid input, 1 otherwise. */
int hf_code_exit_status(hf_code code);

#endif
