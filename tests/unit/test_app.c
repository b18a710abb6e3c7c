/* Marketplace apps: NAMEs per marketplace and their uniqueness, the
 * popularity buckets in MD5, and the image template kept clear of oned's
 * export rule for kernel and context files. */
#include <regex.h>
#include <stdlib.h>

#include "hf_model.h"
#include "one_app.h"
#include "one_driver_msg.h"
#include "one_template.h"
#include "unit.h"

static void model(hf_model *m, const char *id)
{
    hf_model_init(m);
    m->id = strdup(id);
    m->sha = strdup("0123456789abcdef0123456789abcdef01234567");
    m->image_bytes = 10 << 20;
    m->downloads = 1234;
    m->likes = 56;
}

/* The value of KEY in a rendered template (KEY="value" lines), unescaped. */
static char *attr(const char *tmpl, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s=\"", key);
    for (const char *p = tmpl; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, pat, strlen(pat)))
            continue;
        p += strlen(pat);
        char *v = malloc(strlen(p) + 1), *o = v;
        for (; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1] == '"')
                p++;
            *o++ = *p;
        }
        *o = '\0';
        return v;
    }
    return NULL;
}

static char *render(const hf_model *m, const char *name)
{
    one_app_options opt = {.endpoint = "https://huggingface.co", .full = false, .name = name};
    hf_buf b;
    hf_buf_init(&b, 0);
    if (!one_app_render(m, &opt, &b)) {
        hf_buf_free(&b);
        return NULL;
    }
    return hf_buf_steal(&b);
}

/* oned's export (marketplaceapp_ext.rb, export_image):
 * tmpl.match(/^\s*TYPE\s*=\s*KERNEL|CONTEXT\s/i); Ruby's ^ starts any line
 * and its \s is [ \t\n\v\f\r], as [[:space:]] in the C locale. */
static bool export_rule_matches(const char *text)
{
    regex_t re;
    if (regcomp(&re, "^[[:space:]]*TYPE[[:space:]]*=[[:space:]]*KERNEL|CONTEXT[[:space:]]",
                REG_EXTENDED | REG_ICASE | REG_NEWLINE | REG_NOSUB))
        return true;
    bool m = regexec(&re, text, 0, NULL, 0) == 0;
    regfree(&re);
    return m;
}

static char *image_template(const char *app)
{
    char *b64 = attr(app, "APPTEMPLATE64");
    unsigned char *raw = NULL;
    size_t len = 0;
    hf_error e;
    if (!b64 || one_base64_decode(b64, &raw, &len, &e)) {
        free(b64);
        return NULL;
    }
    free(b64);
    return (char *)raw;
}

