"""Feed HTML as pages show it: sanitised by an allow-list, never raw, never unescaped.

Product descriptions come from merchants' feeds and often carry HTML (paragraphs, lists,
bold).  ``feed_html`` keeps that formatting and nothing else, through nh3 (the Rust
``ammonia`` sanitiser): only the tags and attributes below survive, ``<script>`` and
``<style>`` are dropped with their content, every event handler (``onerror``...) and
``style`` attribute goes, links keep http(s) and mailto targets only and open nothing
with the page's rights.  No images: a feed's image URL would be fetched by every
visitor's browser.  ``feed_text`` is the same text without any markup, for previews.
"""

from __future__ import annotations

import re

import nh3
from markupsafe import Markup, escape

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt",
    "em", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "small",
    "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u",
    "ul",
}  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# A tag, a comment or an entity: anything else is plain text (its line breaks are kept).
_MARKUP = re.compile(r"<[A-Za-z/!?]|&(#\d+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")

_BLOCK = re.compile(
    r"</?(p|div|li|br|hr|ul|ol|dl|dt|dd|tr|td|th|table|blockquote|pre|h[1-6])\b", re.IGNORECASE
)


def is_markup(text: str) -> bool:
    return _MARKUP.search(text) is not None


def feed_html(text: str | None) -> Markup:
    """Sanitised HTML, safe to place in a page as it is.  Text without markup keeps its
    line breaks."""
    if not text:
        return Markup("")
    if not is_markup(text):
        return Markup("<br>\n").join(escape(line) for line in text.splitlines())
    cleaned = nh3.clean(
        text,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow ugc",
        clean_content_tags={"script", "style"},
        strip_comments=True,
    )
    return Markup(cleaned)  # noqa: S704 - nh3's output: only the allow-list above remains


def feed_text(text: str | None) -> str:
    """The words of feed HTML without any markup (entities decoded): plain text that the
    template escapes like any other."""
    if not text:
        return ""
    if not is_markup(text):
        return " ".join(text.split())
    # A space before each block tag keeps "<p>one</p><p>two</p>" two words once tags go.
    spaced = _BLOCK.sub(r" \g<0>", text)
    bare = nh3.clean(spaced, tags=set(), clean_content_tags={"script", "style"})
    return Markup(bare).striptags()  # noqa: S704 - striptags() returns plain text
