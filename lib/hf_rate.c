/* Transfer rates in curl's --limit-rate syntax (see hf_rate.h). */
#include "hf_rate.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATE_SYNTAX                                                                          \
    "a rate is a whole number of bytes per second, optionally followed by k, m or g "       \
    "(powers of 1024), as curl's --limit-rate takes it: for example 500k or 10M"

hf_code hf_rate_parse(const char *text, uint64_t *bytes_per_s, hf_error *err)
{
    const char *p = text ? text : "";
    uint64_t v = 0;
    const uint64_t max = INT64_MAX; /* what curl's curl_off_t holds */
    bool too_big = false;
    size_t digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            too_big = true;
        else
            v = v * 10 + d;
    }
    unsigned shift = 0;
    switch (*p) {
    case '\0':
        break;
    case 'b': case 'B': shift = 0; p++; break;
    case 'k': case 'K': shift = 10; p++; break;
    case 'm': case 'M': shift = 20; p++; break;
    case 'g': case 'G': shift = 30; p++; break;
    case 't': case 'T': shift = 40; p++; break;
    case 'p': case 'P': shift = 50; p++; break;
    default:
        digits = 0; /* anything else after the number: not a rate */
    }
    if (!digits || *p)
        return hf_error_set(err, HF_ERR_USAGE, "'%.40s' is not a rate: " RATE_SYNTAX, text ? text : "");
    if (too_big || v > (max >> shift))
        return hf_error_set(err, HF_ERR_USAGE,
                            "the rate '%.40s' is too large (at most %lld bytes per second)", text,
                            (long long)INT64_MAX);
    if (v == 0)
        return hf_error_set(err, HF_ERR_USAGE,
                            "the rate '%.40s' is zero; give more than 0 bytes per second, or leave "
                            "the limit out",
                            text);
    *bytes_per_s = v << shift;
    return HF_OK;
}
