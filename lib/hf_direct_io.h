/* Reads and writes that bypass the page cache (O_DIRECT) where the file
 * system allows it, and fall back to it where not. Copying downloaded
 * pieces into freshly allocated page-cache pages was the largest single cost
 * of an uncapped download (perf: half of the CPU in copy_folio_from_iter on
 * a VM), so the sinks write large, page-aligned pieces this way. What is not
 * aligned (a file's tail, the head of a resumed range) still goes through
 * the page cache. Durability is the caller's: it fsyncs as before. */
#ifndef HF_DIRECT_IO_H
#define HF_DIRECT_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HF_DIRECT_ALIGN 4096

/* Whether buf, off and len are all HF_DIRECT_ALIGN aligned. */
bool hf_direct_aligned(const void *buf, uint64_t off, size_t len);

/* pwrite (write) or pread of all len bytes at off: 0 or an errno (ENOSPC for a write that
 * makes no progress). On an O_DIRECT descriptor (*direct true), a piece that is not aligned
 * goes through the page cache, and if the kernel refuses O_DIRECT (EINVAL) the descriptor
 * drops it for good and *direct becomes false. */
int hf_direct_io(int fd, bool *direct, bool write, void *buf, size_t len, uint64_t off);

#endif
