/* Writing values into OpenNebula templates. oned's template lexer reads a
 * quoted value as "([^"]|\\")*" and then turns every \" into ". So a value
 * is safe when each " is written \", it does not end in a backslash (which
 * would swallow the closing quote) and it holds no "]]>" (which the lexer
 * takes as a CDATA end and aborts on). We also replace control characters
 * (newlines included) by spaces, so a hostile text stays one line, repair
 * invalid UTF-8, and bound the length. */
#ifndef ONE_TEMPLATE_H
#define ONE_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "hf_buf.h"

/* The escaped form of value, at most max_bytes of source text (0 = no
 * bound; a cut text ends in "..."). Caller frees. */
char *one_template_escape(const char *value, size_t max_bytes);

/* Appends KEY="<escaped value>"\n. key must be [A-Z0-9_]+. */
bool one_template_add(hf_buf *b, const char *key, const char *value, size_t max_bytes);
bool one_template_add_int(hf_buf *b, const char *key, long long value);

/* True when name is a valid NAME for oned (PoolObjectSQL::name_is_valid:
 * not empty, at most 128 bytes, none of &|:\";/'#{}$<> nor tab, newline,
 * vertical tab, form feed, carriage return); we refuse every control
 * character. */
bool one_name_is_valid(const char *name);

#endif
