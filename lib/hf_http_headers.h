/* Parsers of HTTP response header values: Link (pagination), RateLimit and
 * Retry-After (pacing), Content-Range (range downloads). These values come
 * from the network, so each parser is strict, bounded and fuzzed. */
#ifndef HF_HTTP_HEADERS_H
#define HF_HTTP_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copy of v[0..n) without surrounding blanks and line ends. Caller frees. */
char *hf_header_trim(const char *v, size_t n);

/* The URL of the rel="next" entry of a Link value, or NULL. Caller frees. */
char *hf_header_link_next(const char *value);

/* RateLimit: "api";r=<remaining>;t=<seconds to reset>. Sets what it finds
 * (fields it does not find are left alone); false when neither is there. */
bool hf_header_ratelimit(const char *value, long *remaining, double *reset);

/* Retry-After as delay-seconds (HTTP dates are not used by the Hub). */
bool hf_header_seconds(const char *value, double *seconds);

/* Content-Range: bytes <start>-<end>/<total>, with start <= end < total. */
bool hf_header_content_range(const char *value, uint64_t *start, uint64_t *end,
                             uint64_t *total);

#endif
