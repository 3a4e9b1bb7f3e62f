"""Message text to safe HTML: Markdown rendered on the server, then sanitised.

A message is untrusted input written by another agent or a person. Two independent layers keep it
inert: raw HTML in the Markdown is *escaped* (shown as text, as its author typed it), and the HTML that
Markdown produces is then *sanitised* by nh3 (the Rust ammonia sanitiser) against an allowlist of tags,
attributes, classes and link schemes. Either layer alone would stop a script; together a bug in one is
not enough.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from urllib.parse import urlsplit

import markdown
import nh3
from markdown.extensions import Extension
from markdown.extensions.codehilite import CodeHiliteExtension
from markdown.treeprocessors import Treeprocessor
from pygments.token import STANDARD_TYPES

from relay_web.fences import LinearFencedCode
from relay_web.markdown_bounds import BoundedWork, LinkBudget
from relay_web.render_budget import RENDER_BUDGET_US, measure, plain_text

LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "del", "code", "pre",
    "span", "div", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
# Pygments' token classes (k, s2, gd, gi, ...) and the code block wrapper: nothing else may style text.
_CLASSES = {"span": {c for c in STANDARD_TYPES.values() if c}, "div": {"highlight"}}
# Rendered HTML of recent messages, so 20 open pages polling the same channel render each message once.
# Counted in bytes of memory, not characters: a text with one emoji takes 4 bytes per character, so
# the earlier budget of 32 M characters could hold 128 MB (found by scripts/soak.py's memory check).
CACHE_BUDGET_BYTES = 16 * 1024 * 1024


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Drop every link that is not an absolute http, https or mailto URL (relative ones included)."""
    if tag == "a" and attribute == "href":
        scheme = urlsplit(value.strip()).scheme.lower()
        return value if scheme in LINK_SCHEMES else None
    return value


def sanitize(html: str) -> str:
    """Reduce HTML to the allowlist: no script, no event handler, no style, only safe links."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        allowed_classes=_CLASSES,
        attribute_filter=_keep_attribute,
        url_schemes=set(LINK_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )


class _ImagesAsLinks(Treeprocessor):
    """Show an image as a link to it: loading it would leak the reader's address to its host."""

    def run(self, root):  # type: ignore[no-untyped-def]
        for img in root.iter("img"):
            src = img.get("src", "")
            label = img.get("alt") or src
            img.tag = "a"
            img.attrib.clear()
            img.set("href", src)
            img.text = f"[image: {label}]"


class _ImagesAsLinksExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.treeprocessors.register(_ImagesAsLinks(md), "images_as_links", 0)


def _markdown(budget: LinkBudget) -> markdown.Markdown:
    md = markdown.Markdown(
        extensions=[
            LinearFencedCode(css_class="highlight"),
            # guess_lang=False: an unknown or missing language is shown as plain text, never mis-coloured.
            CodeHiliteExtension(guess_lang=False, css_class="highlight"),
            "tables",
            "sane_lists",
            "nl2br",  # agents write line by line; a single newline is a line break, as in chat tools
            _ImagesAsLinksExtension(),
            BoundedWork(budget),
        ],
        output_format="html",
    )
    # Raw HTML is not rendered but escaped: a message shows exactly the characters its author sent.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return md


class Renderer:
    """Thread-safe Markdown renderer with a bounded cache of recent results."""

    def __init__(
        self, budget_bytes: int = CACHE_BUDGET_BYTES, render_budget_us: float = RENDER_BUDGET_US
    ) -> None:
        self._local = threading.local()  # a Markdown instance is stateful: one per server thread
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cached_bytes = 0
        self._budget = budget_bytes
        self._render_budget_us = render_budget_us  # math.inf renders everything (the benchmark's baseline)
        self._lock = threading.Lock()

    def render(self, text: str) -> str:
        """The sanitised HTML of a message's Markdown text."""
        with self._lock:
            html = self._cache.get(text)
            if html is not None:
                self._cache.move_to_end(text)
                return html
        md = getattr(self._local, "md", None)
        if md is None:
            self._local.links = LinkBudget()
            md = self._local.md = _markdown(self._local.links)
        self._local.links.reset()
        html = self._convert(md, text)
        self._remember(text, html)
        return html

    def _convert(self, md: markdown.Markdown, text: str) -> str:
        """Markdown's sanitised HTML for ``text``, or its escaped text with a note when too dear.

        The plain-text form is not run through the sanitiser: it is escaped whole by ``html.escape``
        (no tag can survive it), and nh3 took 0.47 s to parse the 262,144 "&amp;" of a message of "&".
        """
        too_dear = measure(text).over_budget(self._render_budget_us)
        if too_dear is not None:
            return plain_text(text, too_dear)
        try:
            return sanitize(md.reset().convert(text))
        except RecursionError:
            # Python-Markdown recurses once per nesting level: 4 KB of "  * " nests 1,000 lists and
            # made the whole channel page fail. Such a message is shown as the text its author typed.
            return plain_text(text, "lists or quotes nested too deep to render as Markdown")

    def _remember(self, text: str, html: str) -> None:
        # Up to a quarter of the budget, so that every message of the largest size is kept, rendered or
        # shown as text: 256 KB of "&&&&😀" holds 3.4 MB with its HTML (4 bytes a character, "&amp;"
        # for each "&"). At an eighth, such messages were rendered again on every load of their page.
        size = _memory(text, html)
        if size > self._budget // 4:
            return
        with self._lock:
            if text in self._cache:
                return
            self._cache[text] = html
            self._cached_bytes += size
            while self._cached_bytes > self._budget:
                old_text, old_html = self._cache.popitem(last=False)
                self._cached_bytes -= _memory(old_text, old_html)


def _memory(text: str, html: str) -> int:
    """Bytes a cache entry holds: both strings as stored (1, 2 or 4 bytes a character)."""
    return sys.getsizeof(text) + sys.getsizeof(html)
