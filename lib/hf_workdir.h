/* Work directories: where an import keeps its unfinished work, and which of
 * them may be trusted. This is security policy, in one place:
 *
 *  - DEST "-" (OpenNebula's ceph/cp, lvm/cp, fs/cp with BRIDGE_LIST) builds
 *    its result in a private directory <base>/hfhub-<uid>, where base is
 *    HFHUB_WORK_DIR, else TMPDIR, else /var/tmp. Other local users can write
 *    into /var/tmp, so that directory is created mode 0700 and, when found,
 *    used only if it is a real directory (not a symlink), owned by the
 *    running user, with no access for group or others.
 *  - Imports run by a datastore driver keep their work in the datastore's
 *    <directory of DEST>/.hfhub-work, checked by the same rule, so that a new
 *    try (OpenNebula picks a new image path each time) continues it.
 *  - Inside a work directory, an import's files are named after what is
 *    imported (<16 hex of sha256(endpoint, address, format)>); what is found
 *    there is reused only through the resume journal, whose key pins the
 *    endpoint, repository, commit and every file's size and hash, and every
 *    reused byte is verified again against the Hub's hashes.
 * Paths are checked with lstat/open(O_NOFOLLOW), never followed. */
#ifndef HF_WORKDIR_H
#define HF_WORKDIR_H

#include <stdbool.h>
#include <sys/types.h>

#include "hf_address.h"
#include "hf_error.h"

/* Checks that path is a directory we may keep work in: not a symlink, owned
 * by uid, no permission bits for group or others. With create, a missing
 * directory is made (mode 0700) first. The message says what is wrong and
 * how to fix it. */
hf_code hf_workdir_check(const char *path, uid_t uid, bool create, hf_error *err);

/* The base for DEST "-" work from the environment values given (either may
 * be NULL or empty): work_dir_env, else tmpdir_env, else /var/tmp. */
const char *hf_workdir_base(const char *work_dir_env, const char *tmpdir_env);

/* <base>/hfhub-<uid>, checked (and created) as above. *dir_out is malloc'd. */
hf_code hf_workdir_private(const char *base, uid_t uid, char **dir_out, hf_error *err);

/* <directory of dest>/.hfhub-work, checked (and created) as above. */
hf_code hf_workdir_beside(const char *dest, uid_t uid, char **dir_out, hf_error *err);

/* Where an import run by a datastore driver keeps its work: beside dest
 * (hf_workdir_beside), unless the directory of dest is writable by others
 * (lvm/cp writes to /var/tmp/one_img...), where another user could claim
 * the .hfhub-work name first: then the private directory under base. */
hf_code hf_workdir_for_dest(const char *dest, const char *base, uid_t uid, char **dir_out,
                            hf_error *err);

/* <dir>/<16 hex of sha256(endpoint, source, format)>: the prefix of one
 * import's work files in dir. malloc'd; NULL when out of memory. */
char *hf_workdir_prefix(const char *dir, const char *endpoint, const char *source,
                        hf_format format);

/* Removes path and everything below it without following symbolic links
 * (a link is removed, never its target). A missing path is not an error. */
hf_code hf_remove_tree(const char *path, hf_error *err);

#endif
