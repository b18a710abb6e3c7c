/* Decoding oned's driver message. */
#include <stdlib.h>

#include "one_app.h"
#include "one_driver_msg.h"
#include "unit.h"

static hf_code parse_xml(const char *xml, one_market_conf *c, hf_error *e)
{
    char *b64 = one_base64(xml, strlen(xml));
    hf_code rc = one_driver_msg_parse(b64, c, e);
    free(b64);
    return rc;
}

int main(void)
{
    one_market_conf c;
    hf_error e;
    const char *escaped =
        "<MARKET_DRIVER_ACTION_DATA><MARKETPLACE><ID>100</ID><NAME>HF &amp; co</NAME>"
        "<MARKET_MAD>hfhub</MARKET_MAD><TEMPLATE><HFHUB_AUTO_INDEX>YES</HFHUB_AUTO_INDEX>"
        "<HFHUB_LIMIT>100</HFHUB_LIMIT><HFHUB_ORG>ONEnextgen, mycompany-ai</HFHUB_ORG>"
        "<HFHUB_TASK>text-generation</HFHUB_TASK><MARKET_MAD>hfhub</MARKET_MAD></TEMPLATE>"
        "</MARKETPLACE></MARKET_DRIVER_ACTION_DATA>";
    CHECK(parse_xml(escaped, &c, &e) == HF_OK, "escaped-value message parses");
    CHECK_STR(c.org, "ONEnextgen, mycompany-ai", "HFHUB_ORG read");
    CHECK_STR(c.limit, "100", "HFHUB_LIMIT read");
    CHECK_STR(c.task, "text-generation", "HFHUB_TASK read");
    CHECK_STR(c.market_name, "HF & co", "XML entities decoded");
    CHECK_STR(c.market_id, "100", "MARKETPLACE/ID read");
    CHECK(c.collection == NULL && c.sort == NULL, "absent attributes are NULL");
    one_market_conf_clear(&c);

    const char *cdata =
        "<MARKET_DRIVER_ACTION_DATA><MARKETPLACE><TEMPLATE>"
        "<HFHUB_COLLECTION><![CDATA[ org/a-0123456789abcdef01234567 ]]></HFHUB_COLLECTION>"
        "<HFHUB_SORT><![CDATA[likes]]></HFHUB_SORT></TEMPLATE></MARKETPLACE>"
        "</MARKET_DRIVER_ACTION_DATA>";
    CHECK(parse_xml(cdata, &c, &e) == HF_OK, "CDATA message parses");
    CHECK_STR(c.collection, "org/a-0123456789abcdef01234567", "CDATA value read and trimmed");
    CHECK_STR(c.sort, "likes", "second CDATA value");
    one_market_conf_clear(&c);

    CHECK(one_driver_msg_parse("not base64!", &c, &e) == HF_ERR_INVALID &&
              strstr(e.msg, "base64"),
          "bad base64 refused with a message");
    CHECK(one_driver_msg_parse("QUJD=", &c, &e) == HF_ERR_INVALID, "bad base64 length refused");
    CHECK(one_driver_msg_parse("", &c, &e) == HF_ERR_INVALID, "empty message refused");
    CHECK(parse_xml("<MARKET_DRIVER_ACTION_DATA><MARKETPLACE>", &c, &e) == HF_ERR_INVALID &&
              strstr(e.msg, "XML"),
          "truncated XML refused");
    CHECK(parse_xml("<OTHER/>", &c, &e) == HF_ERR_INVALID && strstr(e.msg, "root"),
          "wrong root refused");
    CHECK(parse_xml("<MARKET_DRIVER_ACTION_DATA/>", &c, &e) == HF_ERR_INVALID,
          "missing MARKETPLACE refused");
    const char *xxe =
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
        "<MARKET_DRIVER_ACTION_DATA><MARKETPLACE><TEMPLATE><HFHUB_ORG>&e;</HFHUB_ORG>"
        "</TEMPLATE></MARKETPLACE></MARKET_DRIVER_ACTION_DATA>";
    CHECK(parse_xml(xxe, &c, &e) == HF_ERR_INVALID && strstr(e.msg, "DOCTYPE"),
          "DOCTYPE / external entity refused");
    unsigned char *out;
    size_t len;
    CHECK(one_base64_decode("SGVs\nbG8=", &out, &len, &e) == HF_OK && len == 5 &&
              !memcmp(out, "Hello", 5),
          "base64 with a line break decodes");
    free(out);
    UNIT_DONE();
}