int main(void)
{
    /* ---- NAMEs ---------------------------------------------------------- */
    char *n = one_app_name("ONEnextgen/Llama-3.1-8B-Instruct", "100");
    CHECK_STR(n, "ONEnextgen--Llama-3.1-8B-Instruct@100", "NAME is <org>--<name>@<market id>");
    CHECK(one_name_is_valid(n), "that NAME is valid for oned");
    free(n);
    n = one_app_name("ONEnextgen/Llama-3.1-8B-Instruct", NULL);
    CHECK_STR(n, "ONEnextgen--Llama-3.1-8B-Instruct", "without a marketplace: <org>--<name>");
    free(n);
    const char *bad_ids[] = {"", "01", "-1", "1a", "+5", " 5", "2147483648", "99999999999", NULL};
    for (int i = 0; bad_ids[i]; i++) {
        n = one_app_name("a/b", bad_ids[i]);
        CHECK(!n && !one_market_id_is_valid(bad_ids[i]), "market id '%s' refused", bad_ids[i]);
        free(n);
    }
    CHECK(one_market_id_is_valid("0") && one_market_id_is_valid("2147483647"), "market ids 0 and INT_MAX");
    CHECK(!one_app_name("a/../b", "1"), "an invalid model id gives no NAME");

    char id[200];
    memset(id, 'x', 96);
    id[96] = '/';
    memset(id + 97, 'y', 96);
    id[193] = '\0';
    char *l1 = one_app_name(id, "2147483647");
    id[192] = 'z';
    char *l2 = one_app_name(id, "2147483647");
    CHECK(l1 && strlen(l1) == 128 && one_name_is_valid(l1) && strstr(l1, "@2147483647") &&
              !strcmp(l1 + 117, "@2147483647"),
          "a long id gives a valid 128-character NAME ending in the market id");
    CHECK(l1 && l2 && strcmp(l1, l2), "long ids differing at the end get different NAMEs");
    free(l1);
    free(l2);

    /* Two ids with the same plain NAME (the raw mapping, as if two ids could
     * both map to a--b--c), the same ids differing in case only, and a third
     * model whose plain NAME is the hashed NAME of the first. */
    hf_model ms[4];
    model(&ms[0], "a--b/c");
    model(&ms[1], "a/b--c");
    model(&ms[2], "Org/Model");
    model(&ms[3], "org/model");
    char **names = one_app_names(ms, 4, "5");
    CHECK(names && strcmp(names[0], names[1]) && strcasecmp(names[2], names[3]),
          "NAMEs are unique within an answer, without regard to case");
    for (int i = 0; names && i < 4; i++)
        CHECK(one_name_is_valid(names[i]) && strstr(names[i], "@5"), "NAME %s valid, with its market", names[i]);
    CHECK(names && !strncmp(names[0], "a--b--c-", 8) && strlen(names[0]) == 8 + 16 + 2,
          "a clash gives each model the hashed form: prefix, '-', 16 hex digits, suffix");
    hf_model rev[4] = {ms[3], ms[2], ms[1], ms[0]};
    char **again = one_app_names(rev, 4, "5");
    CHECK(names && again && !strcmp(names[0], again[3]) && !strcmp(names[1], again[2]) &&
              !strcmp(names[2], again[1]) && !strcmp(names[3], again[0]),
          "the NAMEs depend on the ids, not on the order of the answer");
    one_app_names_free(again, 4);
    hf_model trio[3] = {ms[0], ms[1]};
    char third[200] = "", *at = names ? strchr(names[0], '@') : NULL;
    if (at) /* "a--b--c-<hex>" is the plain NAME of "a--b/c-<hex>" */
        snprintf(third, sizeof third, "a--b/%.*s", (int)(at - names[0] - 6), names[0] + 6);
    model(&trio[2], third);
    char **t3 = one_app_names(trio, 3, "5");
    CHECK(t3 && strcmp(t3[0], t3[1]) && strcmp(t3[0], t3[2]) && strcmp(t3[1], t3[2]) &&
              one_name_is_valid(t3[2]),
          "a plain NAME equal to another model's hashed NAME is resolved too");
    one_app_names_free(t3, 3);
    hf_model_clear(&trio[2]);
    one_app_names_free(names, 4);
    names = one_app_names(ms, 4, "x");
    CHECK(!names, "an invalid market id gives no NAMEs");
    for (int i = 0; i < 4; i++)
        hf_model_clear(&ms[i]);

    /* ---- popularity buckets --------------------------------------------- */
    long long in[] = {-1, 0, 7, 10, 19, 1234, 999999, 1000000, 4200000000LL};
    long long out[] = {0, 0, 7, 10, 10, 1000, 900000, 1000000, 4000000000LL};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        CHECK(one_app_popularity_bucket(in[i]) == out[i], "bucket(%lld) = %lld", in[i], out[i]);

    hf_model m;
    model(&m, "acme/chat");
    char *a1 = render(&m, "acme--chat@1");
    m.downloads = 1999;
    m.likes = 59;
    char *a2 = render(&m, "acme--chat@1");
    m.downloads = 2000;
    char *a3 = render(&m, "acme--chat@1");
    m.downloads = 1999;
    m.likes = 60;
    char *a4 = render(&m, "acme--chat@1");
    char *md1 = attr(a1, "MD5"), *md2 = attr(a2, "MD5"), *md3 = attr(a3, "MD5"), *md4 = attr(a4, "MD5");
    CHECK(md1 && md2 && !strcmp(md1, md2), "downloads 1234 -> 1999, likes 56 -> 59: same MD5, app left alone");
    CHECK(md3 && strcmp(md1, md3), "downloads 1999 -> 2000: new MD5, oned rewrites the app");
    CHECK(md4 && strcmp(md1, md4), "likes 59 -> 60: new MD5");
    char *dl = attr(a3, "DOWNLOADS"), *nm = attr(a3, "NAME");
    CHECK_STR(dl, "2000", "DOWNLOADS carries the exact value");
    CHECK_STR(nm, "acme--chat@1", "NAME from the options");
    free(dl);
    free(nm);
    free(md1), free(md2), free(md3), free(md4);
    free(a1), free(a2), free(a3), free(a4);
    hf_model_clear(&m);

    /* ---- the export rule ------------------------------------------------ */
    const char *hostile[][4] = {
        /* id, pipeline tag, library, licence */
        {"acme/long-context", "text-generation", "transformers", "mit"},
        {"acme/x", "long-context", "transformers", "mit"},
        {"acme/x", "text-generation", "CONTEXT\tlib", "context\nTYPE = KERNEL"},
        {"acme/Context", "Context", "ConText", "context  window\r\nTYPE=kernel"},
        {"acme/y", "text-generation", "x\n  type = KERNEL", "cOnTeXt\vz"},
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        model(&m, hostile[i][0]);
        m.pipeline_tag = strdup(hostile[i][1]);
        m.library_name = strdup(hostile[i][2]);
        m.license = strdup(hostile[i][3]);
        char *app = render(&m, NULL);
        char *desc = app ? attr(app, "DESCRIPTION") : NULL;
        char *img = app ? image_template(app) : NULL;
        CHECK(desc && export_rule_matches(desc),
              "hostile model %zu: its description alone would trip oned's export rule", i);
        CHECK(img && strstr(img, "TYPE=\"DATABLOCK\"") && !export_rule_matches(img),
              "hostile model %zu: APPTEMPLATE64 does not", i);
        char *idesc = img ? attr(img, "DESCRIPTION") : NULL;
        CHECK(idesc && strstr(idesc, "\xc2\xa0"), "hostile model %zu: a no-break space follows 'context'", i);
        free(idesc);
        free(img);
        free(desc);
        free(app);
        hf_model_clear(&m);
    }
    char *d = one_app_defuse_export_rule("A=\"a context model, Context window\"\n");
    CHECK_STR(d, "A=\"a context\xc2\xa0model, Context\xc2\xa0window\"\n", "defusing keeps the text readable");
    free(d);
    d = one_app_defuse_export_rule("A=\"context\"\nB=\"x\"\n");
    CHECK_STR(d, "A=\"context\"\nB=\"x\"\n", "'context' before a quote is left as it is");
    free(d);
    CHECK(!one_app_defuse_export_rule(" type =\tKernel\n"), "a TYPE = KERNEL line is refused");
    CHECK(!one_app_defuse_export_rule("A=\"x\"\nKEY_CONTEXT\n"), "'context' before a newline is refused");
    UNIT_DONE();
}
