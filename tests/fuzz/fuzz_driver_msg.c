/* libFuzzer target: oned's driver messages (base64 + XML), outside input:
 * the market MAD's message and the datastore driver's DRV_ACTION. */
#include <stdint.h>

#include "fuzz_util.h"
#include <stdlib.h>
#include <string.h>

#include "one_driver_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one_market_conf c;
    hf_error e;
    /* as raw XML */
    if (one_driver_msg_parse_xml((const char *)data, size, &c, &e) == HF_OK)
        one_market_conf_clear(&c);
    /* as base64 text */
    char *s = fuzz_cstr(data, size);
    if (!s)
        return 0;
    if (one_driver_msg_parse(s, &c, &e) == HF_OK)
        one_market_conf_clear(&c);
    /* the datastore driver's DRV_ACTION goes through the same parser */
    one_datastore_info ds;
    if (one_datastore_msg_parse(s, &ds, &e) == HF_OK)
        one_datastore_info_clear(&ds);
    free(s);
    return 0;
}
