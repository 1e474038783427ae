"""Markdown to sanitised HTML, and @mentions."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

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
# The client's profile route (client/src/app/app.routes.ts, `u/:username`).
PROFILE_PATH = "/u/{username}"

# Given the lower-cased names mentioned in a text, the ones that are users: lower-cased name -> username as stored.
UserLookup = Callable[[list[str]], Mapping[str, str]]


def render_markdown(body: str, existing_users: UserLookup | None = None) -> str:
    """Markdown to sanitised HTML. With `existing_users`, each @mention of a user that exists links to the profile."""
    tokens = _markdown.parse(body)
    if existing_users is not None:
        _link_mentions(tokens, existing_users)
    return nh3.clean(
        _markdown.renderer.render(tokens, _markdown.options, {}),
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
    )


def _mention_texts(tokens: list[Token]) -> list[tuple[list[Token], int]]:
    """(siblings, index) of every text token an @mention may be linked in: the inline text of paragraphs,
    headings, lists and quotes, but not code (its own token types), an image's alt text (its own children) or a
    link's text (a link in a link is invalid HTML, and the author chose that link)."""
    found = []
    for block in tokens:
        if block.type != "inline" or not block.children:
            continue
        in_link = 0
        for index, child in enumerate(block.children):
            if child.type == "link_open":
                in_link += 1
            elif child.type == "link_close":
                in_link -= 1
            elif child.type == "text" and not in_link and "@" in child.content:
                found.append((block.children, index))
    return found


def _link_mentions(tokens: list[Token], existing_users: UserLookup) -> None:
    """Replace each @name of an existing user in the text tokens by a link to the profile, in place."""
    places = _mention_texts(tokens)
    names = {m.lower() for siblings, index in places for m in _MENTION.findall(siblings[index].content)}
    if not names:
        return
    users = existing_users(sorted(names))  # one lookup for every name in the text
    # Backwards, so that the indexes of the places still to do stay valid as tokens are inserted.
    for siblings, index in reversed(places):
        text = siblings[index].content
        pieces: list[Token] = []
        position = 0
        for match in _MENTION.finditer(text):
            username = users.get(match.group(1).lower())
            if username is None:
                continue
            pieces.append(_text(text[position : match.start()]))
            pieces.append(Token("link_open", "a", 1, attrs={"href": PROFILE_PATH.format(username=username)}))
            pieces.append(_text(match.group(0)))
            pieces.append(Token("link_close", "a", -1))
            position = match.end()
        if pieces:
            siblings[index : index + 1] = [*pieces, _text(text[position:])]


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def mentioned_usernames(body: str) -> list[str]:
    """Distinct @usernames in order of first appearance (case-insensitive, as MariaDB compares them)."""
    seen: dict[str, str] = {}
    for name in _MENTION.findall(body):
        seen.setdefault(name.lower(), name)
    return list(seen.values())
