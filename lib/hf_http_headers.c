/* HTTP header value parsers (see hf_http_headers.h). */
#include "hf_http_headers.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *hf_header_trim(const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, v, n);
        s[n] = '\0';
    }
    return s;
}

char *hf_header_link_next(const char *v)
{
    const char *p = v;
    while ((p = strchr(p, '<')) != NULL) {
        const char *end = strchr(p, '>');
        if (!end)
            return NULL;
        const char *params = end + 1;
        const char *next_link = strchr(params, '<');
        size_t plen = next_link ? (size_t)(next_link - params) : strlen(params);
        char *chunk = hf_header_trim(params, plen);
        bool is_next = chunk && (strstr(chunk, "rel=\"next\"") || strstr(chunk, "rel=next"));
        free(chunk);
        if (is_next)
            return hf_header_trim(p + 1, (size_t)(end - p - 1));
        p = end + 1;
    }
    return NULL;
}

/* A number after "<key>=" in one of the ';'-separated parameters. */
static bool param(const char *v, char key, double *out)
{
    for (const char *p = v; (p = strchr(p, ';')) != NULL; p++) {
        const char *q = p + 1;
        while (*q == ' ')
            q++;
        if (q[0] != key || q[1] != '=')
            continue;
        char *end;
        errno = 0;
        double d = strtod(q + 2, &end);
        if (end == q + 2 || errno || d < 0)
            return false;
        *out = d;
        return true;
    }
    return false;
}

bool hf_header_ratelimit(const char *value, long *remaining, double *reset)
{
    double r, t;
    bool have_r = param(value, 'r', &r), have_t = param(value, 't', &t);
    if (have_r)
        *remaining = r > 1e12 ? 1000000000000L : (long)r;
    if (have_t)
        *reset = t;
    return have_r || have_t;
}

bool hf_header_seconds(const char *value, double *seconds)
{
    char *end;
    errno = 0;
    double s = strtod(value, &end);
    while (*end == ' ')
        end++;
    if (end == value || *end || errno || s < 0 || !isdigit((unsigned char)value[0]))
        return false;
    *seconds = s;
    return true;
}

static bool number(const char **p, uint64_t *out)
{
    if (!isdigit((unsigned char)**p))
        return false;
    uint64_t v = 0;
    while (isdigit((unsigned char)**p)) {
        unsigned d = (unsigned)(**p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        (*p)++;
    }
    *out = v;
    return true;
}

bool hf_header_content_range(const char *value, uint64_t *start, uint64_t *end,
                             uint64_t *total)
{
    const char *p = value;
    if (strncmp(p, "bytes ", 6))
        return false;
    p += 6;
    uint64_t a, b, t;
    if (!number(&p, &a) || *p++ != '-' || !number(&p, &b) || *p++ != '/' || !number(&p, &t) ||
        *p || a > b || b >= t)
        return false;
    *start = a;
    *end = b;
    *total = t;
    return true;
}
