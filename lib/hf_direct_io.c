/* O_DIRECT reads and writes with a page-cache fallback (see hf_direct_io.h). */
#define _GNU_SOURCE /* O_DIRECT */
#include "hf_direct_io.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

bool hf_direct_aligned(const void *buf, uint64_t off, size_t len)
{
    return (((uintptr_t)buf | (uintptr_t)off | (uintptr_t)len) & (HF_DIRECT_ALIGN - 1)) == 0;
}

int hf_direct_io(int fd, bool *direct, bool write, void *buf, size_t len, uint64_t off)
{
    int fl = *direct ? fcntl(fd, F_GETFL) : 0;
    bool toggle = *direct && !hf_direct_aligned(buf, off, len);
    if (toggle && fcntl(fd, F_SETFL, fl & ~O_DIRECT))
        return errno;
    char *p = buf;
    int e = 0;
    while (len) {
        ssize_t r = write ? pwrite(fd, p, len, (off_t)off) : pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EINVAL && *direct && !toggle) {
            *direct = false; /* not for this file system: the page cache from now on */
            if (fcntl(fd, F_SETFL, fl & ~O_DIRECT))
                return errno;
            continue;
        }
        if (r <= 0) {
            e = r < 0 ? errno : write ? ENOSPC : EIO;
            break;
        }
        p += r;
        off += (uint64_t)r;
        len -= (size_t)r;
    }
    if (toggle && fcntl(fd, F_SETFL, fl))
        return e ? e : errno;
    return e;
}
