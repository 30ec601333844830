"""The built site (docs/_build/html) is offline and whole: no page loads anything from the
network, and every internal link, anchor and image resolves.

Build it first with README's docs command (under <!-- ci:docs-command -->); .ci/run builds it
and then runs this file. Without a built site these tests skip and say how to build it.
"""
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "docs" / "_build" / "html"
BUILD = 'pip install ".[docs]" && python -m sphinx -W --keep-going -b html docs docs/_build/html'

pytestmark = pytest.mark.skipif(not (SITE / "index.html").exists(),
                                reason=f"no built site in {SITE}; build it with: {BUILD}")

# tags whose attribute makes the browser fetch something when the page loads
LOADING = {"script": "src", "img": "src", "iframe": "src", "source": "src", "video": "src",
           "audio": "src", "embed": "src", "object": "data", "link": "href"}


class Page(HTMLParser):
    """The fetched resources, the links and the element ids of one HTML page."""

    def __init__(self):
        super().__init__()
        self.loads, self.links, self.ids = [], [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag in LOADING and attrs.get(LOADING[tag]):
            self.loads.append((tag, attrs[LOADING[tag]]))
        if tag == "img" and attrs.get("srcset"):
            self.loads += [("img", part.split()[0]) for part in attrs["srcset"].split(",")]
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def parse(path):
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def pages():
    """The site's pages (not the theme's template fragments that Sphinx copies into _static)."""
    return sorted(p for p in SITE.rglob("*.html") if "_static" not in p.relative_to(SITE).parts)


def external(url):
    parts = urlsplit(url)
    return bool(parts.scheme in ("http", "https") or (not parts.scheme and parts.netloc))


def test_the_site_has_its_pages():
    names = {p.relative_to(SITE).as_posix() for p in pages()}
    expected = {"index.html", "tutorials/01_neurons_graphs_chain_rule.html",
                "tutorials/05_going_further.html", "annotated/conv.html", "annotated/tensor.html",
                "annotated/training.html", "api/tensor.html", "api/functional.html",
                "_generated/cli.html"}
    assert expected <= names, f"missing pages: {sorted(expected - names)}"
    assert (SITE / "_static" / "mathjax" / "tex-svg-full.js").stat().st_size > 500_000


def test_no_page_loads_anything_from_the_network():
    found = []
    for path in pages():
        for tag, url in parse(path).loads:
            if external(url):
                found.append(f"{path.relative_to(SITE)}: <{tag}> {url}")
    for css in SITE.rglob("*.css"):
        for url in re.findall(r"""(?:url\(|@import)\s*["']?((?:https?:)?//[^"')\s]+)""",
                              css.read_text(encoding="utf-8", errors="replace")):
            found.append(f"{css.relative_to(SITE)}: {url}")
    assert not found, "resources loaded from the network:\n" + "\n".join(found[:20])


def test_every_internal_link_anchor_and_image_resolves():
    parsed = {path: parse(path) for path in pages()}
    broken = []
    for path, page in parsed.items():
        for kind, url in [("link", u) for u in page.links] + [(t, u) for t, u in page.loads]:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or url.startswith("mailto:"):
                continue                                      # external links may be clicked
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(SITE)}: <{kind}> {url} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{path.relative_to(SITE)}: {url} (no anchor "
                                  f"#{parts.fragment} there)")
    assert not broken, f"{len(broken)} broken:\n" + "\n".join(broken[:30])


def test_tutorial_pages_show_their_figures_and_math():
    page = (SITE / "tutorials" / "04_training_segmentation.html").read_text(encoding="utf-8")
    images = re.findall(r"<img [^>]*src=\"([^\"]+)\"", page)
    assert len(images) >= 10, f"the executed notebook's figures should be on the page: {images}"
    assert "$$" in page or "\\(" in page or "math notranslate" in page, "no math on the page"


def test_no_page_shows_a_solution_marker():
    """Exercise answers are shown without their marker lines (or hidden, in a student edition)."""
    marked = [str(path.relative_to(SITE)) for path in pages()
              if "BEGIN SOLUTION" in path.read_text(encoding="utf-8")]
    assert not marked, f"pages with solution markers: {marked}"
