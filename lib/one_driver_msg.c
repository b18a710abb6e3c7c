/* Driver message decoding (see one_driver_msg.h). */
#include "one_driver_msg.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

hf_code one_base64_decode(const char *b64, unsigned char **out, size_t *outlen, hf_error *err)
{
    *out = NULL;
    *outlen = 0;
    size_t n = strlen(b64);
    if (n > ONE_DRIVER_MSG_MAX * 2)
        return hf_error_set(err, HF_ERR_INVALID, "the driver message is larger than %zu bytes",
                            ONE_DRIVER_MSG_MAX * 2);
    char *clean = malloc(n + 1);
    if (!clean)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = b64[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || c == '=';
        if (!ok || (k > 0 && clean[k - 1] == '=' && c != '=')) {
            free(clean);
            return hf_error_set(err, HF_ERR_INVALID,
                                "the driver message is not valid base64 (unexpected character "
                                "at offset %zu)",
                                i);
        }
        clean[k++] = c;
    }
    clean[k] = '\0';
    size_t pad = 0;
    while (pad < k && pad < 3 && clean[k - 1 - pad] == '=')
        pad++;
    if (k == 0 || k % 4 != 0 || pad > 2) {
        free(clean);
        return hf_error_set(err, HF_ERR_INVALID,
                            "the driver message is not valid base64 (length %zu is not a "
                            "multiple of 4, or it is empty)",
                            k);
    }
    unsigned char *buf = malloc(k / 4 * 3 + 1);
    if (!buf) {
        free(clean);
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    }
    int len = EVP_DecodeBlock(buf, (unsigned char *)clean, (int)k);
    free(clean);
    if (len < 0) {
        free(buf);
        return hf_error_set(err, HF_ERR_INVALID, "the driver message is not valid base64");
    }
    len -= (int)pad;
    buf[len] = '\0';
    *out = buf;
    *outlen = (size_t)len;
    return HF_OK;
}

static xmlNode *child(xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent ? parent->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
            return c;
    return NULL;
}

static hf_code take(xmlNode *parent, const char *name, char **dst, hf_error *err)
{
    xmlNode *n = child(parent, name);
    if (!n)
        return HF_OK;
    xmlChar *v = xmlNodeGetContent(n);
    if (!v)
        return HF_OK;
    /* trim surrounding blanks */
    char *s = (char *)v;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' ||
                   s[len - 1] == '\r'))
        len--;
    *dst = strndup(s, len);
    xmlFree(v);
    return *dst ? HF_OK : hf_error_set(err, HF_ERR_NOMEM, "out of memory");
}

/* Parses an oned message: no network, no entity substitution, no DTD. */
static hf_code load_doc(const char *xml, size_t len, const char *root_name, xmlDoc **out,
                        hf_error *err)
{
    *out = NULL;
    if (len > ONE_DRIVER_MSG_MAX)
        return hf_error_set(err, HF_ERR_INVALID, "the driver message is larger than %zu bytes",
                            ONE_DRIVER_MSG_MAX);
    if (memchr(xml, '\0', len))
        return hf_error_set(err, HF_ERR_INVALID, "the driver message contains a NUL byte");
    xmlDoc *doc = xmlReadMemory(xml, (int)len, "driver-message.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return hf_error_set(err, HF_ERR_INVALID,
                            "the driver message is not well-formed XML; is this called by oned's "
                            "driver with the base64 driver message?");
    if (doc->intSubset || doc->extSubset) {
        xmlFreeDoc(doc);
        return hf_error_set(err, HF_ERR_INVALID,
                            "the driver message has a DOCTYPE; oned never sends one, refusing it");
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || strcmp((const char *)root->name, root_name)) {
        xmlFreeDoc(doc);
        return hf_error_set(err, HF_ERR_INVALID, "the driver message's root element is not %s",
                            root_name);
    }
    *out = doc;
    return HF_OK;
}

