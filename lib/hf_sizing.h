/* How much a model occupies once imported. For a disk image this is the size
 * of the ext4 filesystem the image builder lays out: 4 KiB blocks, 256-byte
 * inodes, no journal, extents, 64-bit group descriptors, sparse superblock
 * backups and no resize reserve; the data blocks of every file, its extent
 * index blocks, the directory blocks, inode tables, bitmaps, group descriptors
 * and superblock copies, the manifest, plus headroom of 1% + 8 MiB. The
 * builder creates exactly this many blocks, so the catalog's SIZE, the
 * downloader's --size-only and the image's virtual size agree.
 *
 * Sizes come from the Hub and are hostile until checked: the computation takes
 * bounded steps whatever they claim (a closed form per block group count, a
 * hash table for the directories), refuses a file or a total that no image
 * hfhub lays out can hold, naming the file, and never lets a sum wrap. */
#ifndef HF_SIZING_H
#define HF_SIZING_H

#include <stddef.h>
#include <stdint.h>

#include "hf_error.h"

#define HF_MANIFEST_PATH ".hfhub/manifest.json"
#define HF_EXT4_BLOCK 4096u
#define HF_EXT4_INODE_SIZE 256u
#define HF_EXT4_BLOCKS_PER_GROUP 32768u
/* The largest file ext4 holds with 4 KiB blocks and extents (32-bit logical
 * block numbers): 16 TiB - 4 KiB. */
#define HF_EXT4_MAX_FILE_BYTES ((uint64_t)UINT32_MAX * HF_EXT4_BLOCK)
/* The most block groups whose descriptors (64 bytes each) fit in 3/4 of a
 * group: beyond that mke2fs switches to meta_bg, a layout this sizing does
 * not model. 1,572,864 groups of 128 MiB: 192 TiB, below qcow2's 2 PiB. */
#define HF_EXT4_MAX_GROUPS ((uint64_t)HF_EXT4_BLOCKS_PER_GROUP * 3 / 4 * (HF_EXT4_BLOCK / 64))
#define HF_EXT4_MAX_FS_BYTES (HF_EXT4_MAX_GROUPS * HF_EXT4_BLOCKS_PER_GROUP * HF_EXT4_BLOCK)

typedef struct {
    const char *path;   /* relative, '/'-separated, already checked safe */
    uint64_t size;
} hf_sized_file;

/* *bytes = the size of the ext4 filesystem holding these files and the
 * manifest hfhub writes next to them (HF_MANIFEST_PATH, sized by
 * hf_sizing_manifest_bytes of the other files; an entry for it in files[] is
 * ignored). Always a whole number of MiB. HF_ERR_INVALID, naming the file,
 * when a file is larger than HF_EXT4_MAX_FILE_BYTES or the filesystem would
 * be larger than HF_EXT4_MAX_FS_BYTES; HF_ERR_NOMEM. Linear in the number of
 * files and the length of their paths. */
hf_code hf_sizing_ext4(const hf_sized_file *files, size_t n, uint64_t *bytes, hf_error *err);

/* *bytes = what the plain directory form occupies (4 KiB allocation units).
 * HF_ERR_INVALID, naming the file, when the total passes INT64_MAX (no file
 * offset or free-space figure can hold it). */
hf_code hf_sizing_dir(const hf_sized_file *files, size_t n, uint64_t *bytes, hf_error *err);

/* Upper bound of the manifest's size for these files: the manifest is
 * padded with spaces to exactly this size. */
uint64_t hf_sizing_manifest_bytes(const hf_sized_file *files, size_t n);

/* Whole MiB, rounded up. */
uint64_t hf_sizing_mib(uint64_t bytes);

#endif
