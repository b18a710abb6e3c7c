/* What an OpenNebula datastore takes, as its real drivers decide it: the
 * directory datastore (DS_MAD "virtiofs": images of type FILESYSTEM, FORMAT
 * dir, registered in place by virtiofs/cp) takes the directory form; every
 * other datastore (fs, ceph, lvm, ... whose cp pipes downloader.sh into a
 * file, an rbd import or a logical volume) takes a disk image, qcow2. A form
 * the datastore cannot hold is refused before anything is downloaded.
 *
 * And which directories in a directory datastore are hfhub's to remove when
 * OpenNebula deletes the image (virtiofs/rm removes nothing by itself). */
#ifndef ONE_DATASTORE_H
#define ONE_DATASTORE_H

#include <stdbool.h>

#include "hf_address.h"
#include "hf_error.h"
#include "one_driver_msg.h"

typedef enum { ONE_DS_DISK_IMAGE, ONE_DS_DIRECTORY } one_ds_kind;

one_ds_kind one_datastore_kind(const one_datastore_info *ds);

/* The form an import into ds takes. requested is what the caller or the
 * address asked for (HF_FORMAT_DEFAULT: nothing). A request the datastore
 * cannot hold fails with a message naming the datastore and its kind. */
hf_code one_datastore_form(const one_datastore_info *ds, hf_format requested, hf_format *form,
                           hf_error *err);

/* For the rm action of a directory datastore: succeeds when the image
 * described by ds is an hf:// import (IMAGE/PATH hf://...) whose SOURCE is
 * a directory directly under the datastore's BASE_PATH (one plain path
 * component, no "..", no symlink) holding hfhub's manifest
 * (.hfhub/manifest.json). Anything else is not hfhub's to remove. */
hf_code one_datastore_owned_dir(const one_datastore_info *ds, hf_error *err);

#endif
