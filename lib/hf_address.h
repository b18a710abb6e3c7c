/* The hf:// address of an import:
 *   hf://[datasets/]<org>/<name>[@<revision>][?format=qcow2|dir][&include=<glob>,...][&exclude=<glob>,...]
 * Parsed strictly: ids follow the Hub's rules, revisions are branch, tag or
 * commit names, globs are printable, and anything else is refused with the
 * grammar in the message. */
#ifndef HF_ADDRESS_H
#define HF_ADDRESS_H

#include <stdbool.h>

#include "hf_error.h"
#include "hf_strlist.h"

#define HF_ADDRESS_GRAMMAR                                                                    \
    "hf://[datasets/]<org>/<name>[@<revision>][?format=qcow2|dir][&include=<glob>,...]"       \
    "[&exclude=<glob>,...]"

typedef enum { HF_REPO_MODEL, HF_REPO_DATASET } hf_repo_type;
typedef enum { HF_FORMAT_DEFAULT, HF_FORMAT_QCOW2, HF_FORMAT_DIR } hf_format;

typedef struct {
    hf_repo_type type;
    char *repo_id;
    char *revision;     /* NULL: the default branch */
    hf_format format;
    hf_strlist include;
    hf_strlist exclude;
} hf_address;

hf_code hf_address_parse(const char *s, hf_address *a, hf_error *err);
void hf_address_clear(hf_address *a);

/* "models" or "datasets", as in /api/<kind>/... */
const char *hf_repo_type_api(hf_repo_type t);
/* "" or "datasets/", as in /<prefix><id>/resolve/... */
const char *hf_repo_type_prefix(hf_repo_type t);

bool hf_revision_is_valid(const char *rev);

#endif
