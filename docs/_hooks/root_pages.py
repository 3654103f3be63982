"""MkDocs hook: the repository's README, CONTRIBUTING and CHANGELOG as pages of the site.

They live at the repository root (where GitHub and PyPI show them), outside ``docs/``. This
hook adds each as a generated page (``README.md`` becomes the home page ``index.md``) and
rewrites its links into ``docs/`` (``docs/cli.md`` -> ``cli.md``), so ``mkdocs build
--strict`` checks them like every other link. Nothing is written into ``docs/``.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

#: root file -> its page in the site
ROOT_PAGES = {
    "README.md": "index.md",
    "CONTRIBUTING.md": "contributing.md",
    "CHANGELOG.md": "changelog.md",
}
_DOCS_LINK = re.compile(r"\]\(docs/")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the root pages to the site's files (an error if one is missing)."""
    root = Path(config.config_file_path).parent
    for name, page in ROOT_PAGES.items():
        text = (root / name).read_text(encoding="utf-8")
        files.append(File.generated(config, page, content=_DOCS_LINK.sub("](", text)))
    return files
