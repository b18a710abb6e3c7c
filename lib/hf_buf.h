/* A growable byte buffer with a hard size cap: network answers are collected
 * here, and the cap is what stops a hostile server from exhausting memory. */
#ifndef HF_BUF_H
#define HF_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *data;      /* always NUL-terminated when not NULL */
    size_t len;
    size_t cap;      /* allocated bytes */
    size_t limit;    /* maximum len; 0 = no limit */
    bool overflow;   /* an append was refused because of limit */
} hf_buf;

void hf_buf_init(hf_buf *b, size_t limit);
void hf_buf_free(hf_buf *b);
void hf_buf_reset(hf_buf *b);
/* Returns false (and sets overflow) past the limit, or when out of memory. */
bool hf_buf_append(hf_buf *b, const void *data, size_t len);
bool hf_buf_puts(hf_buf *b, const char *s);
bool hf_buf_printf(hf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the data to the caller (free() it) and leaves b empty. */
char *hf_buf_steal(hf_buf *b);

/* Makes room for one more element in a growable array (v, *cap elements of
 * elem bytes, n in use): doubles it (from first) when full. Returns the
 * array (moved, perhaps), or NULL when out of memory, v then unchanged. */
void *hf_array_reserve(void *v, size_t *cap, size_t n, size_t elem, size_t first);

#endif
