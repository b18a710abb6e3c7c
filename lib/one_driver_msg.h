/* The messages oned's drivers pass to their actions. The market MAD gives
 * the monitor base64 of <MARKET_DRIVER_ACTION_DATA><MARKETPLACE>...
 * <TEMPLATE>...</TEMPLATE></MARKETPLACE></MARKET_DRIVER_ACTION_DATA>; the
 * datastore driver exports DRV_ACTION, base64 of <DS_DRIVER_ACTION_DATA>.
 * This module decodes them and reads what hfhub needs (escaped text or
 * CDATA), refusing DTDs, entities and oversized input. */
#ifndef ONE_DRIVER_MSG_H
#define ONE_DRIVER_MSG_H

#include <stddef.h>

#include "hf_error.h"

#define ONE_DRIVER_MSG_MAX ((size_t)1 << 20)

typedef struct {
    char *market_id;    /* MARKETPLACE/ID */
    char *market_mad;
    char *market_name;
    char *org;          /* HFHUB_ORG */
    char *collection;   /* HFHUB_COLLECTION */
    char *task;         /* HFHUB_TASK */
    char *search;       /* HFHUB_SEARCH (hfhub extension) */
    char *limit;        /* HFHUB_LIMIT */
    char *auto_index;   /* HFHUB_AUTO_INDEX */
    char *sort;         /* HFHUB_SORT */
    char *direction;    /* HFHUB_DIRECTION */
    char *full;         /* HFHUB_FULL (hfhub extension) */
} one_market_conf;

/* Decodes strict base64 (whitespace ignored). Caller frees *out. */
hf_code one_base64_decode(const char *b64, unsigned char **out, size_t *outlen, hf_error *err);

/* Parses the (decoded) XML document. Absent attributes are NULL. */
hf_code one_driver_msg_parse_xml(const char *xml, size_t len, one_market_conf *conf,
                                 hf_error *err);

/* Both steps. */
hf_code one_driver_msg_parse(const char *b64, one_market_conf *conf, hf_error *err);

void one_market_conf_clear(one_market_conf *conf);

/* What an import needs to know of the datastore it fills, from the message
 * the datastore driver exports as DRV_ACTION (base64 of
 * <DS_DRIVER_ACTION_DATA><DATASTORE>...</DATASTORE>...). */
typedef struct {
    char *ds_mad;
    char *tm_mad;
    char *base_path;
    char *name;           /* DATASTORE/NAME */
    char *image_path;     /* IMAGE/PATH: what the image was made from (hf://...) */
    char *image_source;   /* IMAGE/SOURCE: where the datastore keeps it */
} one_datastore_info;

hf_code one_datastore_msg_parse(const char *b64, one_datastore_info *ds, hf_error *err);
void one_datastore_info_clear(one_datastore_info *ds);

#endif
