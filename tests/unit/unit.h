/* A minimal test harness: CHECK prints "ok - ..." or "not ok - ..." (the
 * lines tests/run-tests.sh counts) and main returns non-zero on failure. */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failures;

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        int unit_ok_ = !!(cond);                                                             \
        printf("%s - ", unit_ok_ ? "ok" : "not ok");                                         \
        printf(__VA_ARGS__);                                                                 \
        printf("\n");                                                                        \
        if (!unit_ok_) {                                                                     \
            unit_failures++;                                                                 \
            printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);                 \
        }                                                                                    \
    } while (0)

#define CHECK_STR(got, want, ...)                                                            \
    do {                                                                                     \
        const char *g_ = (got), *w_ = (want);                                                \
        int same_ = (g_ && w_) ? !strcmp(g_, w_) : g_ == w_;                                 \
        CHECK(same_, __VA_ARGS__);                                                           \
        if (!same_)                                                                          \
            printf("#   got  [%s]\n#   want [%s]\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
    } while (0)

#define UNIT_DONE() return unit_failures ? 1 : 0

/* Whether two files hold the same bytes (both must open). */
static inline int unit_same_files(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    static char ba[1 << 16], bb[1 << 16];
    while (same) {
        size_t ra = fread(ba, 1, sizeof ba, fa), rb = fread(bb, 1, sizeof bb, fb);
        if (ra != rb || memcmp(ba, bb, ra))
            same = 0;
        if (ra < sizeof ba)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

#endif
