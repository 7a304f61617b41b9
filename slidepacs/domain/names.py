"""Search keys for text that people type: case-, width- and caret-insensitive."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def name_key(text: str) -> str:
    """Normalise a person name (or any typed text) for case-insensitive search.

    NFKC folds full-width and half-width forms, ``casefold`` folds case in every script, and
    the PN component separator ``^`` counts as a space so ``doe john`` finds ``DOE^JOHN``.
    Component groups (``=``) are kept so each group stays searchable.
    """
    folded = unicodedata.normalize("NFKC", text).casefold().replace("^", " ")
    groups = [_SPACES.sub(" ", group).strip() for group in folded.split("=")]
    while groups and not groups[-1]:
        groups.pop()
    return "=".join(groups)


def name_group_keys(text: str) -> tuple[str, str, str]:
    """Search keys of a person name's alphabetic, ideographic and phonetic groups."""
    groups = name_key(text).split("=")
    alphabetic, ideographic, phonetic = (groups + ["", "", ""])[:3]
    return alphabetic, ideographic, phonetic
