/* Lays out the ext4 filesystem of a disk image before any byte is downloaded.
 * hf_ext4_build creates the metadata of a filesystem in which every model file
 * already exists with its final size and allocated, initialised blocks, and
 * returns where each file's bytes live in the image. The downloader then writes
 * the data straight to those offsets and the image writer copies only the
 * metadata ranges from the (sparse) raw file: no root, no mount, no FUSE, and
 * the data is written once. */
#ifndef HF_EXT4_H
#define HF_EXT4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hf_error.h"
#include "hf_sizing.h" /* hf_sized_file { const char *path; uint64_t size; } */

typedef struct {
    uint64_t file_offset;   /* byte offset in the file, multiple of 4096 */
    uint64_t image_offset;  /* byte offset in the filesystem image, multiple of 4096 */
    uint64_t length;        /* bytes, multiple of 4096 (the last extent covers the file's tail block) */
} hf_extent;

typedef struct {
    hf_extent *extents;     /* sorted by file_offset, covering [0, round_up(size, 4096)) exactly */
    size_t n_extents;
} hf_ext4_file_map;

typedef struct {
    uint64_t fs_bytes;             /* size of the filesystem: hf_sizing_ext4(files, n) */
    hf_ext4_file_map *files;       /* one per input file, same order */
    size_t n_files;
} hf_ext4_layout;

/* How mke2fs is asked to leave the inode tables alone (hf_ext4_mke2fs_extended). */
typedef enum {
    HF_MKE2FS_AUTO = 0,     /* from the version `mke2fs -V` prints, once per process */
    HF_MKE2FS_PREZEROED,    /* e2fsprogs >= 1.47.0: -E assume_storage_prezeroed=1 */
    HF_MKE2FS_PORTABLE,     /* any e2fsprogs >= 1.44: -E lazy_itable_init=1 */
} hf_mke2fs_mode;

typedef struct {
    const char *label;     /* volume label, at most 16 bytes (NULL or "" = none) */
    int64_t mtime;         /* timestamps of every inode; also of the superblock (there 0 or less
                            * is stored as 1: libext2fs reads 0 as "now") */
    const uint8_t *uuid;   /* 16 bytes: the filesystem UUID (NULL: mke2fs picks a random one) */
    const uint8_t *hash_seed; /* 16 bytes: the directory hash seed (NULL: random) */
    hf_mke2fs_mode mke2fs; /* AUTO except in tests */
} hf_ext4_options;

/* The oldest mke2fs hf_ext4_build accepts, as major*10000 + minor*100 + patch: 1.44.0 is the
 * first with -E hash_seed and E2FSPROGS_FAKE_TIME (needed for reproducible images). */
#define HF_MKE2FS_MIN_VERSION 14400
/* The first mke2fs with -E assume_storage_prezeroed. */
#define HF_MKE2FS_PREZEROED_VERSION 14700

/* The version in `mke2fs -V` output ("mke2fs 1.47.0 (5-Feb-2023)" -> 14700, "1.42" -> 14200,
 * "1.47.1-rc1" -> 14701); 0 when the text is not recognised. */
unsigned hf_ext4_mke2fs_version(const char *text);

/* The policy: PREZEROED from 1.47.0 on, PORTABLE before and when the version is unknown (0). */
hf_mke2fs_mode hf_ext4_mke2fs_mode_for(unsigned version);

/* The -E options for a mode (never AUTO). Both leave the inode tables of the fresh sparse file
 * unwritten (lazy_itable_init) and never discard; hf_ext4_build then marks every group's inode
 * table zeroed (true of a fresh hole), so the kernel has no lazy-init work and the filesystem is
 * the same whichever mode made it. */
const char *hf_ext4_mke2fs_extended(hf_mke2fs_mode mode);

/* A name-based UUID (RFC 9562 version 8, variant 10): the first 16 bytes of SHA-256(name) with
 * the version nibble set to 8 and the variant bits to 10. hash_seed (may be NULL) gets the last
 * 16 bytes of the digest, unchanged. text (may be NULL) gets the usual 36-character lowercase
 * form. */
void hf_ext4_name_uuid(const void *name, size_t len, uint8_t uuid[16], uint8_t hash_seed[16],
                       char text[37]);

/* Creates (or truncates) raw_path as a sparse file of hf_sizing_ext4(files, n) bytes holding an ext4
 * filesystem (4 KiB blocks, 256-byte inodes, no journal, extents, 64bit, no resize_inode, 0 reserved blocks,
 * the same feature list whatever mke2fs.conf says, uid/gid 0, files 0644, directories 0755) in which every path of files[] exists as a regular file of exactly
 * files[i].size bytes with all its blocks allocated and marked initialised (not zeroed, not written), and
 * every parent directory exists. The files' data is NOT written: the caller writes it later at the mapped
 * offsets. Fails cleanly (error message, raw_path removed) on duplicate paths, a path that is both a file and a
 * directory, unsafe paths (hf_repo_path_is_safe), sizes hf_sizing_ext4 refuses (a file over
 * 16 TiB - 4 KiB, a filesystem over 192 TiB), or a layout that does not fit.
 * Needs mke2fs (e2fsprogs >= 1.44) in PATH, /usr/sbin or /sbin. With uuid, hash_seed and mtime
 * given, the same inputs give the same bytes (no clock, no randomness). */
hf_code hf_ext4_build(const char *raw_path, const hf_sized_file *files, size_t n,
                      const hf_ext4_options *opt, hf_ext4_layout *out, hf_error *err);

/* Lists the byte ranges of raw_path that hold filesystem metadata (every allocated block that is not file data
 * of the layout), sorted, merged, 4 KiB aligned: what must be copied from the raw file into the final image.
 * Each range has file_offset = image_offset = its start. Free *ranges with free(). */
hf_code hf_ext4_metadata_ranges(const char *raw_path, const hf_ext4_layout *layout,
                                hf_extent **ranges, size_t *n, hf_error *err);

/* Where byte off of a mapped file lies in the image (*image_offset), and how many bytes from
 * there are contiguous in the image (*contiguous, to the end of its extent). false when off is
 * outside the map. */
bool hf_ext4_locate(const hf_ext4_file_map *m, uint64_t off, uint64_t *image_offset,
                    uint64_t *contiguous);

void hf_ext4_layout_free(hf_ext4_layout *layout);

#endif
