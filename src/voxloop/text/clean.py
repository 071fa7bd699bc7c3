"""Make a verbatim analysable: repair broken encodings, drop HTML markup and quoted e-mail
history, normalise spaces, and cap the length — or say why a text is skipped.

Nothing is dropped silently: each text comes back with a status (``ok``, ``truncated``,
``skipped``) and, when not ``ok``, a note a person understands. Mojibake is repaired with
``ftfy`` (the library made for it); quoted replies are cut with ``mail-parser-reply``
(French and English reply headers: "Le … a écrit :", "On … wrote:"); tags are removed
with the standard library's HTML parser, never with a regular expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Literal

import ftfy

# Longer texts are analysed on their first MAX_CHARS characters (a 50,000-character e-mail
# thread is mostly quotes and signatures; the customer's point is at the top).
MAX_CHARS = 5000
_TAG = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9]*|/[a-zA-Z][a-zA-Z0-9]*)(?:\s[^<>]*)?/?>")
_QUOTED = re.compile(
    r"(^>|\bwrote:|a écrit\s*:|-----\s*original message|-----\s*message d'origine)",
    re.IGNORECASE | re.MULTILINE,
)
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b]+")
_LINES = re.compile(r"\n\s*\n+")
_WORDISH = re.compile(r"\w", re.UNICODE)

Status = Literal["ok", "truncated", "skipped"]


@dataclass(frozen=True)
class Cleaned:
    text: str
    status: Status
    note: str | None = None


class _TextOnly(HTMLParser):
    _SKIP = frozenset({"script", "style", "head", "title"})
    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def strip_html(text: str) -> str:
    parser = _TextOnly()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


_reply_parser = None


def strip_quoted_reply(text: str) -> str:
    """The customer's own words, without the quoted history below them."""
    global _reply_parser
    if _reply_parser is None:
        from mailparser_reply import EmailReplyParser

        _reply_parser = EmailReplyParser(languages=["en", "fr", "de", "es", "it", "nl"])
    reply = str(_reply_parser.parse_reply(text=text) or "").strip()
    return reply or text


def clean_text(raw: str | None, max_chars: int = MAX_CHARS) -> Cleaned:
    if raw is None or not raw.strip():
        return Cleaned("", "skipped", "empty text")
    text = ftfy.fix_text(raw)
    if _TAG.search(text):
        text = strip_html(text)
    if _QUOTED.search(text):
        text = strip_quoted_reply(text)
    text = _LINES.sub("\n", _SPACES.sub(" ", text)).strip()
    if not text:
        return Cleaned("", "skipped", "nothing left once markup and quotes were removed")
    if not _WORDISH.search(text) and not any(ord(c) > 0x2000 for c in text):
        return Cleaned("", "skipped", "no words (only punctuation or symbols)")
    if len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars)
        kept = text[: cut if cut > max_chars // 2 else max_chars]
        return Cleaned(
            kept, "truncated", f"analysed the first {len(kept):,} of {len(text):,} characters"
        )
    return Cleaned(text, "ok")
