/* NULL-terminated string lists built from repeated options and
 * comma-separated values ("ONEnextgen, mycompany-ai"), blanks trimmed,
 * empty items dropped, duplicates kept out. */
#ifndef HF_STRLIST_H
#define HF_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char **items;   /* NULL-terminated (NULL when empty) */
    size_t n;
} hf_strlist;

/* Adds every comma-separated item of s. Returns false when out of memory. */
bool hf_strlist_add_csv(hf_strlist *l, const char *s);
void hf_strlist_free(hf_strlist *l);
/* items as a const array for the library's queries (never NULL). */
const char *const *hf_strlist_view(const hf_strlist *l);

/* Parses a whole decimal number in [min, max]. */
bool hf_parse_long(const char *s, long min, long max, long *out);

#endif
