/* Turns a catalog model into an OpenNebula marketplace app: the app template
 * (the fields oned consumes, the spec's metadata table and a few extras), its
 * base64 form for the monitor's APP="..." lines, a NAME that oned accepts and
 * that is unique and stable per model, and an MD5 that changes exactly when
 * the model (commit) or its catalog metadata changes, so oned leaves
 * unchanged apps alone. */
#ifndef ONE_APP_H
#define ONE_APP_H

#include <stdbool.h>

#include "hf_buf.h"
#include "hf_model.h"

#define ONE_CERTIFIED_ORG "ONEnextgen"

typedef struct {
    const char *endpoint;   /* for LINK / HF_URL */
    bool full;              /* HAS_CHAT_TEMPLATE was decided */
} one_app_options;

/* NAME for a model id: "<org>--<name>" ("--" cannot occur in Hub ids, so
 * the mapping is one to one); ids longer than fits in 128 characters keep a
 * prefix plus a hash of the whole id. Caller frees. */
char *one_app_name(const char *model_id);

/* True for models of the OpenNebula-certified organisation. */
bool one_app_is_certified(const char *model_id);

/* Appends the app template text (one ATTR="value" per line) to out. */
bool one_app_render(const hf_model *m, const one_app_options *opt, hf_buf *out);

/* Appends APP="<base64 of the template>"\n to out. */
bool one_app_render_line(const hf_model *m, const one_app_options *opt, hf_buf *out);

/* Base64 (no line breaks) of data. Caller frees. */
char *one_base64(const void *data, size_t len);

#endif
