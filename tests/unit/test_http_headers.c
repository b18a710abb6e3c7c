/* HTTP header value parsers. */
#include <stdlib.h>

#include "hf_http_headers.h"
#include "unit.h"

int main(void)
{
    char *next = hf_header_link_next("<https://h/api/models?cursor=a%3D>; rel=\"next\"");
    CHECK_STR(next, "https://h/api/models?cursor=a%3D", "Link rel=next");
    free(next);
    next = hf_header_link_next("<https://h/p1>; rel=\"prev\", <https://h/p3>; rel=\"next\"");
    CHECK_STR(next, "https://h/p3", "Link with several entries");
    free(next);
    CHECK(hf_header_link_next("<https://h/p1>; rel=\"prev\"") == NULL, "no next link");
    CHECK(hf_header_link_next("<unterminated; rel=\"next\"") == NULL, "broken Link refused");

    long r = -1;
    double t = -1;
    CHECK(hf_header_ratelimit("\"api\";r=0;t=42", &r, &t) && r == 0 && t == 42, "RateLimit r and t");
    r = -1;
    t = -1;
    CHECK(hf_header_ratelimit("\"resolvers\"; r=4992; t=9", &r, &t) && r == 4992 && t == 9,
          "RateLimit with spaces, bucket name not mistaken for a parameter");
    r = -1;
    CHECK(!hf_header_ratelimit("\"parts=1\"", &r, &t) && r == -1, "no parameters: nothing set");

    double s = -1;
    CHECK(hf_header_seconds("7", &s) && s == 7, "Retry-After seconds");
    CHECK(!hf_header_seconds("Wed, 21 Oct 2015 07:28:00 GMT", &s), "HTTP date not taken as seconds");
    CHECK(!hf_header_seconds("-3", &s), "negative refused");

    uint64_t a, b, tot;
    CHECK(hf_header_content_range("bytes 0-1023/4096", &a, &b, &tot) && a == 0 && b == 1023 &&
              tot == 4096,
          "Content-Range");
    CHECK(!hf_header_content_range("bytes 10-5/100", &a, &b, &tot), "reversed range refused");
    CHECK(!hf_header_content_range("bytes 0-100/100", &a, &b, &tot), "end past total refused");
    CHECK(!hf_header_content_range("bytes 0-1/*", &a, &b, &tot), "unknown total refused");
    CHECK(!hf_header_content_range("bytes 0-99999999999999999999999/1", &a, &b, &tot),
          "overflow refused");
    UNIT_DONE();
}
