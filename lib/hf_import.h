/* An import: an hf:// address becomes a verified model on local storage,
 * either a directory tree or a qcow2 disk image holding an ext4 filesystem
 * with the same tree, both with .hfhub/manifest.json.
 *
 * The work happens next to DEST (DEST.hfhub-part, DEST.hfhub-journal, and
 * DEST.hfhub-meta for images); DEST itself appears only, by rename, when
 * everything is downloaded and verified. A run that stops for any reason
 * leaves the work files, and the next run with the same SOURCE and DEST
 * continues from them. For images, the ext4 layout is computed from the
 * file sizes first, and every downloaded byte is written once, straight to
 * its final place in the qcow2, or, for a stream, straight to the stream. */
#ifndef HF_IMPORT_H
#define HF_IMPORT_H

#include <stdint.h>

#include "hf_address.h"
#include "hf_client.h"
#include "hf_error.h"
#include "hf_fetch.h"
#include "hf_repo_tree.h"

typedef struct {
    char *source;                /* the address as given */
    hf_address address;
    hf_format format;            /* never DEFAULT here */
    hf_repo_tree tree;
    hf_fetch_file *files;        /* the selected files */
    size_t n_files;
    uint64_t files_bytes;
    uint64_t stored_bytes;       /* image size (qcow2 virtual size) or directory bytes */
} hf_import_plan;

/* Resolves the address to a commit and the file selection. The format is
 * format_override (a command line's), else the address's ?format=, else
 * format_default (what the datastore wants), else qcow2. */
hf_code hf_import_plan_make(hf_client *cl, const char *source, hf_format format_override,
                            hf_format format_default, hf_import_plan *plan, hf_error *err);
void hf_import_plan_free(hf_import_plan *plan);

typedef struct {
    int max_connections;
    /* Where the work files go: <work_prefix>.hfhub-part, -journal, -meta.
     * NULL: next to DEST (DEST.hfhub-part, ...). A prefix derived from the
     * source lets a rerun towards another DEST continue the same work (as
     * OpenNebula's datastore driver picks a new image path on each try). */
    const char *work_prefix;
    /* Leave the verified result in the work area (<work_prefix>.hfhub-part)
     * instead of renaming it to DEST, with its journal, for a caller that
     * streams it out (DEST "-") and then calls hf_import_discard_work. If the
     * stream fails, the next run finds the journal complete and verifies
     * every byte again from disk before the result is used. dest is then
     * NULL; work_prefix is required. */
    bool keep_in_work;
    /* Write a qcow2 import to stream_fd, in order, as it downloads (DEST
     * "-" into a pipe): the image never exists on this machine, only its
     * filesystem metadata and qcow2 tables under work_prefix (.hfhub-meta,
     * .hfhub-head), removed at the end. dest is then NULL; work_prefix is
     * required. RAM stays within about twice stream_window (0: the
     * engine's default). Nothing is resumable: a run that fails has sent an
     * incomplete image, which the caller must report as a failure. When
     * the layout cannot be written in one pass the run fails at once,
     * before anything is written, with res->not_streamable set: the caller
     * then imports with keep_in_work and copies the result. */
    bool stream;
    int stream_fd;
    uint64_t stream_window;
    double stall_timeout;       /* 0: the engine's default */
    uint64_t low_speed_limit;   /* bytes/s; 0: the engine's default (hf_fetch.h) */
    double low_speed_time;      /* seconds; 0: the engine's default */
    long retry_base_ms;         /* 0: the engine's default */
    uint64_t max_rate;          /* bytes/s over all connections together; 0: no cap */
    hf_fetch_progress_fn progress;
    void *progress_user;
} hf_import_options;

typedef struct {
    hf_fetch_stats fetch;
    uint64_t disk_bytes;      /* what the result occupies on disk */
    bool resumed;
    /* keep_in_work: the work's lock, still held so that no other import of
     * the same model touches the result while the caller streams it; -1
     * otherwise. hf_import_discard_work releases it. */
    int work_lock_fd;
    bool not_streamable;      /* stream: see hf_import_options.stream */
} hf_import_result;

/* Runs the plan into dest (a path that must not exist yet). */
hf_code hf_import_run(hf_client *cl, const hf_import_plan *plan, const char *dest,
                      const hf_import_options *opt, hf_import_result *res, hf_error *err);

/* <work_prefix>.hfhub-part: where a keep_in_work run leaves its result.
 * malloc'd; NULL when out of memory. */
char *hf_import_result_path(const char *work_prefix);

/* Removes an import's work files (part, journal, meta, lock) under prefix,
 * then releases res's lock (res may be NULL). */
hf_code hf_import_discard_work(const char *work_prefix, hf_import_result *res, hf_error *err);

/* Releases res's lock without removing the work (the next run continues it). */
void hf_import_release(hf_import_result *res);

#endif
