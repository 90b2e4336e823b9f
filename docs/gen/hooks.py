"""MkDocs hooks: fill the generated parts of the pages from the code at every build.

Declared under `hooks:` in mkdocs.yml. A plain hook rather than mkdocs-gen-files: the pages
stay real files in the nav (so `--strict` checks their links like any other), the generators are
plain functions the tests import, and the build needs no plugin beyond the theme.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference  # noqa: E402

log = logging.getLogger("mkdocs.hooks.cronkit")


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """Expand the `<!-- gen:NAME -->` markers of a page; an undocumented setting fails a strict build."""
    try:
        return reference.expand(markdown)
    except reference.Undocumented as exc:
        log.warning("%s: %s", page.file.src_path, exc)
        return markdown
