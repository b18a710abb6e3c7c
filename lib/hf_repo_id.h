/* The Hub's naming rules: model and dataset ids ("org/name"), organisation
 * names and collection slugs. Everything that names a repository, whether it
 * comes from a user, from oned or from the network, passes through here
 * before it is put into a URL, a file name or a template. */
#ifndef HF_REPO_ID_H
#define HF_REPO_ID_H

#include <stdbool.h>

#include "hf_error.h"

#define HF_NAME_MAX 96

/* One part of an id: 1-96 of [A-Za-z0-9._-], starting and ending with a
 * letter, digit or '_', without "--" or "..". */
bool hf_repo_name_is_valid(const char *s);
/* "namespace/name", both parts valid, not ending in ".git". */
bool hf_repo_id_is_valid(const char *s);
/* Organisation or user name (same rule as a name part). */
bool hf_org_is_valid(const char *s);
/* "namespace/title-slug-<24 hex>" as the Hub's collection URLs show it. */
bool hf_collection_slug_is_valid(const char *s);

/* Same checks with an actionable message. */
hf_code hf_repo_id_check(const char *s, hf_error *err);
hf_code hf_org_check(const char *s, hf_error *err);
hf_code hf_collection_slug_check(const char *s, hf_error *err);

#endif
