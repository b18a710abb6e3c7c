/* Pieces shared by the hfhub programs: progress reporting on stderr and the
 * catalog's three output forms. */
#ifndef TOOL_COMMON_H
#define TOOL_COMMON_H

#include <stdbool.h>
#include <stdio.h>

#include "hf_buf.h"
#include "hf_catalog.h"

typedef struct {
    const char *prog;
    bool enabled;
    bool tty;
    double last;
} tool_progress;

void tool_progress_init(tool_progress *p, const char *prog, bool enabled);
/* hf_catalog_progress_fn */
void tool_progress_cb(void *user, const char *phase, size_t done, size_t total);

/* Renders the catalog into out: "apps" (APP lines), "json" or "table".
 * market_id (NULL: none) goes into the apps' NAMEs (see one_app_names). */
bool tool_render_catalog(const hf_catalog *cat, const char *format, const char *endpoint,
                         bool full, const char *market_id, hf_buf *out);

/* Writes all of buf to stdout; false on a write error (full disk, closed pipe). */
bool tool_write_stdout(const hf_buf *buf);

#endif
