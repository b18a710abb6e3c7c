/* Import status files: a running import keeps a small JSON file beside its
 * work files (<work prefix>.hfhub-status), rewritten atomically every few
 * seconds with what it has done, so that an operator can watch imports that
 * OpenNebula runs without a terminal and whose stderr it logs only on
 * failure (hfhub_downloader --status reads them). The file is removed when
 * the import ends; one left by a killed import shows where it stopped. */
#ifndef HF_STATUS_H
#define HF_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hf_error.h"

typedef struct {
    char *source;
    char *dest;
    long pid;
    double started;     /* epoch seconds */
    double updated;     /* epoch seconds */
    uint64_t done_bytes;
    uint64_t total_bytes;
    double rate;        /* bytes per second, recent */
    int connections;
    long files_done;
    long files_total;
    bool running;       /* filled by hf_status_list: its process is alive */
    char *path;         /* filled by hf_status_list: the status file */
} hf_status;

/* Writes st to path atomically (a temporary file in the same directory,
 * created without following links, then renamed over path). */
hf_code hf_status_write(const char *path, const hf_status *st, hf_error *err);

/* Reads one status file (at most 64 KiB, not through a symlink). */
hf_code hf_status_read(const char *path, hf_status *st, hf_error *err);

/* Every *.hfhub-status in dir, oldest start first; each entry's running
 * flag says whether the process that wrote it is still alive.
 * Unreadable or malformed entries are skipped. *out is malloc'd. */
hf_code hf_status_list(const char *dir, hf_status **out, size_t *n, hf_error *err);

void hf_status_clear(hf_status *st);
void hf_status_list_free(hf_status *list, size_t n);

#endif
