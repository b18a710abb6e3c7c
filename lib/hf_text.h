/* Text from the network made safe for a terminal or a log. The Hub's error
 * messages (X-Error-Message, JSON error bodies), file names and anything
 * else a server sends can carry escape sequences (ESC [ ..., OSC titles,
 * BEL) or C1 controls; printed raw they would drive the operator's terminal
 * or forge lines in a log. Every control character (C0, DEL, the C1 range
 * U+0080-U+009F) and every byte that is not valid UTF-8 becomes the visible
 * text \xNN; valid UTF-8 text is kept as it is. */
#ifndef HF_TEXT_H
#define HF_TEXT_H

#include <stddef.h>

/* Writes the escaped form of in into out (outsz bytes, NUL-terminated),
 * cutting at a character boundary when it does not fit. Returns the length
 * written. in and out must not overlap. */
size_t hf_text_escape(const char *in, char *out, size_t outsz);

/* Escapes s in place (at most size bytes, the terminator included). */
void hf_text_escape_inplace(char *s, size_t size);

#endif
