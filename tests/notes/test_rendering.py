"""Markdown in notes becomes safe HTML: no script, no event attribute, no javascript: URL."""

from html.parser import HTMLParser

import pytest

from notes.rendering import render_markdown, render_plain
from tests.notes.xss_vectors import VECTORS

ALLOWED_TAGS = {
    "a",
    "p",
    "code",
    "pre",
    "strong",
    "em",
    "ul",
    "ol",
    "li",
    "br",
    "h3",
    "h4",
    "blockquote",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "hr",
    "del",
    "s",
    "b",
    "i",
    "kbd",
    "sub",
    "sup",
    "abbr",
    "h5",
    "h6",
}
SAFE_SCHEMES = ("http:", "https:", "mailto:")


class Elements(HTMLParser):
    """Every element and attribute a browser would build from the HTML."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def assert_harmless(html: str) -> None:
    parser = Elements()
    parser.feed(html)
    for tag, attrs in parser.found:
        assert tag in ALLOWED_TAGS, f"<{tag}> survived in {html!r}"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"{name}= survived in {html!r}"
            assert name in {"href", "title", "rel", "align"}, f"{name}= survived in {html!r}"
            if name == "href":
                # Browsers ignore whitespace and control characters inside a scheme.
                url = "".join(ch for ch in (value or "") if ord(ch) > 32).lower()
                assert url.startswith(SAFE_SCHEMES) or ":" not in url.split("/")[0], url


EXECUTABLE = {
    "script",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "base",
    "svg",
    "math",
    "style",
    "template",
    "applet",
    "meta",
    "link",
    "img",
    "video",
    "audio",
    "source",
}


def assert_nothing_runs(html: str) -> None:
    """For a whole page or feed entry: no element, attribute or URL that can run script."""
    parser = Elements()
    parser.feed(html)
    for tag, attrs in parser.found:
        assert tag not in EXECUTABLE, f"<{tag}> in {html[:200]!r}"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"{name}= in <{tag}>"
            assert name != "style", f"style= in <{tag}>"
            if name in {"href", "src", "action", "formaction", "background", "data"}:
                url = "".join(ch for ch in (value or "") if ord(ch) > 32).lower()
                assert not url.startswith(("javascript:", "vbscript:", "data:")), url


@pytest.mark.parametrize("vector", VECTORS)
def test_no_xss_vector_survives_rendering(vector):
    html = render_markdown(f"Fixed a bug.\n\n{vector}\n\nMore text.")
    assert_harmless(html)
    assert "Fixed a bug." in html  # the note itself is kept


def test_markdown_still_renders_what_notes_need():
    html = render_markdown(
        "**Bold**, *em*, `code`, [docs](https://example.com/docs)\n\n- one\n- two\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n### Details"
    )
    assert "<strong>Bold</strong>" in html and "<em>em</em>" in html and "<code>code</code>" in html
    assert '<a href="https://example.com/docs" rel="noopener noreferrer nofollow">docs</a>' in html
    assert "<li>one</li>" in html and "<td>1</td>" in html and "<h3>Details</h3>" in html


def test_plain_text_has_no_markup():
    assert render_plain("**Bold** <script>x</script> [a](https://e.com)") == "Bold  a"


def test_rendering_is_cached_by_source():
    from notes.rendering import _render

    _render.cache_clear()
    render_markdown("same text")
    render_markdown("same text")
    assert _render.cache_info().hits == 1
