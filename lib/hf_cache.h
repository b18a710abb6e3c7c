/* On-disk cache of what per-model requests taught the catalog (file sizes,
 * image size, chat template, card metadata), one JSON file per model, keyed
 * by Hub endpoint and model id and valid for one commit. A run over
 * unchanged models therefore makes only the listing requests. Entries are
 * written atomically (temporary file + rename) and re-checked when read: a
 * damaged entry is a miss, never an error. */
#ifndef HF_CACHE_H
#define HF_CACHE_H

#include <stdbool.h>

#include "hf_error.h"
#include "hf_model.h"

typedef struct {
    char *dir;   /* NULL: caching disabled */
    char *endpoint;
    char warning[700]; /* not empty: why the cache directory is not used */
} hf_cache;

/* dir NULL: $HFHUB_CACHE_DIR, else $XDG_CACHE_HOME/hfhub, else ~/.cache/hfhub;
 * HFHUB_NO_CACHE=1 disables. The directory is created (0700) on first put.
 * A cache directory (or its models/) that is a symlink, belongs to another
 * user or can be written by others is not trusted: the cache is disabled
 * and warning says why (the catalog works without it, only slower). Each
 * entry is read only if it is a regular file of ours, not through a link,
 * and is validated like an answer from the Hub. */
hf_code hf_cache_open(hf_cache *c, const char *dir, const char *endpoint, hf_error *err);
void hf_cache_close(hf_cache *c);

/* Looks the model up. Matches when the entry's commit equals sha (sha not
 * NULL), or, when sha is NULL, when its lastModified equals last_modified
 * (collections give no commit; a new commit changes lastModified).
 * On a hit, fills out (initialised by the caller) and returns true. */
bool hf_cache_get(const hf_cache *c, const char *model_id, const char *sha,
                  const char *last_modified, hf_model *out);

/* Stores m (needs id and sha). Failures are returned but harmless. */
hf_code hf_cache_put(const hf_cache *c, const hf_model *m, hf_error *err);

#endif
