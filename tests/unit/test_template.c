/* Template value escaping against what oned's lexer needs. */
#include <stdlib.h>

#include "hf_buf.h"
#include "one_template.h"
#include "unit.h"

static void esc(const char *in, const char *want, const char *what)
{
    char *got = one_template_escape(in, 0);
    CHECK_STR(got, want, "escape: %s", what);
    free(got);
}

int main(void)
{
    esc("plain", "plain", "plain text unchanged");
    esc("say \"hi\"", "say \\\"hi\\\"", "quotes become \\\"");
    esc("back\\slash", "back\\slash", "inner backslash kept");
    esc("ends\\", "ends", "trailing backslash dropped");
    esc("ends\\\\\\", "ends", "trailing backslashes dropped");
    esc("a\\\"b", "a\\\\\"b", "backslash before quote");
    esc("line1\nline2\r\tx", "line1 line2  x", "control characters become spaces");
    esc("x]]>y", "x]] >y", "CDATA end broken up");
    esc("caf\xc3\xa9 \xe6\x97\xa5", "caf\xc3\xa9 \xe6\x97\xa5", "UTF-8 kept");
    esc("bad\xff\xfe", "bad??", "invalid UTF-8 replaced");
    esc("\xed\xa0\x80", "???", "UTF-16 surrogate refused");
    esc("A=\"1\"\nB=\"2", "A=\\\"1\\\" B=\\\"2", "injection attempt stays one value");

    char *cut = one_template_escape("abcdef", 3);
    CHECK_STR(cut, "abc...", "length bound cuts and marks");
    free(cut);
    cut = one_template_escape("\xc3\xa9\xc3\xa9", 3);
    CHECK_STR(cut, "\xc3\xa9...", "cut never splits a character");
    free(cut);

    hf_buf b;
    hf_buf_init(&b, 0);
    one_template_add(&b, "KEY", "v\"", 0);
    one_template_add_int(&b, "N", -1);
    CHECK_STR(b.data, "KEY=\"v\\\"\"\nN=\"-1\"\n", "attribute lines");
    hf_buf_free(&b);
    UNIT_DONE();
}
