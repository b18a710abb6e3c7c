/* Import size computation (see hf_sizing.h). The formula is an upper bound
 * of what the ext4 layout needs; the image builder sizes its filesystem
 * with this same function, so the bound is also the exact image size. */
#include "hf_sizing.h"

#include <stdlib.h>
#include <string.h>

#define B ((uint64_t)HF_EXT4_BLOCK)
#define MIB ((uint64_t)1 << 20)

static uint64_t div_up(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

uint64_t hf_sizing_mib(uint64_t bytes)
{
    return div_up(bytes, MIB);
}

uint64_t hf_sizing_manifest_bytes(const hf_sized_file *files, size_t n)
{
    /* JSON header, then one object per file: path (escaped, at most 6x for
     * \uXXXX), size, sha256, git oid and punctuation. */
    uint64_t total = 4096;
    for (size_t i = 0; i < n; i++)
        total += 200 + 6 * (uint64_t)strlen(files[i].path);
    return total;
}

/* Blocks a regular file of this size needs, extent index blocks included.
 * Extents hold at most 32768 blocks and can be split at every block group
 * boundary crossed (superblock backups, flex_bg metadata), so count two per
 * 128 MiB, plus two. Four extents fit in the inode; beyond that, leaf blocks
 * of 340 extents each, and index levels above them. */
static uint64_t file_blocks(uint64_t size)
{
    uint64_t data = div_up(size, B);
    if (data == 0)
        return 0;
    uint64_t extents = 2 * div_up(data, HF_EXT4_BLOCKS_PER_GROUP) + 2;
    uint64_t meta = 0;
    uint64_t level = extents;
    while (level > 4) {
        level = div_up(level, (B - 12) / 12);
        meta += level;
    }
    return data + meta;
}

/* A directory entry: 8 bytes + name, rounded to 4. */
static uint64_t dirent_bytes(size_t name_len)
{
    return (8 + (uint64_t)name_len + 3) & ~(uint64_t)3;
}

typedef struct {
    char *path;       /* directory path ("" = root) */
    uint64_t bytes;   /* dirent bytes of its children */
} dir_acc;

typedef struct {
    dir_acc *v;
    size_t n, cap;
} dir_set;

static size_t parent_len_of(const char *path, size_t len, size_t *name_len)
{
    size_t cut = len;
    while (cut > 0 && path[cut - 1] != '/')
        cut--;
    *name_len = len - cut;
    return cut ? cut - 1 : 0;
}

/* Index of the directory path[0..len), created (and entered in its parent)
 * when new; (size_t)-1 when out of memory. */
static size_t dir_ensure(dir_set *s, const char *path, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->v[i].path) == len && !strncmp(s->v[i].path, path, len))
            return i;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        dir_acc *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return (size_t)-1;
        s->v = v;
        s->cap = cap;
    }
    char *p = malloc(len + 1);
    if (!p)
        return (size_t)-1;
    memcpy(p, path, len);
    p[len] = '\0';
    size_t idx = s->n++;
    s->v[idx] = (dir_acc){p, 24}; /* "." and ".." */
    if (len > 0) {
        size_t name_len, plen = parent_len_of(path, len, &name_len);
        size_t parent = dir_ensure(s, path, plen);
        if (parent != (size_t)-1)
            s->v[parent].bytes += dirent_bytes(name_len);
    }
    return idx;
}

static void file_add_entry(dir_set *s, const char *path)
{
    size_t name_len, plen = parent_len_of(path, strlen(path), &name_len);
    size_t parent = dir_ensure(s, path, plen);
    if (parent != (size_t)-1)
        s->v[parent].bytes += dirent_bytes(name_len);
}

uint64_t hf_sizing_dir_bytes(const hf_sized_file *files, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += div_up(files[i].size, B) * B;
    return total + div_up(hf_sizing_manifest_bytes(files, n), B) * B;
}

uint64_t hf_sizing_ext4_bytes(const hf_sized_file *all, size_t n_all)
{
    /* The manifest is counted here; callers that list it themselves (the
     * image builder) get the same result as callers that do not (the
     * catalog). */
    hf_sized_file *files = malloc((n_all ? n_all : 1) * sizeof *files);
    if (!files)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < n_all; i++)
        if (strcmp(all[i].path, HF_MANIFEST_PATH))
            files[n++] = all[i];
    dir_set dirs = {0};
    dir_ensure(&dirs, "", 0);
    uint64_t data_blocks = 0;
    for (size_t i = 0; i < n; i++) {
        file_add_entry(&dirs, files[i].path);
        data_blocks += file_blocks(files[i].size);
    }
    /* .hfhub/manifest.json and lost+found */
    file_add_entry(&dirs, HF_MANIFEST_PATH);
    data_blocks += file_blocks(hf_sizing_manifest_bytes(files, n));
    dir_ensure(&dirs, "lost+found", 10);
    data_blocks += 4; /* lost+found is pre-allocated with 16 KiB */

    uint64_t dir_blocks = 0;
    for (size_t i = 0; i < dirs.n; i++) {
        /* 12 bytes per block go to the checksum tail; one spare block each. */
        dir_blocks += div_up(dirs.v[i].bytes, B - 12) + 1;
        free(dirs.v[i].path);
    }
    size_t ndirs = dirs.n;
    free(dirs.v);

    uint64_t inodes_needed = (uint64_t)n + ndirs + 1 + 11 + 16;
    uint64_t payload = data_blocks + dir_blocks;
    uint64_t total = payload;
    for (int iter = 0; iter < 8; iter++) {
        uint64_t groups = div_up(total, HF_EXT4_BLOCKS_PER_GROUP);
        if (groups == 0)
            groups = 1;
        /* inodes per group: multiple of 16 (a full inode table block) */
        uint64_t ipg = div_up(div_up(inodes_needed, groups), 16) * 16;
        uint64_t itable = div_up(ipg * HF_EXT4_INODE_SIZE, B);
        uint64_t gdt = div_up(groups * 64, B);
        uint64_t backups = 1; /* group 0 */
        for (uint64_t g = 1; g < groups; g++) {
            uint64_t x = g;
            if (g == 1) {
                backups++;
                continue;
            }
            for (uint64_t p = 3; p <= 7; p += 2) {
                x = g;
                while (x % p == 0)
                    x /= p;
                if (x == 1) {
                    backups++;
                    break;
                }
            }
        }
        uint64_t meta = groups * (2 + itable) + backups * (1 + gdt);
        uint64_t headroom = payload / 100 + (8 * MIB) / B;
        uint64_t next = payload + meta + headroom;
        next = div_up(next * B, MIB) * MIB / B; /* whole MiB */
        if (next == total)
            break;
        total = next;
    }
    free(files);
    return total * B;
}
