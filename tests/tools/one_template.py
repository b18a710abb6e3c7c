#!/usr/bin/env python3
"""A strict re-implementation of OpenNebula's template parser, for tests.

It follows oned's flex lexer (src/parsers/template_parser.l: longest match,
earlier rule on ties, exclusive VALUE state, the CDATA rule that aborts) and
its bison grammar and unescaping (template_syntax.y), and fails where oned
would fail or silently misread. A second implementation, written from the
grammar, is a better check of our escaping than our own C code would be.

  one_template.py parse FILE|-   -> JSON {attr: value | [values]}
  one_template.py apps FILE|-    -> JSON list of decoded APP templates
                                    (monitor output: only APP="<base64>" lines)
"""
import base64
import binascii
import json
import re
import sys

BLANK = " \t"
NAME_FORBIDDEN = set("&|:\\\";/'#{}$<>\t\n\v\f\r")


class TemplateError(Exception):
    pass


def _longest_quoted(s, pos):
    """End (exclusive) of the longest match of "([^"]|\\")*" at pos, or -1."""
    if pos >= len(s) or s[pos] != '"':
        return -1
    best = -1
    i = pos + 1
    while i < len(s):
        if s[i] == '"':
            if i - 1 > pos and s[i - 1] == "\\":
                best = i + 1  # may close here, or be an escaped quote
            else:
                return i + 1  # must close here: longest possible
        i += 1
    return best


_INITIAL = [
    ("COMMENT", re.compile(r"[ \t]*#.*\n")),
    ("SPACE", re.compile(r"[ \t\n]+")),
    ("VARIABLE", re.compile(r"[A-Za-z0-9_]+")),
    ("EQUAL", re.compile(r"[ \t]*=[ \t]*")),
    ("EQUAL_EMPTY", re.compile(r"[ \t]*=[ \t]*\n")),
    ("COMMA", re.compile(r"[ \t\n]*,[ \t\n]*")),
    ("CBRACKET", re.compile(r"[ \t\n]*\][ \t\n]*")),
]
_OBRACKET = re.compile(r"[ \t]*\[[ \t\n]*")
_STRING = re.compile(r"[^=# \t\n,\[\]]+")


def tokenize(s):
    pos, state, out = 0, "INITIAL", []
    while pos < len(s):
        cands = []
        if state == "INITIAL":
            for order, (kind, rx) in enumerate(_INITIAL):
                m = rx.match(s, pos)
                if m and m.end() > pos:
                    cands.append((m.end() - pos, -order, kind, m.group(0)))
        else:
            m = _OBRACKET.match(s, pos)
            if m:
                cands.append((m.end() - pos, -0, "OBRACKET", m.group(0)))
            eol = s.find("\n", pos)
            line = s[pos:] if eol < 0 else s[pos:eol]
            if "]]>" in line:
                cands.append((len(line), -1, "CCDATA", line))
            end = _longest_quoted(s, pos)
            if end > 0:
                cands.append((end - pos, -2, "QSTRING", s[pos:end]))
            m = _STRING.match(s, pos)
            if m:
                cands.append((m.end() - pos, -3, "STRING", m.group(0)))
        if not cands:
            raise TemplateError("no token matches at offset %d (%r)" % (pos, s[pos:pos + 20]))
        length, _, kind, text = max(cands)
        pos += length
        if kind in ("COMMENT", "SPACE"):
            continue
        if kind == "EQUAL":
            state = "VALUE"
        elif kind in ("OBRACKET", "CCDATA", "QSTRING", "STRING"):
            state = "INITIAL"
        if kind == "QSTRING":
            kind, text = "STRING", text[1:-1]
        out.append((kind, text))
    return out


def unescape(v):
    return v.replace('\\"', '"')


def parse(s):
    toks = tokenize(s)
    attrs = {}
    i = 0

    def expect(kind):
        nonlocal i
        if i >= len(toks) or toks[i][0] != kind:
            got = toks[i] if i < len(toks) else ("EOF", "")
            raise TemplateError("syntax error: expected %s, got %s %r" % (kind, got[0], got[1][:40]))
        i += 1
        return toks[i - 1][1]

    def add(name, value):
        attrs.setdefault(name, []).append(value)

    while i < len(toks):
        name = expect("VARIABLE")
        if i < len(toks) and toks[i][0] == "EQUAL_EMPTY":
            i += 1
            add(name, "")
            continue
        expect("EQUAL")
        if i < len(toks) and toks[i][0] == "CCDATA":
            raise TemplateError("value of %s contains ]]> (oned aborts the parse)" % name)
        if i < len(toks) and toks[i][0] == "OBRACKET":
            i += 1
            vec = {}
            if i < len(toks) and toks[i][0] == "CBRACKET":
                i += 1
                add(name, vec)
                continue
            while True:
                k = expect("VARIABLE").upper()
                expect("EQUAL")
                vec[k] = unescape(expect("STRING"))
                if i < len(toks) and toks[i][0] == "COMMA":
                    i += 1
                    continue
                expect("CBRACKET")
                break
            add(name, vec)
            continue
        add(name, unescape(expect("STRING")))
    return {k: (v[0] if len(v) == 1 else v) for k, v in attrs.items()}


def name_is_valid(name):
    return 0 < len(name) <= 128 and not (set(name) & NAME_FORBIDDEN)


def decode_apps(text):
    """Parses monitor output; returns the list of app templates (dicts)."""
    if text.strip() == "":
        return []
    outer_toks = parse(text)
    if set(outer_toks) - {"APP"}:
        raise TemplateError("monitor output has attributes other than APP: %s" % sorted(set(outer_toks) - {"APP"}))
    apps = outer_toks["APP"]
    if not isinstance(apps, list):
        apps = [apps]
    for line in text.splitlines():
        if line and not re.fullmatch(r'APP="[A-Za-z0-9+/=]*"', line):
            raise TemplateError("monitor output line is not APP=\"<base64>\": %r" % line[:80])
    out = []
    for a in apps:
        try:
            raw = base64.b64decode(a, validate=True)
        except binascii.Error as e:
            raise TemplateError("APP value is not base64: %s" % e)
        try:
            inner = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TemplateError("app template is not UTF-8: %s" % e)
        t = parse(inner)
        if "NAME" not in t or not isinstance(t["NAME"], str) or not name_is_valid(t["NAME"]):
            raise TemplateError("app has an invalid NAME for oned: %r" % t.get("NAME"))
        if "APPTEMPLATE64" in t:
            t["APPTEMPLATE"] = parse(base64.b64decode(t["APPTEMPLATE64"], validate=True).decode("utf-8"))
        out.append(t)
    return out


def main(argv):
    if len(argv) != 3 or argv[1] not in ("parse", "apps"):
        sys.stderr.write(__doc__)
        return 2
    data = sys.stdin.read() if argv[2] == "-" else open(argv[2], encoding="utf-8").read()
    try:
        result = parse(data) if argv[1] == "parse" else decode_apps(data)
    except TemplateError as e:
        sys.stderr.write("one_template: %s\n" % e)
        return 1
    json.dump(result, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
