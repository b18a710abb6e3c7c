/* How much a model occupies once imported. For a disk image this is the size
 * of the ext4 filesystem the image builder lays out: 4 KiB blocks, 256-byte
 * inodes, no journal, extents, 64-bit group descriptors, sparse superblock
 * backups and no resize reserve; the data blocks of every file, its extent
 * index blocks, the directory blocks, inode tables, bitmaps, group descriptors
 * and superblock copies, the manifest, plus headroom of 1% + 8 MiB. The
 * builder creates exactly this many blocks, so the catalog's SIZE, the
 * downloader's --size-only and the image's virtual size agree. */
#ifndef HF_SIZING_H
#define HF_SIZING_H

#include <stddef.h>
#include <stdint.h>

#define HF_MANIFEST_PATH ".hfhub/manifest.json"
#define HF_EXT4_BLOCK 4096u
#define HF_EXT4_INODE_SIZE 256u
#define HF_EXT4_BLOCKS_PER_GROUP 32768u

typedef struct {
    const char *path;   /* relative, '/'-separated, already checked safe */
    uint64_t size;
} hf_sized_file;

/* Bytes of the ext4 filesystem holding these files and the manifest hfhub
 * writes next to them (HF_MANIFEST_PATH, sized by hf_sizing_manifest_bytes
 * of the other files; an entry for it in files[] is ignored). Always a
 * whole number of MiB. */
uint64_t hf_sizing_ext4_bytes(const hf_sized_file *files, size_t n);

/* Bytes the plain directory form occupies (4 KiB allocation units). */
uint64_t hf_sizing_dir_bytes(const hf_sized_file *files, size_t n);

/* Upper bound of the manifest's size for these files: the manifest is
 * padded with spaces to exactly this size. */
uint64_t hf_sizing_manifest_bytes(const hf_sized_file *files, size_t n);

/* Whole MiB, rounded up. */
uint64_t hf_sizing_mib(uint64_t bytes);

#endif
