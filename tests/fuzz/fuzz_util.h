/* Shared by the fuzz targets: the input as a NUL-terminated string, which is
 * what the parsers under test take; a file tree read from text, for the
 * sizing and layout targets. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

/* A file tree as text, one file a line: "SIZE PATH" or "SIZE*N PATH".
 * SIZE is read by strtoull (decimal, 0x hex; past 2^64 it stays 2^64-1).
 * With *N the line stands for N files, the first '%' of PATH replaced by
 * 0..N-1 (hostile trees from a few bytes). At most max_files in all; paths
 * longer than 1024 bytes are cut. The strings live in *store. */
typedef struct {
    const char *path;
    uint64_t size;
} fuzz_file;

static inline size_t fuzz_tree(const char *text, size_t max_files, fuzz_file **files, char **store)
{
    *files = NULL;
    *store = NULL;
    size_t n = 0, cap = 0, used = 0, scap = 0;
    size_t *at = NULL; /* offsets into *store: pointers only once it stops moving */
    const char *line = text;
    while (*line && n < max_files) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[1100];
        size_t bl = len < sizeof buf - 1 ? len : sizeof buf - 1;
        memcpy(buf, line, bl);
        buf[bl] = '\0';
        line += len + (end != NULL);
        char *p;
        unsigned long long size = strtoull(buf, &p, 0);
        if (p == buf)
            continue;
        unsigned long long rep = 1;
        if (*p == '*')
            rep = strtoull(p + 1, &p, 10);
        if (*p != ' ')
            continue;
        const char *path = p + 1;
        const char *pct = strchr(path, '%');
        for (unsigned long long r = 0; r < rep && n < max_files; r++) {
            char name[1200];
            if (pct)
                snprintf(name, sizeof name, "%.*s%llu%s", (int)(pct - path), path, r, pct + 1);
            else
                snprintf(name, sizeof name, "%s", path);
            name[1024] = '\0';
            size_t nl = strlen(name) + 1;
            if (used + nl > scap) {
                size_t ncap = (scap + nl) * 2;
                char *ns = realloc(*store, ncap);
                if (!ns)
                    goto out;
                *store = ns;
                scap = ncap;
            }
            memcpy(*store + used, name, nl);
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                size_t *na = realloc(at, ncap * sizeof *na);
                fuzz_file *nf = realloc(*files, ncap * sizeof *nf);
                if (na)
                    at = na;
                if (nf)
                    *files = nf;
                if (!na || !nf)
                    goto out;
                cap = ncap;
            }
            at[n] = used;
            (*files)[n].size = size;
            n++;
            used += nl;
        }
    }
out:
    for (size_t i = 0; i < n; i++)
        (*files)[i].path = *store + at[i];
    free(at);
    return n;
}

#endif
