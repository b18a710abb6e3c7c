/* libFuzzer target: template escaping of hostile Hub strings. Checks the
 * invariants oned's lexer needs: every '"' is preceded by '\', the value does
 * not end in '\', it holds no "]]>" and no control character. */
#include <stdint.h>

#include "fuzz_util.h"
#include <stdlib.h>
#include <string.h>

#include "one_template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    if (!s)
        return 0;
    size_t bound = size ? data[0] % 64 : 0;
    char *v = one_template_escape(s, bound);
    if (v) {
        size_t n = strlen(v);
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
                abort();
            if (v[i] == '"' && (i == 0 || v[i - 1] != '\\'))
                abort();
        }
        if (n && v[n - 1] == '\\')
            abort();
        if (strstr(v, "]]>"))
            abort();
    }
    free(v);
    free(s);
    return 0;
}
