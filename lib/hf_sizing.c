/* Import size computation (see hf_sizing.h). The formula is an upper bound
 * of what the ext4 layout needs; the image builder sizes its filesystem
 * with this same function, so the bound is also the exact image size.
 * Every step is bounded whatever the Hub claims: sizes are checked against
 * the ext4 limits before any arithmetic that could wrap, the superblock
 * backups are counted in closed form (no loop over block groups), and the
 * directories are found through a hash table keyed by parent and name (no
 * scan per file, no rehashing of a path per level). */
#include "hf_sizing.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define B ((uint64_t)HF_EXT4_BLOCK)
#define MIB ((uint64_t)1 << 20)
#define MAX_FS_BLOCKS (HF_EXT4_MAX_GROUPS * HF_EXT4_BLOCKS_PER_GROUP)

/* Never wraps: a + b - 1 would for a near 2^64. */
static uint64_t div_up(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
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

/* Blocks a regular file of this size (at most HF_EXT4_MAX_FILE_BYTES) needs,
 * extent index blocks included. Extents hold at most 32768 blocks and can be
 * split at every block group boundary crossed (superblock backups, flex_bg
 * metadata), so count two per 128 MiB, plus two. Four extents fit in the
 * inode; beyond that, leaf blocks of 340 extents each, and index levels
 * above them (three levels at most). */
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

/* ---- the directories: a hash table keyed by (parent, name) -------------- */

/* Keyed by the parent's index and the last name, so that walking a path
 * from the root costs its length once, however deep it is. */
typedef struct {
    const char *name; /* inside a caller's string (not NUL-terminated at len) */
    size_t len;
    size_t parent;    /* index of the parent (the root, 0, is its own) */
    uint64_t hash;
    uint64_t bytes;   /* dirent bytes of its children */
} dir_acc;

typedef struct {
    dir_acc *v;       /* the directories, in order of creation; v[0] is the root */
    size_t n, cap;
    size_t *slot;     /* open addressing: index + 1 into v, 0 = empty */
    size_t nslots;    /* a power of two, at least twice n */
} dir_set;

static uint64_t hash_of(size_t parent, const char *name, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)parent; /* FNV-1a, then a final mix */
    h *= 0x100000001b3ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 0x100000001b3ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

static bool rehash(dir_set *s, size_t nslots)
{
    size_t *slot = calloc(nslots, sizeof *slot);
    if (!slot)
        return false;
    for (size_t i = 1; i < s->n; i++) { /* the root is never looked up */
        size_t k = (size_t)s->v[i].hash & (nslots - 1);
        while (slot[k])
            k = (k + 1) & (nslots - 1);
        slot[k] = i + 1;
    }
    free(s->slot);
    s->slot = slot;
    s->nslots = nslots;
    return true;
}

static bool dir_push(dir_set *s, dir_acc d)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        dir_acc *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return false;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = d;
    return true;
}

/* Index of the directory name[0..len) in directory parent, added (with "."
 * and "..", and entered in its parent) when new; SIZE_MAX when out of
 * memory. */
static size_t dir_child(dir_set *s, size_t parent, const char *name, size_t len)
{
    if (2 * (s->n + 1) > s->nslots && !rehash(s, s->nslots ? 2 * s->nslots : 64))
        return SIZE_MAX;
    uint64_t h = hash_of(parent, name, len);
    size_t k = (size_t)h & (s->nslots - 1);
    for (; s->slot[k]; k = (k + 1) & (s->nslots - 1)) {
        const dir_acc *d = &s->v[s->slot[k] - 1];
        if (d->hash == h && d->parent == parent && d->len == len && !memcmp(d->name, name, len))
            return s->slot[k] - 1;
    }
    if (!dir_push(s, (dir_acc){name, len, parent, h, 24})) /* "." and ".." */
        return SIZE_MAX;
    s->slot[k] = s->n;
    s->v[parent].bytes += dirent_bytes(len);
    return s->n - 1;
}

/* Enters a file in its directory, creating the missing directories on the
 * way from the root. */
static bool file_add_entry(dir_set *s, const char *path)
{
    size_t dir = 0;
    for (;;) {
        size_t len = strcspn(path, "/");
        if (!path[len]) {
            s->v[dir].bytes += dirent_bytes(len);
            return true;
        }
        if ((dir = dir_child(s, dir, path, len)) == SIZE_MAX)
            return false;
        path += len + 1;
    }
}

/* ---- the two forms ----------------------------------------------------------- */

hf_code hf_sizing_dir(const hf_sized_file *files, size_t n, uint64_t *bytes, hf_error *err)
{
    *bytes = 0;
    uint64_t total = div_up(hf_sizing_manifest_bytes(files, n), B) * B;
    for (size_t i = 0; i < n; i++) {
        uint64_t blocks = div_up(files[i].size, B);
        if (blocks > (uint64_t)INT64_MAX / B || total + blocks * B > (uint64_t)INT64_MAX)
            return hf_error_set(err, HF_ERR_INVALID,
                                "\"%s\" claims %llu bytes: with the files before it that is more "
                                "than any disk holds (2^63 bytes); refusing the import",
                                files[i].path, (unsigned long long)files[i].size);
        total += blocks * B;
    }
    *bytes = total;
    return HF_OK;
}

