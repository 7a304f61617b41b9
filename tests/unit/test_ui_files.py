"""The browser UI's own files are well formed (a broken brace silently drops every later
rule of the style sheet) and refer only to files that exist."""

from __future__ import annotations

import re

from slidepacs.web.ui_files import STATIC_FOLDER


def test_the_style_sheet_has_balanced_braces_and_comments() -> None:
    text = (STATIC_FOLDER / "style.css").read_text()
    without_comments = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    assert "/*" not in without_comments and "*/" not in without_comments
    depth = 0
    for number, line in enumerate(without_comments.splitlines(), start=1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"style.css line {number}: a closing brace too many"
    assert depth == 0, "style.css: a rule is never closed"


def test_every_module_the_pages_import_exists() -> None:
    for script in STATIC_FOLDER.rglob("*.js"):
        for target in re.findall(r"""(?:from|import\()\s*["'](\.{1,2}/[^"']+)["']""",
                                 script.read_text()):
            assert (script.parent / target).resolve().is_file(), f"{script.name}: {target}"
