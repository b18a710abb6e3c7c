/* Terminal-safe text: hf_text_escape, and error messages built from a
 * hostile server's words. */
#include "hf_error.h"
#include "hf_text.h"
#include "unit.h"

static const char *esc(const char *in, size_t outsz)
{
    static char out[512];
    hf_text_escape(in, out, outsz);
    return out;
}

int main(void)
{
    CHECK_STR(esc("plain text, Ünïcödé ✓ 🙂", 512), "plain text, Ünïcödé ✓ 🙂",
              "printable ASCII and valid UTF-8 are kept");
    CHECK_STR(esc("a\x1b[31mred\x1b[0m", 512), "a\\x1b[31mred\\x1b[0m", "ESC sequences become \\x1b");
    CHECK_STR(esc("\x1b]0;title\x07", 512), "\\x1b]0;title\\x07", "OSC title and BEL");
    CHECK_STR(esc("line\nforged: ok\r\t", 512), "line\\x0aforged: ok\\x0d\\x09",
              "newlines, carriage returns and tabs (no forged log lines)");
    CHECK_STR(esc("del\x7f", 512), "del\\x7f", "DEL");
    CHECK_STR(esc("c1 \xc2\x9b" "31m \xc2\x85", 512), "c1 \\xc2\\x9b31m \\xc2\\x85",
              "C1 controls in UTF-8 (CSI U+009B, NEL U+0085)");
    CHECK_STR(esc("nbsp \xc2\xa0 ok", 512), "nbsp \xc2\xa0 ok", "U+00A0 is not a control");
    CHECK_STR(esc("raw \x9b" "31m \xff \xc3", 512), "raw \\x9b31m \\xff \\xc3",
              "bytes that are not UTF-8 (a raw 8-bit CSI, 0xff, a cut sequence)");
    CHECK_STR(esc("\xc0\xaf \xed\xa0\x80", 512), "\\xc0\\xaf \\xed\\xa0\\x80",
              "overlong forms and surrogates are not UTF-8");
    CHECK_STR(esc("abc\x1b", 7), "abc", "cut whole: an escape that does not fit is left out");
    CHECK_STR(esc("ab✓", 5), "ab", "cut whole: a character that does not fit is left out");
    CHECK_STR(esc(NULL, 512), "", "NULL is empty");

    char buf[32] = "x\x1by";
    hf_text_escape_inplace(buf, sizeof buf);
    CHECK_STR(buf, "x\\x1by", "in place");
    hf_text_escape_inplace(buf, sizeof buf);
    CHECK_STR(buf, "x\\x1by", "escaping is idempotent (a backslash stays)");

    hf_error e;
    hf_error_set(&e, HF_ERR_HTTP, "downloading %s failed (%s)", "a\x1b]0;pwn\x07.bin",
                 "\x1b[2J\x1b[Hfake\nhfhub: all good");
    CHECK_STR(e.msg, "downloading a\\x1b]0;pwn\\x07.bin failed (\\x1b[2J\\x1b[Hfake\\x0ahfhub: all good)",
              "hf_error_set escapes what it quotes");
    hf_error_prefix(&e, "model \x1b[1m: ");
    CHECK(!strchr(e.msg, '\x1b') && !strchr(e.msg, '\n') && !strncmp(e.msg, "model \\x1b[1m: ", 15),
          "hf_error_prefix too");
    UNIT_DONE();
}
