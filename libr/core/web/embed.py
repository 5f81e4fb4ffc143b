#!/usr/bin/env python3
"""Turns the web console's page (console.html) into C (web_console.c) at build time.

The page is split where the server puts its token (@RAP_TOKEN@, once), and its
Content-Security-Policy is computed here: the SHA-256 of its one inline <script> and its
one inline <style>, so that the browser runs nothing else. Fails when the page is over
its size budget or does not have exactly one of each.

usage: embed.py console.html web_console.c
"""
import base64
import hashlib
import re
import sys

PAGE_MAX = 50 * 1024
TOKEN = "@RAP_TOKEN@"


def only(pattern, text, what):
    found = re.findall(pattern, text, re.S)
    if len(found) != 1:
        sys.exit("embed.py: %d %s in the page, want 1" % (len(found), what))
    return found[0]


def sha256(text):
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def c_bytes(data):
    """A C array initializer (a string literal this long is beyond what ISO C promises)."""
    rows = []
    for i in range(0, len(data), 16):
        # As char holds them where char is signed: bytes over 127 as their negative twin.
        rows.append(", ".join("%d" % (b - 256 if b > 127 else b) for b in data[i:i + 16]))
    return "{\n\t" + ",\n\t".join(rows) + (",\n\t" if rows else "") + "0\n}"


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, "rb") as f:
        raw = f.read()
    if len(raw) > PAGE_MAX:
        sys.exit("embed.py: %s is %d bytes, over its %d-byte budget" % (src, len(raw), PAGE_MAX))
    text = raw.decode("utf-8")
    if text.count(TOKEN) != 1:
        sys.exit("embed.py: %s must hold %s exactly once" % (src, TOKEN))
    script = only(r"<script>(.*?)</script>", text, "inline scripts")
    style = only(r"<style>(.*?)</style>", text, "inline styles")
    if re.search(r"<script[^>]*\ssrc=|\sstyle=\"|\son[a-z]+=", text):
        sys.exit("embed.py: no external script, style attribute or inline handler may appear")
    csp = ("default-src 'none'; script-src %s; style-src %s; connect-src 'self'; img-src 'self' data:; "
           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'" % (sha256(script), sha256(style)))
    head, tail = raw.split(TOKEN.encode())
    with open(dst, "w") as f:
        f.write("/* Made by libr/core/web/embed.py from libr/core/web/console.html: edit those. */\n")
        f.write('#include "servers.h"\n\n')
        f.write("const char rap__web_page_head[] = %s;\n" % c_bytes(head))
        f.write("const size_t rap__web_page_head_len = %d;\n" % len(head))
        f.write("const char rap__web_page_tail[] = %s;\n" % c_bytes(tail))
        f.write("const size_t rap__web_page_tail_len = %d;\n" % len(tail))
        f.write('const char rap__web_page_csp[] = "%s";\n' % csp)


if __name__ == "__main__":
    main()
