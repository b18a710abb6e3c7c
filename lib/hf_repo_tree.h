/* A repository's file list at one commit, as an import needs it: the
 * revision resolved to a commit once (/api/<kind>/<id>/revision/<rev>), then
 * the recursive tree at that commit, every page of it. Each entry is
 * checked: a safe relative path, a size, the git blob id, and for LFS files
 * the sha256 the bytes must hash to. */
#ifndef HF_REPO_TREE_H
#define HF_REPO_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hf_address.h"
#include "hf_error.h"
#include "hf_hub.h"

typedef struct {
    char *path;
    uint64_t size;
    char oid[41];       /* git blob sha1 (of the LFS pointer for LFS files) */
    char sha256[65];    /* LFS files: the content's sha256; "" otherwise */
    bool lfs;
} hf_repo_file;

typedef struct {
    char commit[41];
    char *last_modified;   /* of the commit's model info, may be NULL */
    hf_repo_file *files;
    size_t n;
} hf_repo_tree;

/* Resolves revision (NULL: default branch) of the repository to a commit. */
hf_code hf_repo_resolve_commit(hf_hub *hub, hf_repo_type type, const char *repo_id,
                               const char *revision, char commit[41], char **last_modified,
                               hf_error *err);

/* Lists every file of the repository at commit. */
hf_code hf_repo_tree_list(hf_hub *hub, hf_repo_type type, const char *repo_id,
                          const char *commit, hf_repo_tree *out, hf_error *err);

void hf_repo_tree_free(hf_repo_tree *t);

#endif
