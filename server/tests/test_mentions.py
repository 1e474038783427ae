"""A rendered @mention links to the profile, only for users that exist; never in code, links or e-mail addresses."""

import pytest
from raindrop_server.text import render_markdown

REL = 'rel="nofollow noopener noreferrer"'


def link(username: str, text: str | None = None) -> str:
    return f'<a href="/u/{username}" {REL}>@{text or username}</a>'


@pytest.mark.parametrize(
    ("body", "html"),
    [
        ("hi @bob!", f"<p>hi {link('bob')}!</p>\n"),
        # Names compare case-insensitively, as MariaDB does: the link goes to the name as stored.
        ("hi @BOB", f"<p>hi {link('bob', 'BOB')}</p>\n"),
        ("hi @nobody", "<p>hi @nobody</p>\n"),
        ("`@bob` in code", "<p><code>@bob</code> in code</p>\n"),
        ("```\n@bob\n```", "<pre><code>@bob\n</code></pre>\n"),
        ("    @bob indented", "<pre><code>@bob indented\n</code></pre>\n"),
        ("[see @bob](https://example.org)", f'<p><a href="https://example.org" {REL}>see @bob</a></p>\n'),
        ("mail bob@example.com or a@b.com", "<p>mail bob@example.com or a@b.com</p>\n"),
        ("@bob and @carol_1, **@bob**",
         f"<p>{link('bob')} and {link('carol_1')}, <strong>{link('bob')}</strong></p>\n"),
        ("# Hello @carol_1\n\n> @bob",
         f"<h1>Hello {link('carol_1')}</h1>\n<blockquote>\n<p>{link('bob')}</p>\n</blockquote>\n"),
    ],
)
def test_mentions_of_users_that_exist_link_to_the_profile(make_client, body, html):
    make_client("bob")
    make_client("carol_1")
    response = make_client("alice").post("/api/posts", json={"body": body})
    assert response.status_code == 201
    assert response.json["post"]["html"] == html


def test_a_comment_links_its_mentions_too(make_client):
    alice, bob = make_client("alice"), make_client("bob")
    post_id = alice.post("/api/posts", json={"body": "post"}).json["post"]["id"]
    comment = bob.post(f"/api/posts/{post_id}/comments", json={"body": "thanks @alice, not @ghost"}).json["comment"]
    assert comment["html"] == f"<p>thanks {link('alice')}, not @ghost</p>\n"


def test_every_name_is_looked_up_at_once():
    calls = []

    def lookup(names):
        calls.append(names)
        return {"bob": "bob"}

    html = render_markdown("@bob @eve\n\n- @Bob\n- @zed `@code`", lookup)
    assert calls == [["bob", "eve", "zed"]]
    assert html == (f"<p>{link('bob')} @eve</p>\n"
                    f"<ul>\n<li>{link('bob', 'Bob')}</li>\n<li>@zed <code>@code</code></li>\n</ul>\n")
    # A text without a mention outside code asks nothing.
    assert render_markdown("`@bob` and a@b.com", lookup) == "<p><code>@bob</code> and a@b.com</p>\n"
    assert len(calls) == 1


def test_a_lookup_cannot_smuggle_markup_into_the_html():
    # Stored names match USERNAME_PATTERN; were one ever odd, it stays inside the one href attribute.
    html = render_markdown("@bob", lambda names: {"bob": 'bob" onclick="x'})
    assert html == f'<p><a href="/u/bob&quot; onclick=&quot;x" {REL}>@bob</a></p>\n'
