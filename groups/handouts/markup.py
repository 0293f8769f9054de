"""Markdown to safe HTML for handouts, with three worksheet conventions.

Content files are edited by staff but treated as untrusted: raw HTML is not
passed through (it comes out as visible text), images are dropped (nothing is
fetched) and links keep only http(s), mailto and tel targets.

Worksheet conventions on top of Markdown (``tables`` and ``sane_lists``):

- a line holding only ``:::lines N`` (N from 1 to 30) becomes N ruled writing
  lines: ``<div class="write-lines"><div class="write-line"></div>...</div>``;
- a line ``:::table ROWS | Heading | Heading {2} | ...`` becomes a table to
  fill in: the headings, then ROWS (1 to 20) empty rows of ruled cells.
  ``ROWSxH`` (H from 1 to 3) makes each row H writing lines tall. ``{N}``
  after a heading (N from 1 to 6) gives that column N shares of the width
  (default 1); widths print in 5 % steps as ``<col class="w-35">``;
- a list item ``- [ ] text`` becomes a printed empty checkbox:
  ``<ul class="checklist"><li class="check"><span class="box"
  aria-hidden="true"></span>text</li></ul>``.

A line starting with ``:::`` that is not one of these directives is an error
(``directives.directive_problems``), so a typo never prints as stray text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree
from functools import lru_cache

import markdown
from markdown.blockprocessors import BlockProcessor
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from .directives import DIRECTIVE_RE, DirectiveError, FillTable, parse_directive

CHECKBOX_RE = re.compile(r"^\[ \][ \t]+")
SHORT_ITEM = 32  # characters; see _checklist
SAFE_LINK_SCHEMES = ("http://", "https://", "mailto:", "tel:")


def _fill_table(parent, table: FillTable) -> None:
    element = etree.SubElement(parent, "table", {"class": f"fill rows-{table.row_lines}"})
    group = etree.SubElement(element, "colgroup")
    for width in table.width_classes():
        etree.SubElement(group, "col", {"class": width})
    head = etree.SubElement(etree.SubElement(element, "thead"), "tr")
    for heading in table.headings:
        etree.SubElement(head, "th", {"scope": "col"}).text = heading
    body = etree.SubElement(element, "tbody")
    for _ in range(table.rows):
        row = etree.SubElement(body, "tr")
        for _ in table.headings:
            etree.SubElement(row, "td")


class _DirectiveProcessor(BlockProcessor):
    """Turns a ``:::`` line into writing lines or a table to fill in. A line
    that does not parse stays visible text; ``check-handouts`` reports it."""

    def _find(self, block):
        for match in DIRECTIVE_RE.finditer(block):
            try:
                return match, parse_directive(match[0])
            except DirectiveError:
                continue
        return None, None

    def test(self, parent, block):
        return self._find(block)[0] is not None

    def run(self, parent, blocks):
        block = blocks.pop(0)
        match, directive = self._find(block)
        before, after = block[: match.start()].rstrip("\n"), block[match.end() :].lstrip("\n")
        if before.strip():
            self.parser.parseBlocks(parent, [before])
        if isinstance(directive, FillTable):
            _fill_table(parent, directive)
        else:
            box = etree.SubElement(parent, "div", {"class": "write-lines"})
            for _ in range(directive):
                etree.SubElement(box, "div", {"class": "write-line"})
        if after.strip():
            blocks.insert(0, after)


class _HandoutTreeprocessor(Treeprocessor):
    """Checklists, heading levels, and removal of images and unsafe links."""

    def __init__(self, md, title):
        super().__init__(md)
        self.title = title

    def run(self, root):
        self._headings(root)
        for parent in list(root.iter()):
            for index, child in enumerate(list(parent)):
                if child.tag == "img":
                    self._replace_image(parent, index, child)
                elif child.tag == "a":
                    href = child.get("href", "")
                    if not href.lower().startswith(SAFE_LINK_SCHEMES):
                        child.tag = "span"
                        child.attrib.clear()
        for ul in root.iter("ul"):
            self._checklist(ul)

    def _headings(self, root):
        # The print template shows the title as <h1>: drop a repeated title
        # and demote any other top-level heading so the outline stays sane.
        first = root[0] if len(root) else None
        if (
            first is not None
            and first.tag == "h1"
            and "".join(first.itertext()).strip().lower() == self.title.strip().lower()
        ):
            root.remove(first)
        for heading in root.iter("h1"):
            heading.tag = "h2"

    @staticmethod
    def _replace_image(parent, index, img):
        span = etree.Element("span", {"class": "image-alt"})
        span.text = img.get("alt", "")
        span.tail = img.tail
        parent.remove(img)
        parent.insert(index, span)

    @staticmethod
    def _checklist(ul):
        found = False
        items = ul.findall("li")
        for li in items:
            holder = li
            if not (li.text or "").strip() and len(li) and li[0].tag == "p":
                holder = li[0]  # loose list: the text sits in a paragraph
            match = CHECKBOX_RE.match(holder.text or "")
            if not match:
                continue
            found = True
            holder.text = holder.text[match.end() :]
            li.set("class", "check")
            box = etree.Element("span", {"class": "box", "aria-hidden": "true"})
            box.tail, holder.text = holder.text, None
            holder.insert(0, box)
        if found:
            # A long list of short options (values, feelings) prints in two columns.
            short = all(len("".join(li.itertext()).strip()) <= SHORT_ITEM for li in items)
            columns = short and len(items) >= 6 and all(li.get("class") == "check" for li in items)
            ul.set("class", "checklist columns" if columns else "checklist")


class HandoutExtension(Extension):
    def __init__(self, title: str = "", **kwargs):
        self.title = title
        super().__init__(**kwargs)

    def extendMarkdown(self, md):
        # Without these two, raw HTML is neither stashed nor passed through: the
        # serializer escapes it as ordinary text.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.parser.blockprocessors.register(_DirectiveProcessor(md.parser), "directives", 75)
        # After "inline" (20), so the text of list items is final.
        md.treeprocessors.register(_HandoutTreeprocessor(md, self.title), "handout", 15)


@lru_cache(maxsize=512)
def markdown_to_html(text: str, title: str = "") -> str:
    """Convert handout Markdown to an HTML fragment (a plain, safe string)."""
    converter = markdown.Markdown(
        extensions=["tables", "sane_lists", HandoutExtension(title=title)],
        output_format="html",
    )
    return converter.convert(text)
