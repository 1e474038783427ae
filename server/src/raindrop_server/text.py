"""Markdown to sanitised HTML, and @mentions."""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

# Raw HTML in the markdown is escaped by the parser ("html": False); nh3 then removes anything
# outside this allow-list, so script, on* handlers and javascript: URLs never reach a page even if
# the parser let something through.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6", "img",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
_URL_SCHEMES = {"http", "https", "mailto"}

USERNAME_PATTERN = r"[A-Za-z0-9_]{3,30}"
_MENTION = re.compile(rf"(?<![\w@/])@({USERNAME_PATTERN})\b")


def render_markdown(body: str) -> str:
    return nh3.clean(
        _markdown.render(body),
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
    )


def mentioned_usernames(body: str) -> list[str]:
    """Distinct @usernames in order of first appearance (case-insensitive, as MariaDB compares them)."""
    seen: dict[str, str] = {}
    for name in _MENTION.findall(body):
        seen.setdefault(name.lower(), name)
    return list(seen.values())
