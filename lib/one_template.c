/* OpenNebula template value escaping (see one_template.h). */
#include "one_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    unsigned min;
    unsigned cp;
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1F;
        min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0F;
        min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

char *one_template_escape(const char *value, size_t max_bytes)
{
    if (!value)
        value = "";
    hf_buf clean;
    hf_buf_init(&clean, 0);
    /* 1. valid UTF-8, no control characters, bounded length */
    const unsigned char *s = (const unsigned char *)value;
    size_t taken = 0;
    bool cut = false;
    while (*s) {
        size_t n = utf8_len(s);
        if (max_bytes && taken + (n ? n : 1) > max_bytes) {
            cut = true;
            break;
        }
        if (n == 0) {
            hf_buf_append(&clean, "?", 1);
            s++;
            taken++;
            continue;
        }
        if (n == 1 && (*s < 0x20 || *s == 0x7f))
            hf_buf_append(&clean, " ", 1);
        else
            hf_buf_append(&clean, s, n);
        s += n;
        taken += n;
    }
    if (cut)
        hf_buf_puts(&clean, "...");
    if (clean.overflow) {
        hf_buf_free(&clean);
        return NULL;
    }
    char *t = clean.data ? clean.data : "";
    /* 2. no trailing backslash */
    size_t len = clean.len;
    while (len > 0 && t[len - 1] == '\\')
        len--;
    /* 3. quotes escaped, "]]>" broken up */
    hf_buf out;
    hf_buf_init(&out, 0);
    for (size_t i = 0; i < len; i++) {
        if (t[i] == '"') {
            hf_buf_append(&out, "\\\"", 2);
        } else if (t[i] == ']' && i + 2 < len && t[i + 1] == ']' && t[i + 2] == '>') {
            hf_buf_append(&out, "]] >", 4);
            i += 2;
        } else {
            hf_buf_append(&out, &t[i], 1);
        }
    }
    hf_buf_free(&clean);
    if (out.overflow) {
        hf_buf_free(&out);
        return NULL;
    }
    return hf_buf_steal(&out);
}

bool one_template_add(hf_buf *b, const char *key, const char *value, size_t max_bytes)
{
    char *v = one_template_escape(value, max_bytes);
    if (!v)
        return false;
    bool ok = hf_buf_printf(b, "%s=\"%s\"\n", key, v);
    free(v);
    return ok;
}

bool one_template_add_int(hf_buf *b, const char *key, long long value)
{
    return hf_buf_printf(b, "%s=\"%lld\"\n", key, value);
}

bool one_name_is_valid(const char *name)
{
    if (!name || !*name || strlen(name) > 128)
        return false;
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) /* oned: \t\n\v\f\r; we: any */
            return false;
    return strpbrk(name, "&|:\\\";/'#{}$<>") == NULL;
}
