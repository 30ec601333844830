"""Sphinx configuration of minicnn's site: python -m sphinx -W --keep-going -b html docs docs/_build/html

Pages: the README as the landing page, the five tutorials from their executed notebooks (never
re-executed here: `python tools/build_notebooks.py` runs them), "The engine, annotated", the API
reference from the docstrings, and any docs/*.md page (docs/course.md, docs/outgrow.md, ...).
Nothing is loaded from the network: the theme's files and MathJax are copied into the site.
"""
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))          # the minicnn in this checkout, even if not installed

import minicnn  # noqa: E402
import minicnn_docs  # noqa: E402

minicnn_docs.prepare(DOCS)

project = "minicnn"
author = "the minicnn authors"
copyright = "the minicnn authors"
release = version = minicnn.__version__

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax", "minicnn_docs"]
exclude_patterns = ["_build", "_toc.md", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header"]          # the README and notebooks start their levels at #

# Markdown and notebooks (myst-nb): $...$ math, and the notebooks as committed, outputs included
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"
nb_merge_streams = True

# API reference: members in source order, signatures without the module path
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
add_module_names = False

# Math from the local MathJax copy (see _ext/minicnn_docs.py), relative to _static/
mathjax_path = f"mathjax/{minicnn_docs.MATHJAX_FILE}"

html_theme = "sphinx_book_theme"
html_title = "minicnn"
html_static_path = ["_static"]
html_css_files = ["minicnn.css"]
html_theme_options = {
    "show_navbar_depth": 1,
    "home_page_in_toc": True,
    "use_download_button": False,
    "use_fullscreen_button": False,
}
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False

# MathJax's context menu is off: its speech and explorer options would fetch more code (from
# the network, on a click), and nothing on the site needs them
mathjax3_config = {"options": {"enableMenu": False}}
