/* Terminal-safe text (see hf_text.h). */
#include "hf_text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one;
 * overlong forms and surrogates are not valid. */
static size_t utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if ((p[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = p[0] & 0x1F;
    } else if ((p[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = p[0] & 0x0F;
    } else if ((p[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0; /* also stops at the terminator */
        cp = cp << 6 | (p[i] & 0x3F);
    }
    static const unsigned least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

size_t hf_text_escape(const char *in, char *out, size_t outsz)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (!outsz)
        return 0;
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    while (*p) {
        size_t n = utf8_len(p);
        /* C0, DEL, and C1 (U+0080-U+009F, encoded C2 80 - C2 9F) */
        bool control = n == 1 ? (*p < 0x20 || *p == 0x7f) : n == 2 && p[0] == 0xC2 && p[1] < 0xA0;
        if (n && !control) {
            if (o + n >= outsz)
                break;
            memcpy(out + o, p, n);
            o += n;
            p += n;
            continue;
        }
        size_t bytes = n ? n : 1;
        if (o + 4 * bytes >= outsz)
            break;
        for (size_t i = 0; i < bytes; i++) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[p[i] >> 4];
            out[o++] = hex[p[i] & 15];
        }
        p += bytes;
    }
    out[o] = '\0';
    return o;
}

void hf_text_escape_inplace(char *s, size_t size)
{
    if (!size)
        return;
    char *copy = strndup(s, size - 1);
    if (!copy) {
        /* out of memory: keep printable ASCII only, which needs no room */
        for (char *c = s; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                *c = '?';
        return;
    }
    hf_text_escape(copy, s, size);
    free(copy);
}
