"""One self-contained HTML page: inline CSS, figures as SVG data URIs, no script, no network.

Every string that comes from a database or a file (model names, commands, errors, paths) goes through
`esc` (``html.escape`` with quotes); markup is only ever built here, as `Markup`, from escaped parts.
A Content-Security-Policy that allows nothing but inline styles and ``data:`` images backs that up: a
hostile name that slipped through could still not run a script nor fetch anything.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1280px;padding:0 18px 60px;
color:#1d232a;background:#fff}
h1{font-size:24px;margin:22px 0 4px}h2{font-size:19px;margin:34px 0 8px;border-bottom:1px solid #d6dbe0;padding-bottom:4px}
h3{font-size:15px;margin:20px 0 6px}p.note,.caption{color:#4b5560;font-size:12.5px}
table{border-collapse:collapse;margin:6px 0 14px;font-size:12.5px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d6dbe0;padding:3px 7px;vertical-align:top}th{background:#f2f4f6;text-align:left}
td.num{text-align:right;white-space:nowrap}tr:nth-child(even) td{background:#fafbfc}
.flag{display:inline-block;border-radius:3px;padding:0 5px;margin:1px 2px;font-size:11.5px;white-space:nowrap}
.flag-estimated{background:#eef1f4;color:#3b4652}.flag-unstable{background:#fff1c2;color:#6b4e00}
.flag-below{background:#c62828;color:#fff;font-weight:600}.flag-failed{background:#6d1b7b;color:#fff}
.flag-stored{background:#ffe0cc;color:#7a3300}
figure{margin:10px 0 24px}figure img{max-width:100%;height:auto;border:1px solid #e3e6e9}
code{font-size:12px;background:#f2f4f6;padding:0 3px;border-radius:2px;word-break:break-all}
details{margin:6px 0}div.wide{overflow-x:auto;max-width:100%}summary{cursor:pointer;font-weight:600}nav a{margin-right:12px}
"""


class Markup(str):
    """Text that is already HTML (built here from escaped parts)."""


def esc(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[object], sep: str = "") -> Markup:
    return Markup(sep.join(esc(p) for p in parts))


def tag(name: str, body: object = "", **attrs: object) -> Markup:
    attr = "".join(f' {k.rstrip("_").replace("_", "-")}="{esc(v)}"' for k, v in attrs.items() if v is not None)
    return Markup(f"<{name}{attr}>{esc(body)}</{name}>")


def num(value: float | None, digits: int = 3, unit: str = "") -> Markup:
    """A number cell's text: significant digits, a dash when absent."""
    if value is None:
        return Markup("-")
    text = f"{value:.{digits}g}" if abs(value) < 1e6 else f"{value:.{digits}e}"
    return esc(text + (f" {unit}" if unit else ""))


def flag(text: str) -> Markup:
    """A flag badge; the class follows the flag's family (below floor is the loudest)."""
    low = text.lower()
    family = ("below" if low.startswith("below floor") else "failed" if low.startswith("failed")
              else "unstable" if low.startswith("unstable") else "estimated" if low == "estimated" else "stored")
    return tag("span", text, class_=f"flag flag-{family}")


def flags(items: Iterable[str]) -> Markup:
    return join([flag(f) for f in dict.fromkeys(items)])


@dataclass(frozen=True)
class Cell:
    body: Markup
    numeric: bool = False


def cell(value: object, numeric: bool = False) -> Cell:
    return Cell(esc(value), numeric)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[bool] | None = None) -> Markup:
    """Rows of values (escaped) or `Markup`/`Cell`; ``numeric`` right-aligns columns."""
    numeric = list(numeric or [False] * len(headers))
    head = join([tag("th", h) for h in headers])
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            c = value if isinstance(value, Cell) else Cell(esc(value), numeric[i] if i < len(numeric) else False)
            cells.append(tag("td", c.body, class_="num" if c.numeric else None))
        body.append(tag("tr", join(cells)))
    inner = tag("table", join([tag("thead", tag("tr", head)), tag("tbody", join(body))]))
    return tag("div", inner, class_="wide")


def figure_html(svg: str, title: str, caption: str, name: str) -> Markup:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    img = Markup(f'<img src="data:image/svg+xml;base64,{data}" alt="{esc(title)}" data-figure="{esc(name)}">')
    return tag("figure", join([img, tag("figcaption", join([tag("b", title), ". ", caption]), class_="caption")]),
               id=f"fig-{name}")


def page(title: str, subtitle: Markup, nav: Sequence[tuple[str, str]], sections: Sequence[Markup]) -> str:
    links = join([tag("a", label, href=f"#{anchor}") for anchor, label in nav])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"{tag('h1', title)}{tag('p', subtitle, class_='note')}{tag('nav', links)}"
            + "".join(sections) + "</body></html>\n")


def section(anchor: str, title: str, body: Iterable[Markup]) -> Markup:
    return tag("section", join([tag("h2", title)] + list(body)), id=anchor)