/* Superblock backups with sparse_super: groups 0 and 1 and the powers of 3, 5
 * and 7 below the group count (no group is a power of two of these primes,
 * so none is counted twice). */
static uint64_t backup_groups(uint64_t groups)
{
    uint64_t n = 1 + (groups > 1);
    for (uint64_t p = 3; p <= 7; p += 2)
        for (uint64_t x = p; x < groups; x *= p)
            n++;
    return n;
}

static hf_code too_large(const hf_sized_file *largest, hf_error *err)
{
    return hf_error_set(err, HF_ERR_INVALID,
                        "the files need an ext4 image larger than %llu bytes (192 TiB, the "
                        "largest hfhub lays out); the largest is \"%s\" (%llu bytes); refusing "
                        "the import",
                        (unsigned long long)HF_EXT4_MAX_FS_BYTES,
                        largest ? largest->path : HF_MANIFEST_PATH,
                        (unsigned long long)(largest ? largest->size : 0));
}

hf_code hf_sizing_ext4(const hf_sized_file *all, size_t n_all, uint64_t *bytes, hf_error *err)
{
    *bytes = 0;
    /* Sizes first, before any sum: no file beyond what ext4 holds, and the
     * running total stops at the largest filesystem, so no sum can wrap. */
    const hf_sized_file *largest = NULL;
    uint64_t data_blocks = 0;
    uint64_t manifest = hf_sizing_manifest_bytes(NULL, 0);
    size_t n = 0;
    for (size_t i = 0; i < n_all; i++) {
        if (!strcmp(all[i].path, HF_MANIFEST_PATH))
            continue; /* counted below: callers that list it (the image builder) get the
                       * same result as callers that do not (the catalog) */
        n++;
        manifest += hf_sizing_manifest_bytes(&all[i], 1) - hf_sizing_manifest_bytes(NULL, 0);
        if (all[i].size > HF_EXT4_MAX_FILE_BYTES)
            return hf_error_set(err, HF_ERR_INVALID,
                                "\"%s\" claims %llu bytes, more than an ext4 file holds (%llu "
                                "bytes, 16 TiB - 4 KiB); refusing the import",
                                all[i].path, (unsigned long long)all[i].size,
                                (unsigned long long)HF_EXT4_MAX_FILE_BYTES);
        if (!largest || all[i].size > largest->size)
            largest = &all[i];
        data_blocks += file_blocks(all[i].size); /* < 2^33 each */
        if (data_blocks > MAX_FS_BLOCKS)
            return too_large(largest, err);
    }

    dir_set dirs = {0};
    bool ok = dir_push(&dirs, (dir_acc){"", 0, 0, 0, 24}); /* the root */
    for (size_t i = 0; ok && i < n_all; i++)
        if (strcmp(all[i].path, HF_MANIFEST_PATH))
            ok = file_add_entry(&dirs, all[i].path);
    /* .hfhub/manifest.json and lost+found */
    ok = ok && file_add_entry(&dirs, HF_MANIFEST_PATH) &&
         dir_child(&dirs, 0, "lost+found", 10) != SIZE_MAX;
    uint64_t dir_blocks = 0;
    for (size_t i = 0; ok && i < dirs.n; i++)
        /* 12 bytes per block go to the checksum tail; one spare block each. */
        dir_blocks += div_up(dirs.v[i].bytes, B - 12) + 1;
    uint64_t ndirs = dirs.n;
    free(dirs.v);
    free(dirs.slot);
    if (!ok)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory sizing %zu files", n_all);

    data_blocks += file_blocks(manifest);
    data_blocks += 4; /* lost+found is pre-allocated with 16 KiB */

    uint64_t inodes_needed = (uint64_t)n + ndirs + 1 + 11 + 16;
    uint64_t payload = data_blocks + dir_blocks;
    if (payload > MAX_FS_BLOCKS)
        return too_large(largest, err);
    /* From here every figure is below 2^40 blocks: no product can wrap. */
    uint64_t total = payload;
    for (int iter = 0; iter < 8; iter++) {
        uint64_t groups = div_up(total, HF_EXT4_BLOCKS_PER_GROUP);
        if (groups == 0)
            groups = 1;
        /* inodes per group: multiple of 16 (a full inode table block) */
        uint64_t ipg = div_up(div_up(inodes_needed, groups), 16) * 16;
        uint64_t itable = div_up(ipg * HF_EXT4_INODE_SIZE, B);
        uint64_t gdt = div_up(groups * 64, B);
        uint64_t meta = groups * (2 + itable) + backup_groups(groups) * (1 + gdt);
        uint64_t headroom = payload / 100 + (8 * MIB) / B;
        uint64_t next = div_up(payload + meta + headroom, MIB / B) * (MIB / B); /* whole MiB */
        if (next == total)
            break;
        total = next;
        if (total > MAX_FS_BLOCKS)
            break;
    }
    if (total > MAX_FS_BLOCKS)
        return too_large(largest, err);
    *bytes = total * B;
    return HF_OK;
}
