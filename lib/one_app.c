/* Marketplace app rendering (see one_app.h). */
#define _GNU_SOURCE /* qsort_r */
#include "one_app.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hf_repo_id.h"
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

bool one_market_id_is_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > 10 || (id[0] == '0' && n > 1) || strspn(id, "0123456789") != n)
        return false;
    return strtoll(id, NULL, 10) <= INT_MAX;
}

/* "<org>--<name>" of a valid id, or NULL. */
static bool name_base(const char *model_id, char *out, size_t outsz)
{
    if (!hf_repo_id_is_valid(model_id))
        return false;
    const char *slash = strchr(model_id, '/');
    int n = snprintf(out, outsz, "%.*s--%s", (int)(slash - model_id), model_id, slash + 1);
    return n > 0 && (size_t)n < outsz;
}

/* base + suffix, or its hashed form when hashed is set or it is too long. */
static char *name_compose(const char *model_id, const char *base, const char *suffix, bool hashed)
{
    char name[NAME_MAX_LEN + 1];
    size_t blen = strlen(base), slen = strlen(suffix);
    if (!hashed && blen + slen <= NAME_MAX_LEN) {
        memcpy(name, base, blen); /* fits: checked above */
        memcpy(name + blen, suffix, slen + 1);
    } else {
        char hex[65];
        hex_digest(EVP_sha256(), model_id, strlen(model_id), hex, sizeof hex);
        size_t room = NAME_MAX_LEN - slen - 17; /* '-' and 16 hex digits */
        snprintf(name, sizeof name, "%.*s-%.16s%s", (int)(blen < room ? blen : room), base, hex,
                 suffix);
    }
    return one_name_is_valid(name) ? strdup(name) : NULL;
}

static bool name_suffix(const char *market_id, char *out, size_t outsz)
{
    if (!market_id) {
        out[0] = '\0';
        return true;
    }
    if (!one_market_id_is_valid(market_id))
        return false;
    snprintf(out, outsz, "@%s", market_id);
    return true;
}

char *one_app_name(const char *model_id, const char *market_id)
{
    char base[256], suffix[16];
    if (!model_id || !name_base(model_id, base, sizeof base) ||
        !name_suffix(market_id, suffix, sizeof suffix))
        return NULL;
    return name_compose(model_id, base, suffix, false);
}

void one_app_names_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

static int cmp_name_index(const void *a, const void *b, void *arg)
{
    char **names = arg;
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    int c = strcasecmp(names[ia], names[ib]);
    return c ? c : (ia > ib) - (ia < ib);
}

char **one_app_names(const hf_model *models, size_t n, const char *market_id)
{
    char suffix[16];
    if (!name_suffix(market_id, suffix, sizeof suffix))
        return NULL;
    char **names = calloc(n ? n : 1, sizeof *names);
    bool *hashed = calloc(n ? n : 1, sizeof *hashed);
    size_t *order = calloc(n ? n : 1, sizeof *order);
    bool ok = names && hashed && order;
    /* The raw mapping, which needs no id to be a valid Hub id: the catalog
     * only holds valid ids, but the uniqueness rule must not rely on it. */
    for (size_t i = 0; ok && i < n; i++) {
        char base[256];
        const char *id = models[i].id ? models[i].id : "";
        const char *slash = strchr(id, '/');
        if (!slash || snprintf(base, sizeof base, "%.*s--%s", (int)(slash - id), id, slash + 1) >=
                          (int)sizeof base) {
            ok = false;
            break;
        }
        ok = (names[i] = name_compose(id, base, suffix, false)) != NULL;
    }
    /* Equal NAMEs: each member of the group takes its hashed form. A hashed
     * NAME may in turn meet another model's plain NAME, hence the rounds;
     * after the second, only a SHA-256 prefix collision is left. */
    for (int round = 0; ok; round++) {
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        if (n > 1)
            qsort_r(order, n, sizeof *order, cmp_name_index, names);
        bool changed = false;
        for (size_t k = 0; k + 1 < n; k++) {
            size_t a = order[k], b = order[k + 1];
            if (strcasecmp(names[a], names[b]))
                continue;
            if (round >= 3 || (hashed[a] && hashed[b])) {
                ok = false;
                break;
            }
            for (size_t j = 0; j < 2; j++) {
                size_t i = j ? b : a;
                if (hashed[i])
                    continue;
                char *cut = strdup(names[i]);
                if (cut)
                    cut[strlen(cut) - strlen(suffix)] = '\0';
                char *h = cut ? name_compose(models[i].id, cut, suffix, true) : NULL;
                free(cut);
                if (!h) {
                    ok = false;
                    break;
                }
                free(names[i]);
                names[i] = h;
                hashed[i] = changed = true;
            }
            if (!ok)
                break;
        }
        if (!changed)
            break;
    }
    free(hashed);
    free(order);
    if (!ok) {
        one_app_names_free(names, n);
        return NULL;
    }
    return names;
}

long long one_app_popularity_bucket(long long v)
{
    if (v <= 0)
        return 0;
    long long p = 1;
    while (v / p >= 10)
        p *= 10;
    return v / p * p;
}

static bool is_ruby_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

char *one_app_defuse_export_rule(const char *tmpl)
{
    hf_buf b;
    hf_buf_init(&b, 0);
    const char *line = tmpl;
    for (const char *p = tmpl; *p; p++) {
        if (p == line) {
            /* ^\s*TYPE\s*=\s*KERNEL: our lines start with our own keys */
            const char *q = p;
            while (*q == ' ' || *q == '\t' || *q == '\v' || *q == '\f' || *q == '\r')
                q++;
            if (!strncasecmp(q, "TYPE", 4)) {
                q += 4;
                while (is_ruby_space(*q))
                    q++;
                if (*q == '=') {
                    q++;
                    while (is_ruby_space(*q))
                        q++;
                    if (!strncasecmp(q, "KERNEL", 6)) {
                        hf_buf_free(&b);
                        return NULL;
                    }
                }
            }
        }
        if (*p == '\n')
            line = p + 1;
        hf_buf_append(&b, p, 1);
        if (p - tmpl >= 6 && !strncasecmp(p - 6, "CONTEXT", 7) && is_ruby_space(p[1])) {
            if (p[1] != ' ') {
                /* values hold no control characters: not a template of ours */
                hf_buf_free(&b);
                return NULL;
            }
            hf_buf_puts(&b, "\xc2\xa0"); /* U+00A0 instead of the space */
            p++;
        }
    }
    bool overflow = b.overflow;
    char *out = b.data ? hf_buf_steal(&b) : strdup("");
    hf_buf_free(&b);
    if (overflow) {
        free(out);
        return NULL;
    }
    return out;
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
 * derive from it, and the popularity buckets of the counters (downloads,
 * likes), not their exact values, which move daily. */
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
    hf_buf_printf(&b, "popularity %lld %lld\n", one_app_popularity_bucket(m->downloads),
                  one_app_popularity_bucket(m->likes));
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
    char *safe = t.overflow || !t.data ? NULL : one_app_defuse_export_rule(t.data);
    char *b64 = safe ? one_base64(safe, strlen(safe)) : NULL;
    free(safe);
    hf_buf_free(&t);
    return b64;
}

bool one_app_render(const hf_model *m, const one_app_options *opt, hf_buf *out)
{
    char *name = opt->name ? strdup(opt->name) : one_app_name(m->id, NULL);
    if (!name || !one_name_is_valid(name) || !m->sha || m->image_bytes < 0) {
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
    if (!tmpl64)
        out->overflow = true; /* never an app without its image template */
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
