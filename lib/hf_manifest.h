/* The manifest every import writes next to the model (.hfhub/manifest.json):
 * what it is (address, repository, commit) and each file's size, sha256 and
 * git blob id, so that whoever mounts the disk can tell what it holds and
 * verify it. In a disk image it is padded with spaces to the size reserved
 * for it when the filesystem was laid out (still valid JSON). */
#ifndef HF_MANIFEST_H
#define HF_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "hf_address.h"
#include "hf_error.h"
#include "hf_fetch.h"

typedef struct {
    const char *address;
    hf_repo_type repo_type;
    const char *repo_id;
    const char *revision;   /* as asked, may be NULL */
    const char *commit;
    const char *format;     /* "qcow2" or "dir" */
} hf_manifest_info;

/* The manifest text; when pad_to is not 0 it is padded to exactly that many
 * bytes (HF_ERR_INVALID if it does not fit). Caller frees. */
hf_code hf_manifest_render(const hf_manifest_info *info, const hf_fetch_file *files, size_t n,
                           size_t pad_to, char **out, size_t *len, hf_error *err);

#endif
