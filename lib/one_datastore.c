/* The form an import takes in an OpenNebula datastore, and which directory
 * images are hfhub's to remove (see one_datastore.h). */
#include "one_datastore.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hf_sizing.h" /* HF_MANIFEST_PATH */

one_ds_kind one_datastore_kind(const one_datastore_info *ds)
{
    return ds->ds_mad && !strcmp(ds->ds_mad, "virtiofs") ? ONE_DS_DIRECTORY : ONE_DS_DISK_IMAGE;
}

static const char *or_unknown(const char *s)
{
    return s && *s ? s : "?";
}

hf_code one_datastore_form(const one_datastore_info *ds, hf_format requested, hf_format *form,
                           hf_error *err)
{
    one_ds_kind kind = one_datastore_kind(ds);
    if (kind == ONE_DS_DIRECTORY) {
        if (requested == HF_FORMAT_QCOW2)
            return hf_error_set(err, HF_ERR_USAGE,
                                "datastore %s (DS_MAD virtiofs) is a directory datastore: it holds "
                                "models as directories, not qcow2 images; drop ?format=qcow2, or "
                                "import into a disk-image datastore (fs, ceph, lvm)",
                                or_unknown(ds->name));
        *form = HF_FORMAT_DIR;
        return HF_OK;
    }
    if (requested == HF_FORMAT_DIR)
        return hf_error_set(err, HF_ERR_USAGE,
                            "datastore %s (DS_MAD %s, TM_MAD %s) holds disk images, so the model "
                            "cannot be imported as a directory; drop ?format=dir to get a qcow2 "
                            "image, or import into a directory datastore (DS_MAD virtiofs)",
                            or_unknown(ds->name), or_unknown(ds->ds_mad), or_unknown(ds->tm_mad));
    *form = HF_FORMAT_QCOW2;
    return HF_OK;
}

/* One path component: not empty, not "." or "..", no slash. */
static bool plain_component(const char *s, size_t n)
{
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    return memchr(s, '/', n) == NULL;
}

hf_code one_datastore_owned_dir(const one_datastore_info *ds, hf_error *err)
{
    const char *src = ds->image_source, *base = ds->base_path;
    if (!ds->image_path || strncmp(ds->image_path, "hf://", 5))
        return hf_error_set(err, HF_ERR_INVALID, "the image was not imported from hf://");
    if (!src || !*src || !base || !*base || base[0] != '/')
        return hf_error_set(err, HF_ERR_INVALID,
                            "the message lacks the image SOURCE or the datastore BASE_PATH");
    size_t blen = strlen(base);
    while (blen > 1 && base[blen - 1] == '/')
        blen--;
    if (strncmp(src, base, blen) || src[blen] != '/' ||
        !plain_component(src + blen + 1, strlen(src + blen + 1)))
        return hf_error_set(err, HF_ERR_INVALID,
                            "the image's SOURCE %s is not a directory directly under the "
                            "datastore's BASE_PATH; not removing it",
                            src);
    int dfd = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return hf_error_set(err, errno == ENOENT ? HF_ERR_NOT_FOUND : HF_ERR_INVALID,
                            "%s is not a directory one can open without following a link: %s",
                            src, strerror(errno));
    struct stat st;
    int rc = fstatat(dfd, HF_MANIFEST_PATH, &st, AT_SYMLINK_NOFOLLOW);
    close(dfd);
    if (rc || !S_ISREG(st.st_mode))
        return hf_error_set(err, HF_ERR_INVALID,
                            "%s holds no hfhub manifest (%s); it is not hfhub's to remove", src,
                            HF_MANIFEST_PATH);
    return HF_OK;
}
