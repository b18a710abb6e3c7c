/* Hub naming rules (see hf_repo_id.h). The rule follows huggingface_hub's
 * validate_repo_id, restricted to ASCII as the Hub itself is. */
#include "hf_repo_id.h"

#include <ctype.h>
#include <string.h>

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static bool part_is_valid(const char *s, size_t n)
{
    if (n == 0 || n > HF_NAME_MAX)
        return false;
    if (!word_char(s[0]) || !word_char(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(word_char(c) || c == '-' || c == '.'))
            return false;
        if (i + 1 < n && ((c == '-' && s[i + 1] == '-') || (c == '.' && s[i + 1] == '.')))
            return false;
    }
    return true;
}

bool hf_repo_name_is_valid(const char *s)
{
    return s && part_is_valid(s, strlen(s));
}

bool hf_org_is_valid(const char *s)
{
    return hf_repo_name_is_valid(s);
}

bool hf_repo_id_is_valid(const char *s)
{
    if (!s)
        return false;
    const char *slash = strchr(s, '/');
    if (!slash || strchr(slash + 1, '/'))
        return false;
    size_t n = strlen(s);
    if (n >= 4 && !strcmp(s + n - 4, ".git"))
        return false;
    return part_is_valid(s, (size_t)(slash - s)) && part_is_valid(slash + 1, strlen(slash + 1));
}

bool hf_collection_slug_is_valid(const char *s)
{
    if (!s)
        return false;
    const char *slash = strchr(s, '/');
    if (!slash || strchr(slash + 1, '/') || !part_is_valid(s, (size_t)(slash - s)))
        return false;
    const char *slug = slash + 1;
    size_t n = strlen(slug);
    /* title part, '-', 24 hex digits */
    if (n < 26 || n > 200 || slug[n - 25] != '-')
        return false;
    for (size_t i = n - 24; i < n; i++)
        if (!isxdigit((unsigned char)slug[i]) || isupper((unsigned char)slug[i]))
            return false;
    for (size_t i = 0; i < n - 25; i++)
        if (!(isalnum((unsigned char)slug[i]) || slug[i] == '-' || slug[i] == '_' ||
              slug[i] == '.'))
            return false;
    return true;
}

/* Shows at most 80 characters of a bad value, with control characters hidden. */
static void printable(const char *s, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; s[i] && o + 4 < outsz && i < 80; i++)
        out[o++] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f ? '?' : s[i];
    if (strlen(s) > 80 && o + 4 < outsz) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

hf_code hf_repo_id_check(const char *s, hf_error *err)
{
    if (hf_repo_id_is_valid(s))
        return HF_OK;
    char shown[128];
    printable(s ? s : "", shown, sizeof shown);
    return hf_error_set(err, HF_ERR_INVALID,
                        "'%s' is not a valid Hugging Face repository id: expected "
                        "'<org>/<name>', each part 1-96 of letters, digits, '-', '_', '.', "
                        "starting and ending with a letter or digit, without '--' or '..'",
                        shown);
}

hf_code hf_org_check(const char *s, hf_error *err)
{
    if (hf_org_is_valid(s))
        return HF_OK;
    char shown[128];
    printable(s ? s : "", shown, sizeof shown);
    return hf_error_set(err, HF_ERR_INVALID,
                        "'%s' is not a valid Hugging Face organisation or user name: expected "
                        "1-96 letters, digits, '-', '_' or '.', starting and ending with a "
                        "letter or digit",
                        shown);
}

hf_code hf_collection_slug_check(const char *s, hf_error *err)
{
    if (hf_collection_slug_is_valid(s))
        return HF_OK;
    char shown[128];
    printable(s ? s : "", shown, sizeof shown);
    return hf_error_set(err, HF_ERR_INVALID,
                        "'%s' is not a valid collection slug: expected "
                        "'<owner>/<title>-<24 hex digits>', as in the collection's URL "
                        "https://huggingface.co/collections/<owner>/<title>-<id>",
                        shown);
}
