/* Lays out the ext4 filesystem of a disk image before any byte is downloaded.
 * hf_ext4_build creates the metadata of a filesystem in which every model file
 * already exists with its final size and allocated, initialised blocks, and
 * returns where each file's bytes live in the image. The downloader then writes
 * the data straight to those offsets and the image writer copies only the
 * metadata ranges from the (sparse) raw file: no root, no mount, no FUSE, and
 * the data is written once. */
#ifndef HF_EXT4_H
#define HF_EXT4_H

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
    uint64_t fs_bytes;             /* size of the filesystem = hf_sizing_ext4_bytes(files, n) */
    hf_ext4_file_map *files;       /* one per input file, same order */
    size_t n_files;
} hf_ext4_layout;

typedef struct {
    const char *label;     /* volume label, at most 16 bytes (NULL or "" = none) */
    int64_t mtime;         /* timestamps of every inode (deterministic images) */
} hf_ext4_options;

/* Creates (or truncates) raw_path as a sparse file of hf_sizing_ext4_bytes(files, n) bytes holding an ext4
 * filesystem (4 KiB blocks, 256-byte inodes, no journal, extents, 64bit, no resize_inode, 0 reserved blocks,
 * uid/gid 0, files 0644, directories 0755) in which every path of files[] exists as a regular file of exactly
 * files[i].size bytes with all its blocks allocated and marked initialised (not zeroed, not written), and
 * every parent directory exists. The files' data is NOT written: the caller writes it later at the mapped
 * offsets. Fails cleanly (error message, raw_path removed) on duplicate paths, a path that is both a file and a
 * directory, unsafe paths (hf_repo_path_is_safe), or a layout that does not fit.
 * Needs mke2fs (e2fsprogs >= 1.47.0) in PATH, /usr/sbin or /sbin. */
hf_code hf_ext4_build(const char *raw_path, const hf_sized_file *files, size_t n,
                      const hf_ext4_options *opt, hf_ext4_layout *out, hf_error *err);

/* Lists the byte ranges of raw_path that hold filesystem metadata (every allocated block that is not file data
 * of the layout), sorted, merged, 4 KiB aligned: what must be copied from the raw file into the final image.
 * Each range has file_offset = image_offset = its start. Free *ranges with free(). */
hf_code hf_ext4_metadata_ranges(const char *raw_path, const hf_ext4_layout *layout,
                                hf_extent **ranges, size_t *n, hf_error *err);

void hf_ext4_layout_free(hf_ext4_layout *layout);

#endif
