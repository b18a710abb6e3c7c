/* Private to the import (hf_import*.c): what the run (hf_import.c) and the
 * two forms share. hf_import_dir.c is the directory sink and its flush,
 * hf_import_image.c the qcow2 image: its identity, layout, sink and stream.
 * Nothing outside lib/hf_import*.c includes it; the interface is
 * hf_import.h. */
#ifndef HF_IMPORT_INTERNAL_H
#define HF_IMPORT_INTERNAL_H

#include <stdbool.h>

#include "hf_import.h"
#include "hf_manifest.h"

/* Dirty data is handed to the kernel's writeback every so often, so that the
 * final flush before DEST appears has little left to do (and the page cache
 * does not fill with a whole model's dirty pages). */
#define WRITEBACK_EVERY ((uint64_t)64 << 20)

/* An I/O error on path as the operator should read it: a full disk says to
 * free space and run again. Returns HF_ERR_IO. */
hf_code import_io_error(hf_error *err, const char *what, const char *path, int e);

/* The engine's options for this plan (journal and key may be NULL). */
hf_fetch_options import_fetch_options(hf_client *cl, const hf_import_plan *p,
                                      const hf_import_options *opt, const char *journal,
                                      const char *key);
hf_manifest_info import_manifest_info(const hf_import_plan *p, const char *source);

/* The forms: each builds its result in part (resuming from journal when resume), or for
 * a stream writes it to opt->stream_fd. */
hf_code import_run_dir(hf_client *cl, const hf_import_plan *p, const char *source,
                       const char *part, const char *journal, const char *key, bool resume,
                       const hf_import_options *opt, hf_import_result *res, hf_error *err);
hf_code import_run_image(hf_client *cl, const hf_import_plan *p, const char *source,
                         const char *part, const char *journal, const char *meta,
                         const char *key, bool resume, const hf_import_options *opt,
                         hf_import_result *res, hf_error *err);
hf_code import_run_image_stream(hf_client *cl, const hf_import_plan *p, const char *source,
                                const char *head, const char *meta,
                                const hf_import_options *opt, hf_import_result *res,
                                bool *not_streamable, hf_error *err);

#endif
