/* Shared program helpers (see tool_common.h). */
#include "tool_common.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hf_http.h"
#include "hf_sizing.h"
#include "one_app.h"

void tool_progress_init(tool_progress *p, const char *prog, bool enabled)
{
    p->prog = prog;
    p->enabled = enabled;
    p->tty = isatty(STDERR_FILENO);
    p->last = 0;
}

void tool_progress_cb(void *user, const char *phase, size_t done, size_t total)
{
    tool_progress *p = user;
    if (!p->enabled)
        return;
    double now = hf_http_now();
    if (p->tty) {
        if (total)
            fprintf(stderr, "\r%s: %s %zu/%zu\033[K", p->prog, phase, done, total);
        else
            fprintf(stderr, "\r%s: %s...\033[K", p->prog, phase);
        if (total && done == total)
            fputc('\n', stderr);
    } else if (now - p->last >= 5.0 || (total && done == total)) {
        /* logs get a plain line, at most every few seconds */
        if (total)
            fprintf(stderr, "%s: %s %zu/%zu\n", p->prog, phase, done, total);
        else
            fprintf(stderr, "%s: %s\n", p->prog, phase);
        p->last = now;
    }
}

/* Terminal-safe copy padded to width characters: control characters
 * become '?', and a multi-byte character is copied whole or not at all. */
static void cell(hf_buf *out, const char *s, int width)
{
    int w = 0;
    const unsigned char *p = (const unsigned char *)(s ? s : "-");
    while (*p && w < width) {
        size_t n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3
                                                        : (*p & 0xF8) == 0xF0 ? 4 : 0;
        bool whole = n > 0;
        for (size_t i = 1; whole && i < n; i++)
            whole = (p[i] & 0xC0) == 0x80;
        if (!whole || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
            hf_buf_append(out, "?", 1);
            p++;
        } else {
            hf_buf_append(out, p, n);
            p += n;
        }
        w++;
    }
    for (; w < width; w++)
        hf_buf_append(out, " ", 1);
    hf_buf_append(out, " ", 1);
}

static bool render_table(const hf_catalog *cat, bool full, hf_buf *out)
{
    hf_buf_printf(out, "%-48s %-22s %-14s %9s %11s %7s %-6s %s\n", "MODEL_ID", "TASK", "LICENSE",
                  "SIZE_MB", "DOWNLOADS", "LIKES", "GATED", full ? "CHAT CERT" : "CERT");
    for (size_t i = 0; i < cat->n; i++) {
        const hf_model *m = &cat->models[i];
        char num[64];
        cell(out, m->id, 48);
        cell(out, m->pipeline_tag, 22);
        cell(out, m->license, 14);
        snprintf(num, sizeof num, "%9llu", (unsigned long long)hf_sizing_mib((uint64_t)m->image_bytes));
        cell(out, num, 9);
        snprintf(num, sizeof num, "%11lld", (long long)m->downloads);
        cell(out, num, 11);
        snprintf(num, sizeof num, "%7lld", (long long)m->likes);
        cell(out, num, 7);
        cell(out, m->gated, 6);
        if (full)
            cell(out, m->chat_template == HF_TRI_YES ? "yes" : m->chat_template == HF_TRI_NO ? "no" : "?", 4);
        hf_buf_puts(out, one_app_is_certified(m->id) ? "yes" : "no");
        hf_buf_puts(out, "\n");
    }
    hf_buf_printf(out, "%zu model%s\n", cat->n, cat->n == 1 ? "" : "s");
    return !out->overflow;
}

static bool render_json(const hf_catalog *cat, const char *endpoint, bool full, char **names,
                        hf_buf *out)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < cat->n; i++) {
        one_app_options opt = {.endpoint = endpoint, .full = full, .name = names[i]};
        json_t *o = hf_model_to_json(&cat->models[i]);
        json_object_set_new(o, "app_name", json_string(names[i]));
        json_object_set_new(o, "size_mb",
                            json_integer((json_int_t)hf_sizing_mib((uint64_t)cat->models[i].image_bytes)));
        hf_buf t;
        hf_buf_init(&t, 0);
        if (one_app_render(&cat->models[i], &opt, &t))
            json_object_set_new(o, "app_template", json_string(t.data));
        hf_buf_free(&t);
        json_object_del(o, "tokenizer_config_to_read");
        json_array_append_new(arr, o);
    }
    char *s = json_dumps(arr, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(arr);
    if (!s)
        return false;
    bool ok = hf_buf_puts(out, s) && hf_buf_puts(out, "\n");
    free(s);
    return ok;
}

bool tool_render_catalog(const hf_catalog *cat, const char *format, const char *endpoint,
                         bool full, const char *market_id, hf_buf *out)
{
    if (!strcmp(format, "table"))
        return render_table(cat, full, out);
    char **names = one_app_names(cat->models, cat->n, market_id);
    if (!names)
        return false;
    bool ok = true;
    if (!strcmp(format, "json")) {
        ok = render_json(cat, endpoint, full, names, out);
    } else {
        for (size_t i = 0; ok && i < cat->n; i++) {
            one_app_options opt = {.endpoint = endpoint, .full = full, .name = names[i]};
            ok = one_app_render_line(&cat->models[i], &opt, out);
        }
    }
    one_app_names_free(names, cat->n);
    return ok;
}

bool tool_write_stdout(const hf_buf *buf)
{
    if (buf->len && fwrite(buf->data, 1, buf->len, stdout) != buf->len)
        return false;
    return fflush(stdout) == 0 && !ferror(stdout);
}
