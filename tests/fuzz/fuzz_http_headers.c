/* libFuzzer target: HTTP response header values from the network (Link,
 * RateLimit, Retry-After, Content-Range). A Content-Range that parses must
 * be consistent (start <= end < total). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hf_http_headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = hf_header_trim((const char *)data, size);
    if (!s)
        return 0;
    {
        free(hf_header_link_next(s));
        long r = -1;
        double t = -1, secs = -1;
        hf_header_ratelimit(s, &r, &t);
        hf_header_seconds(s, &secs);
        uint64_t a, b, total;
        if (hf_header_content_range(s, &a, &b, &total) && !(a <= b && b < total))
            abort();
    }
    free(s);
    return 0;
}
