"""The one wrapper around Markdown and sanitising: Markdown in, safe HTML out.

Python-Markdown passes raw HTML through and builds links from whatever URL it is given, so its
output is never trusted: nh3 (Ammonia) keeps an allow-list of tags and attributes, only http,
https and mailto links, and drops everything else — scripts, event attributes, styles,
``javascript:`` and ``data:`` URLs. Rendering is cached by the source text, so a page never
renders the same Markdown twice in a process.
"""

from __future__ import annotations

from functools import lru_cache

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}


def sanitize(html: str) -> str:
    """Only the allow-listed tags, attributes and URL schemes survive; links get rel=noopener."""
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


@lru_cache(maxsize=8192)
def _render(source: str) -> str:
    # h1 and h2 belong to the page around a note: in a note they are reduced to their text.
    html = markdown.markdown(
        source, extensions=["tables", "sane_lists", "fenced_code"], output_format="html"
    )
    return sanitize(html)


def render_markdown(source: str | None) -> SafeString:
    """Markdown source → sanitised HTML, safe to put in a page or a feed."""
    if not source:
        return mark_safe("")
    return mark_safe(_render(source))  # noqa: S308 - sanitised by nh3 just above


def render_plain(source: str | None) -> str:
    """Markdown source → text without any markup (for feed summaries, e-mail, titles)."""
    if not source:
        return ""
    return nh3.clean(_render(source), tags=set()).strip()
