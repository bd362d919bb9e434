"""mkdocs hook: the reference pages are generated from the code at build time, never copied.

`reference/configuration.md` comes from the settings classes (`config_reference.py`) and
`reference/cli.md` from the argument parser (`cli_reference.py`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.structure.files import File

# mkdocs loads a hook by its path, not as a package: its sibling modules need the folder on the path.
sys.path.insert(0, str(Path(__file__).parent))

import cli_reference
import config_reference

PAGES = {
    "reference/configuration.md": config_reference.render,
    "reference/cli.md": cli_reference.render,
}


def on_files(files, config):
    for uri, render in PAGES.items():
        files.append(File.generated(config, uri, content=render()))
    return files
