/* Transfer rates written the way curl's --limit-rate takes them, which is
 * what OpenNebula's datastore drivers pass on (LIMIT_TRANSFER_BW): a whole
 * number of bytes per second, optionally followed by one unit letter,
 * b/B (bytes), k/K, m/M, g/G, t/T or p/P (powers of 1024). "500k" is
 * 512000 bytes per second. Zero, signs, fractions, spaces and rates that do
 * not fit in 63 bits are refused. */
#ifndef HF_RATE_H
#define HF_RATE_H

#include <stdint.h>

#include "hf_error.h"

/* Parses text into bytes per second (> 0). On error: HF_ERR_USAGE and a
 * message that quotes the text (shortened) and shows the syntax. */
hf_code hf_rate_parse(const char *text, uint64_t *bytes_per_s, hf_error *err);

#endif
