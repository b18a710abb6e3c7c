/* hf:// address parsing (see hf_address.h). */
#include "hf_address.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_repo_id.h"

const char *hf_repo_type_api(hf_repo_type t)
{
    return t == HF_REPO_DATASET ? "datasets" : "models";
}

const char *hf_repo_type_prefix(hf_repo_type t)
{
    return t == HF_REPO_DATASET ? "datasets/" : "";
}

bool hf_revision_is_valid(const char *rev)
{
    size_t n = rev ? strlen(rev) : 0;
    if (n == 0 || n > 200 || rev[0] == '/' || rev[n - 1] == '/' || rev[0] == '-' ||
        strstr(rev, "..") || strstr(rev, "//"))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)rev[i]) || strchr("._-/", rev[i])))
            return false;
    return true;
}

static hf_code bad(hf_error *err, const char *why)
{
    return hf_error_set(err, HF_ERR_INVALID, "invalid address: %s; expected %s", why,
                        HF_ADDRESS_GRAMMAR);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string; NULL on a bad escape or a
 * control character. */
static char *decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
                free(out);
                return NULL;
            }
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if ((unsigned char)c < 0x20 || c == 0x7f) {
            free(out);
            return NULL;
        }
        *o++ = c;
    }
    *o = '\0';
    return out;
}

void hf_address_clear(hf_address *a)
{
    free(a->repo_id);
    free(a->revision);
    hf_strlist_free(&a->include);
    hf_strlist_free(&a->exclude);
    memset(a, 0, sizeof *a);
}

hf_code hf_address_parse(const char *s, hf_address *a, hf_error *err)
{
    memset(a, 0, sizeof *a);
    if (!s || strncmp(s, "hf://", 5))
        return bad(err, "it does not start with hf://");
    if (strlen(s) > 4096)
        return bad(err, "it is longer than 4096 characters");
    const char *p = s + 5;
    if (!strncmp(p, "datasets/", 9)) {
        a->type = HF_REPO_DATASET;
        p += 9;
    } else if (!strncmp(p, "models/", 7)) {
        p += 7;
    }
    size_t id_len = strcspn(p, "@?");
    char *id = strndup(p, id_len);
    if (!id)
        return hf_error_set(err, HF_ERR_NOMEM, "out of memory");
    if (!hf_repo_id_is_valid(id)) {
        hf_code rc = hf_repo_id_check(id, err);
        free(id);
        hf_error_prefix(err, "invalid address %.200s: ", s);
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len, "; expected %s", HF_ADDRESS_GRAMMAR);
        return rc;
    }
    a->repo_id = id;
    p += id_len;
    hf_code rc = HF_OK;
    if (*p == '@') {
        p++;
        size_t n = strcspn(p, "?");
        char *rev = decode(p, n);
        if (!rev || !hf_revision_is_valid(rev)) {
            free(rev);
            rc = bad(err, "the revision must be a branch, tag or commit name of letters, digits, "
                          "'.', '_', '-' and '/'");
            goto fail;
        }
        a->revision = rev;
        p += n;
    }
    if (*p == '?') {
        p++;
        while (*p) {
            size_t n = strcspn(p, "&");
            const char *eq = memchr(p, '=', n);
            if (!eq) {
                rc = bad(err, "a query parameter has no '='");
                goto fail;
            }
            size_t klen = (size_t)(eq - p);
            char *val = decode(eq + 1, n - klen - 1);
            if (!val) {
                rc = bad(err, "a query value has a bad %-escape or a control character");
                goto fail;
            }
            if (klen == 6 && !strncmp(p, "format", 6)) {
                if (!strcmp(val, "qcow2"))
                    a->format = HF_FORMAT_QCOW2;
                else if (!strcmp(val, "dir"))
                    a->format = HF_FORMAT_DIR;
                else {
                    free(val);
                    rc = bad(err, "format must be qcow2 or dir");
                    goto fail;
                }
            } else if ((klen == 7 && !strncmp(p, "include", 7)) ||
                       (klen == 7 && !strncmp(p, "exclude", 7))) {
                hf_strlist *l = p[0] == 'i' ? &a->include : &a->exclude;
                if (!*val || strlen(val) > 1024 || !hf_strlist_add_csv(l, val)) {
                    free(val);
                    rc = bad(err, "include/exclude take a comma list of globs");
                    goto fail;
                }
            } else {
                free(val);
                rc = bad(err, "unknown query parameter (format, include and exclude are known)");
                goto fail;
            }
            free(val);
            p += n;
            if (*p == '&')
                p++;
        }
    } else if (*p) {
        rc = bad(err, "unexpected text after the id");
        goto fail;
    }
    return HF_OK;
fail:
    hf_address_clear(a);
    return rc;
}
