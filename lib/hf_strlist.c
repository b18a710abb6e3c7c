/* String lists from comma-separated values (see hf_strlist.h). */
#include "hf_strlist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool add_one(hf_strlist *l, const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (n == 0)
        return true;
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->items[i]) == n && !strncmp(l->items[i], s, n))
            return true;
    char **v = realloc(l->items, (l->n + 2) * sizeof *v);
    if (!v)
        return false;
    l->items = v;
    if (!(v[l->n] = strndup(s, n)))
        return false;
    v[++l->n] = NULL;
    return true;
}

bool hf_strlist_add_csv(hf_strlist *l, const char *s)
{
    while (s && *s) {
        size_t n = strcspn(s, ",");
        if (!add_one(l, s, n))
            return false;
        s += n;
        if (*s == ',')
            s++;
    }
    return true;
}

void hf_strlist_free(hf_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

const char *const *hf_strlist_view(const hf_strlist *l)
{
    static const char *const empty[] = {NULL};
    return l->items ? (const char *const *)l->items : empty;
}

bool hf_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max)
        return false;
    *out = v;
    return true;
}
