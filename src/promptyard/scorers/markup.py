"""is-html and contains-html, as promptfoo decides HTML: a parse that finds element tags.

promptfoo parses the output and looks for real HTML elements (not just anything in angle
brackets): `contains-html` passes when the output holds at least one HTML element tag (or an
HTML doctype); `is-html` when the whole trimmed output is HTML: it starts with `<` and ends
with `>`, is not an XML document, has at least one HTML element, and no text outside elements.
The parse is the standard library's HTMLParser (lenient, like a browser's), with the names of
the HTML elements (WHATWG list, plus a few legacy ones) deciding which tags count.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from promptyard.core.types import GradingResult
from promptyard.scorers.base import CheckInput

_ELEMENTS = """a abbr address area article aside audio b base bdi bdo blockquote body br button
canvas caption cite code col colgroup data datalist dd del details dfn dialog div dl dt em embed
fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img
input ins kbd label legend li link main map mark menu meta meter nav noscript object ol optgroup
option output p param picture pre progress q rp rt ruby s samp script search section select slot
small source span strong style sub summary sup table tbody td template textarea tfoot th thead
time title tr track u ul var video wbr svg math center font big strike tt marquee frameset frame
noframes acronym"""
HTML_ELEMENTS = frozenset(_ELEMENTS.split())
_VOID = frozenset(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "param", "source", "track", "wbr"])  # fmt: skip


@cache
def _scanner() -> Any:
    """The parser class, built on first use: html.parser costs ~3.5 ms to import, and most
    runs never check HTML."""
    from html.parser import HTMLParser

    class _Scan(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.elements = 0
            self.doctype = False
            self.depth = 0
            self.outside_text = False

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in HTML_ELEMENTS:
                self.elements += 1
            if tag not in _VOID:
                self.depth += 1

        def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in HTML_ELEMENTS:
                self.elements += 1

        def handle_endtag(self, tag: str) -> None:
            if tag not in _VOID and self.depth > 0:
                self.depth -= 1

        def handle_decl(self, decl: str) -> None:
            if decl.lower().startswith("doctype html"):
                self.doctype = True

        def handle_data(self, data: str) -> None:
            if self.depth == 0 and data.strip():
                self.outside_text = True

    return _Scan


def _scan(text: str) -> Any:
    scan = _scanner()()
    scan.feed(text)
    scan.close()
    return scan


def html_problem(text: str) -> str | None:
    """Why `text` is not an HTML document or fragment; None when it is."""
    trimmed = text.strip()
    if not trimmed:
        return "Output is empty"
    if not trimmed.startswith("<") or not trimmed.endswith(">"):
        return "Output must be wrapped in HTML tags"
    if trimmed.startswith("<?xml"):
        return "Output appears to be XML, not HTML"
    scan = _scan(trimmed)
    if scan.elements == 0:
        return "Output does not contain recognizable HTML elements"
    if scan.outside_text:
        return "Output contains text outside of HTML elements"
    return None


def contains_html(text: str) -> bool:
    if "<" not in text:
        return False
    scan = _scan(text)
    return bool(scan.elements > 0 or scan.doctype)


def check_is_html(inp: CheckInput) -> GradingResult:
    problem = html_problem(inp.text)
    holds = problem is None
    if holds != inp.inverse:
        return inp.result(True, "Assertion passed")
    if inp.inverse:
        return inp.result(False, "Output is valid HTML")
    return inp.result(False, problem or "Output is not valid HTML")


def check_contains_html(inp: CheckInput) -> GradingResult:
    return inp.verdict(contains_html(inp.text), "contain HTML content")
