/* Turns a catalog model into an OpenNebula marketplace app: the app template
 * (the fields oned consumes, the spec's metadata table and a few extras), its
 * base64 form for the monitor's APP="..." lines, a NAME that oned accepts and
 * that is unique and stable per model and marketplace, and an MD5 that
 * changes exactly when the model (commit), its catalog metadata or the
 * popularity bucket of its counters changes, so oned leaves unchanged apps
 * alone. The image template (APPTEMPLATE64) is kept clear of the pattern
 * that makes oned's export send an image to a files datastore. */
#ifndef ONE_APP_H
#define ONE_APP_H

#include <stdbool.h>

#include "hf_buf.h"
#include "hf_model.h"

#define ONE_CERTIFIED_ORG "ONEnextgen"

/* oned's market MAD passes the driver message, which lists the ID of every
 * app of the marketplace, as one command-line argument of the monitor
 * (one_market.rb, do_action). Linux limits one argument to 128 KiB
 * (MAX_ARG_STRLEN), which the base64 message passes at 6000 to 7000 apps;
 * then every monitor fails with "Argument list too long" and the apps
 * freeze. When the sources or the NAMEs change, the old apps stay in that
 * list beside the new ones until oned drops them (four missing cycles), so
 * a marketplace holds at most twice its limit for a while: the cap is half
 * of what fits. */
#define ONE_MARKET_MAX_APPS 3000

typedef struct {
    const char *endpoint;   /* for LINK / HF_URL */
    bool full;              /* HAS_CHAT_TEMPLATE was decided */
    const char *name;       /* NAME from one_app_names(); NULL: one_app_name(id, NULL) */
} one_app_options;

/* NAME for a model id in a marketplace: "<org>--<name>@<market id>".
 * oned looks apps up by NAME across all marketplaces
 * (MarketPlaceAppPool::import), so the marketplace's ID is part of it: two
 * marketplaces listing the same model each get their own app, and the NAME
 * survives a marketplace rename. market_id NULL (hf_catalog without
 * --market-id) leaves the suffix out. "--" cannot occur in Hub ids and '@'
 * cannot occur in them either, so the mapping is one to one. A NAME that
 * would pass 128 characters keeps a prefix of "<org>--<name>", '-' and 16 hex
 * digits of the id's SHA-256. NULL for an invalid id or market id. Caller
 * frees. */
char *one_app_name(const char *model_id, const char *market_id);

/* True for an OpenNebula object ID: 1-10 decimal digits, no leading zero,
 * at most INT_MAX. */
bool one_market_id_is_valid(const char *id);

/* NAMEs for every model of one answer, unique within it (compared without
 * case, as a database collation may). Models whose NAMEs would be equal all
 * take the hashed form (prefix, '-', 16 hex digits of the SHA-256 of the id),
 * which depends on the id only, so names stay stable across runs. NULL when
 * out of memory or when no unique set can be made (a SHA-256 prefix
 * collision). Free with one_app_names_free. */
char **one_app_names(const hf_model *models, size_t n, const char *market_id);
void one_app_names_free(char **names, size_t n);

/* The popularity bucket of a counter (downloads, likes) that goes into MD5:
 * the value with every digit after the first set to zero (0, 1-9, 10, 20,
 * ..., 90, 100, 200, ...). An app is rewritten with fresh counters when the
 * first digit or the number of digits of one of them changes, not on every
 * daily move. */
long long one_app_popularity_bucket(long long v);

/* Makes an image template safe from oned's export rule
 * (marketplaceapp_ext.rb: tmpl.match(/^\s*TYPE\s*=\s*KERNEL|CONTEXT\s/i)
 * sends the image to a files datastore): every whitespace after "context"
 * (any case) becomes a no-break space (U+00A0), which Ruby's \s does not
 * match, and a line that starts with TYPE = KERNEL is refused. Returns a
 * new string, or NULL when out of memory or for such a line. Caller frees. */
char *one_app_defuse_export_rule(const char *tmpl);

/* True for models of the OpenNebula-certified organisation. */
bool one_app_is_certified(const char *model_id);

/* Appends the app template text (one ATTR="value" per line) to out. */
bool one_app_render(const hf_model *m, const one_app_options *opt, hf_buf *out);

/* Appends APP="<base64 of the template>"\n to out. */
bool one_app_render_line(const hf_model *m, const one_app_options *opt, hf_buf *out);

/* Base64 (no line breaks) of data. Caller frees. */
char *one_base64(const void *data, size_t len);

#endif