hf_code one_driver_msg_parse_xml(const char *xml, size_t len, one_market_conf *conf,
                                 hf_error *err)
{
    memset(conf, 0, sizeof *conf);
    xmlDoc *doc;
    hf_code rc = load_doc(xml, len, "MARKET_DRIVER_ACTION_DATA", &doc, err);
    if (rc)
        return rc;
    xmlNode *market = child(xmlDocGetRootElement(doc), "MARKETPLACE");
    if (!market) {
        rc = hf_error_set(err, HF_ERR_INVALID, "the driver message has no MARKETPLACE element");
        goto out;
    }
    xmlNode *tmpl = child(market, "TEMPLATE");
    if ((rc = take(market, "ID", &conf->market_id, err)) ||
        (rc = take(market, "MARKET_MAD", &conf->market_mad, err)) ||
        (rc = take(market, "NAME", &conf->market_name, err)) ||
        (rc = take(tmpl, "HFHUB_ORG", &conf->org, err)) ||
        (rc = take(tmpl, "HFHUB_COLLECTION", &conf->collection, err)) ||
        (rc = take(tmpl, "HFHUB_TASK", &conf->task, err)) ||
        (rc = take(tmpl, "HFHUB_SEARCH", &conf->search, err)) ||
        (rc = take(tmpl, "HFHUB_LIMIT", &conf->limit, err)) ||
        (rc = take(tmpl, "HFHUB_AUTO_INDEX", &conf->auto_index, err)) ||
        (rc = take(tmpl, "HFHUB_SORT", &conf->sort, err)) ||
        (rc = take(tmpl, "HFHUB_DIRECTION", &conf->direction, err)) ||
        (rc = take(tmpl, "HFHUB_FULL", &conf->full, err)))
        goto out;
out:
    xmlFreeDoc(doc);
    if (rc)
        one_market_conf_clear(conf);
    return rc;
}

hf_code one_datastore_msg_parse(const char *b64, one_datastore_info *ds, hf_error *err)
{
    memset(ds, 0, sizeof *ds);
    unsigned char *xml;
    size_t len;
    hf_code rc = one_base64_decode(b64, &xml, &len, err);
    if (rc)
        return rc;
    xmlDoc *doc;
    rc = load_doc((const char *)xml, len, "DS_DRIVER_ACTION_DATA", &doc, err);
    free(xml);
    if (rc)
        return rc;
    xmlNode *d = child(xmlDocGetRootElement(doc), "DATASTORE");
    xmlNode *img = child(xmlDocGetRootElement(doc), "IMAGE");
    if ((rc = take(d, "DS_MAD", &ds->ds_mad, err)) || (rc = take(d, "TM_MAD", &ds->tm_mad, err)) ||
        (rc = take(d, "BASE_PATH", &ds->base_path, err)) ||
        (rc = take(d, "NAME", &ds->name, err)) ||
        (rc = take(img, "PATH", &ds->image_path, err)) ||
        (rc = take(img, "SOURCE", &ds->image_source, err)))
        one_datastore_info_clear(ds);
    xmlFreeDoc(doc);
    return rc;
}

void one_datastore_info_clear(one_datastore_info *ds)
{
    free(ds->ds_mad);
    free(ds->tm_mad);
    free(ds->base_path);
    free(ds->name);
    free(ds->image_path);
    free(ds->image_source);
    memset(ds, 0, sizeof *ds);
}

hf_code one_driver_msg_parse(const char *b64, one_market_conf *conf, hf_error *err)
{
    memset(conf, 0, sizeof *conf);
    unsigned char *xml;
    size_t len;
    hf_code rc = one_base64_decode(b64, &xml, &len, err);
    if (rc)
        return rc;
    rc = one_driver_msg_parse_xml((const char *)xml, len, conf, err);
    free(xml);
    return rc;
}

void one_market_conf_clear(one_market_conf *c)
{
    free(c->market_id);
    free(c->market_mad);
    free(c->market_name);
    free(c->org);
    free(c->collection);
    free(c->task);
    free(c->search);
    free(c->limit);
    free(c->auto_index);
    free(c->sort);
    free(c->direction);
    free(c->full);
    memset(c, 0, sizeof *c);
}
