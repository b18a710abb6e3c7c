/* Marketplace app rendering (see one_app.h). */
#include "one_app.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hf_sizing.h"
#include "one_template.h"

#define NAME_MAX_LEN 128
#define TEXT_MAX 1024
#define TAGS_MAX 2048

char *one_base64(const void *data, size_t len)
{
    size_t outlen = 4 * ((len + 2) / 3) + 1;
    unsigned char *out = malloc(outlen);
    if (!out)
        return NULL;
    EVP_EncodeBlock(out, data, (int)len);
    return (char *)out;
}

static void hex_digest(const EVP_MD *md, const void *data, size_t len, char *hex, size_t hexsz)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    hex[0] = '\0';
    if (!EVP_Digest(data, len, d, &n, md, NULL))
        return;
    for (unsigned i = 0; i < n && 2 * i + 2 < hexsz; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

char *one_app_name(const char *model_id)
{
    char name[NAME_MAX_LEN + 1];
    const char *slash = strchr(model_id, '/');
    if (!slash)
        return NULL;
    int n = snprintf(name, sizeof name, "%.*s--%s", (int)(slash - model_id), model_id, slash + 1);
    if (n < 0)
        return NULL;
    if ((size_t)n > NAME_MAX_LEN) {
        char hex[65];
        hex_digest(EVP_sha256(), model_id, strlen(model_id), hex, sizeof hex);
        char full[300];
        snprintf(full, sizeof full, "%.*s--%s", (int)(slash - model_id), model_id, slash + 1);
        /* 111 characters of the id, '-', 16 hex digits = 128 */
        snprintf(name, sizeof name, "%.111s-%.16s", full, hex);
    }
    return one_name_is_valid(name) ? strdup(name) : NULL;
}

bool one_app_is_certified(const char *model_id)
{
    size_t n = strlen(ONE_CERTIFIED_ORG);
    return !strncasecmp(model_id, ONE_CERTIFIED_ORG, n) && model_id[n] == '/';
}

static const char *chat_template_word(const hf_model *m)
{
    return m->chat_template == HF_TRI_YES ? "YES"
           : m->chat_template == HF_TRI_NO ? "NO"
                                           : "UNKNOWN";
}

static void human_count(int64_t v, char *out, size_t outsz)
{
    if (v >= 1000000000)
        snprintf(out, outsz, "%.1fB", (double)v / 1e9);
    else if (v >= 1000000)
        snprintf(out, outsz, "%.1fM", (double)v / 1e6);
    else if (v >= 1000)
        snprintf(out, outsz, "%.1fK", (double)v / 1e3);
    else
        snprintf(out, outsz, "%lld", (long long)v);
}

static void description(const hf_model *m, hf_buf *b)
{
    hf_buf_printf(b, "%s model %s", m->pipeline_tag ? m->pipeline_tag : "Hugging Face", m->id);
    const char *sep = " (";
    if (m->parameters > 0) {
        char p[32];
        human_count(m->parameters, p, sizeof p);
        hf_buf_printf(b, "%s%s parameters", sep, p);
        sep = ", ";
    }
    if (m->library_name) {
        hf_buf_printf(b, "%s%s", sep, m->library_name);
        sep = ", ";
    }
    if (m->license) {
        hf_buf_printf(b, "%slicense %s", sep, m->license);
        sep = ", ";
    }
    if (m->gated && strcmp(m->gated, "no")) {
        hf_buf_printf(b, "%sgated: needs an approved HF_TOKEN", sep);
        sep = ", ";
    }
    if (strcmp(sep, " ("))
        hf_buf_puts(b, ")");
}

/* What identifies this version of the app: the commit and every field we
 * derive from it, but not the counters (downloads, likes) that move daily. */
static void app_md5(const hf_model *m, const one_app_options *opt, char *hex, size_t hexsz)
{
    hf_buf b;
    hf_buf_init(&b, 0);
    hf_buf_printf(&b, "%s\n%s\n%s\n%lld\n%s\n%s\n%s\n%s\n%s\n%s\n%lld\n%d\n", opt->endpoint,
                  m->id, m->sha ? m->sha : "", (long long)m->image_bytes,
                  m->license ? m->license : "", m->license_name ? m->license_name : "",
                  m->pipeline_tag ? m->pipeline_tag : "", m->library_name ? m->library_name : "",
                  m->gated ? m->gated : "", m->is_private ? "private" : "public",
                  (long long)m->parameters, opt->full ? (int)m->chat_template : 9);
    for (size_t i = 0; i < m->n_tags; i++)
        hf_buf_printf(&b, "%s\n", m->tags[i]);
    hex_digest(EVP_md5(), b.data ? b.data : "", b.len, hex, hexsz);
    hf_buf_free(&b);
}

static char *image_template64(const hf_model *m, const char *desc)
{
    hf_buf t;
    hf_buf_init(&t, 0);
    one_template_add(&t, "TYPE", "DATABLOCK", 0);
    one_template_add(&t, "DEV_PREFIX", "vd", 0);
    one_template_add(&t, "DESCRIPTION", desc, TEXT_MAX);
    one_template_add(&t, "HF_MODEL_ID", m->id, 0);
    one_template_add(&t, "HF_COMMIT", m->sha ? m->sha : "", 0);
    char *b64 = t.overflow ? NULL : one_base64(t.data, t.len);
    hf_buf_free(&t);
    return b64;
}

bool one_app_render(const hf_model *m, const one_app_options *opt, hf_buf *out)
{
    char *name = one_app_name(m->id);
    if (!name || !m->sha || m->image_bytes < 0) {
        free(name);
        return false;
    }
    char md5[33], source[400], version[16], link[1200];
    app_md5(m, opt, md5, sizeof md5);
    snprintf(source, sizeof source, "hf://%s@%s", m->id, m->sha);
    snprintf(version, sizeof version, "%.12s", m->sha);
    snprintf(link, sizeof link, "%s/%s", opt->endpoint, m->id);
    int64_t regtime = hf_model_parse_time(m->last_modified);
    if (regtime < 0)
        regtime = hf_model_parse_time(m->created_at);
    hf_buf desc;
    hf_buf_init(&desc, 0);
    description(m, &desc);
    hf_buf tags;
    hf_buf_init(&tags, 0);
    for (size_t i = 0; i < m->n_tags; i++)
        hf_buf_printf(&tags, "%s%s", i ? "," : "", m->tags[i]);

    one_template_add(out, "NAME", name, 0);
    one_template_add(out, "TYPE", "IMAGE", 0);
    one_template_add(out, "SOURCE", source, 0);
    one_template_add(out, "FORMAT", "qcow2", 0);
    one_template_add_int(out, "SIZE", (long long)hf_sizing_mib((uint64_t)m->image_bytes));
    one_template_add(out, "MD5", md5, 0);
    one_template_add(out, "VERSION", version, 0);
    one_template_add_int(out, "REGTIME", regtime > 0 ? (long long)regtime : 0);
    one_template_add(out, "DESCRIPTION", desc.data ? desc.data : "", TEXT_MAX);
    one_template_add(out, "PUBLISHER", m->author ? m->author : "", 200);
    one_template_add(out, "LINK", link, 0);
    one_template_add(out, "TAGS", tags.data ? tags.data : "", TAGS_MAX);
    one_template_add_int(out, "ORIGIN_ID", -1);
    one_template_add_int(out, "IMPORT_ID", -1);
    char *tmpl64 = image_template64(m, desc.data ? desc.data : "");
    one_template_add(out, "APPTEMPLATE64", tmpl64 ? tmpl64 : "", 0);
    free(tmpl64);
    /* the spec's metadata table */
    one_template_add(out, "MODEL_ID", m->id, 0);
    one_template_add(out, "TASK", m->pipeline_tag ? m->pipeline_tag : "unknown", 200);
    one_template_add(out, "LICENSE", m->license ? m->license : "unknown", 200);
    if (m->license_name)
        one_template_add(out, "LICENSE_NAME", m->license_name, 200);
    if (m->license_link)
        one_template_add(out, "LICENSE_LINK", m->license_link, 500);
    one_template_add_int(out, "DOWNLOADS", m->downloads >= 0 ? m->downloads : 0);
    one_template_add(out, "LAST_MODIFIED", m->last_modified ? m->last_modified : "", 64);
    if (opt->full)
        one_template_add(out, "HAS_CHAT_TEMPLATE", chat_template_word(m), 0);
    one_template_add(out, "HF_URL", link, 0);
    one_template_add(out, "METADATA_ONLY", "YES", 0);
    one_template_add(out, "OPENNEBULA_CERTIFIED", one_app_is_certified(m->id) ? "YES" : "NO", 0);
    /* extras */
    one_template_add_int(out, "LIKES", m->likes >= 0 ? m->likes : 0);
    one_template_add(out, "GATED", m->gated && strcmp(m->gated, "no") ? m->gated : "no", 0);
    if (m->library_name)
        one_template_add(out, "LIBRARY", m->library_name, 200);
    if (m->parameters >= 0)
        one_template_add_int(out, "PARAMETERS", m->parameters);
    one_template_add(out, "HF_COMMIT", m->sha, 0);
    if (m->files >= 0)
        one_template_add_int(out, "FILES", m->files);
    if (m->files_bytes >= 0)
        one_template_add_int(out, "FILES_BYTES", m->files_bytes);

    free(name);
    hf_buf_free(&desc);
    hf_buf_free(&tags);
    return !out->overflow;
}

bool one_app_render_line(const hf_model *m, const one_app_options *opt, hf_buf *out)
{
    hf_buf t;
    hf_buf_init(&t, 0);
    bool ok = one_app_render(m, opt, &t);
    char *b64 = ok ? one_base64(t.data, t.len) : NULL;
    if (b64)
        ok = hf_buf_printf(out, "APP=\"%s\"\n", b64);
    else
        ok = false;
    free(b64);
    hf_buf_free(&t);
    return ok;
}
