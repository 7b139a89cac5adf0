"""Text that comes from the account (names, notes, tags, project names, server errors), made safe to show.

Anyone who can name a backtest writes into our terminal and our pull-request comment.
In a terminal, control characters (ESC sequences that clear the screen, BEL, CR that
overwrites a line) and bidirectional overrides are shown as visible escapes. In
Markdown, on top of that, nothing may open HTML, break a table, format, or become a
live @mention or issue reference. (docs/design.md, "Reviewing a plan")
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, zero-width and bidirectional marks, line and paragraph separators, BOM.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]~|!#])")
_ZERO_WIDTH = "&#8203;"  # breaks @mentions, #references and autolinks without changing what a reader sees
#: What GitHub's cmark-gfm turns into a link without any markup: a scheme and `://`, or `www.` (emails need an `@`, broken above).
_AUTOLINK = re.compile(r"(?i)(?:[a-z][a-z0-9+.\-]*(?=://)|www(?=\.))")  # no \b: cmark-gfm links `0https://x` too


def terminal_safe(text: str) -> str:
    if text.isprintable() and not _INVISIBLE.search(text):
        return text
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def lines_safe(text: str) -> str:
    """A message of several lines for a terminal (an error, apply's result): each line neutralised, the line breaks kept."""
    return "\n".join(terminal_safe(line) for line in text.split("\n"))


def markdown_safe(text: str) -> str:
    """For a table cell or a line of a comment: one line, no HTML, no formatting, no mentions or references."""
    text = terminal_safe(text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " "))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    text = text.replace("@", "@" + _ZERO_WIDTH).replace("\\#", "\\#" + _ZERO_WIDTH)
    return _AUTOLINK.sub(lambda m: m.group() + _ZERO_WIDTH, text)
