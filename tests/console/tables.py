"""The tables of a console page as text, the way a reader sees them: cell by cell."""

from __future__ import annotations

from html.parser import HTMLParser


class _Tables(HTMLParser):
    def __init__(self, wanted: str) -> None:
        super().__init__()
        self.wanted = wanted
        self.depth = 0  # inside the wanted element (a table, or what holds it)
        self.section = ""
        self.rows: dict[str, list[list[str]]] = {"thead": [], "tbody": [], "tfoot": []}
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        names = {f"#{found.get('id')}", *(f".{c}" for c in (found.get("class") or "").split())}
        if self.depth == 0 and self.wanted in names:
            self.depth = 1
            return
        if not self.depth:
            return
        if tag in self.rows:
            self.section = tag
        elif tag == "tr":
            self.rows[self.section].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if not self.depth:
            return
        if tag in ("td", "th") and self.cell is not None:
            self.rows[self.section][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "table":
            self.depth = 0

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_rows(html: str, wanted: str, section: str = "tbody") -> list[list[str]]:
    """The rows of the first table that is (or is inside) `wanted` ("#id" or ".class"),
    each a list of its cells' text; `section` is thead, tbody or tfoot."""
    parser = _Tables(wanted)
    parser.feed(html)
    return parser.rows[section]


def table_lines(html: str, wanted: str, section: str = "tbody") -> list[str]:
    """table_rows with each row's cells joined by a space: "BR mobile 2 1 0"."""
    return [" ".join(row) for row in table_rows(html, wanted, section)]
