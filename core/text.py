"""Text from data made safe for a terminal.

Names and values come from people and files we do not control: a model name holding U+202E
(right-to-left override) shows ``exe.gpj`` as ``jpg.exe``, an ESC sequence repaints or clears
the terminal, a NUL or newline cuts or forges a line. :func:`printable` renders each such
character as a visible escape. Standard library only: the CLI applies it to everything a
command prints.
"""

from __future__ import annotations

import unicodedata

__all__ = ["printable"]

#: Bidirectional formatting characters (Unicode's Bidi_Control property).
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
#: Line and paragraph separators: a terminal or an editor may break the line there.
_SEPARATORS = frozenset("\u2028\u2029")


def _unsafe(char: str) -> bool:
    return (
        char in BIDI_CONTROLS
        or char in _SEPARATORS
        or unicodedata.category(char) == "Cc"  # C0, DEL and C1 controls
    )


def printable(text: str, *, keep: str = "") -> str:
    """``text`` with every control, bidi control and line separator (except those in
    ``keep``) written as ``\\uXXXX``.

    One escape form for all of them, JSON's: a control inside a JSON string written this way
    still parses to the same value, so the escaping never breaks a document on stdout.
    """
    if text.isascii() and text.isprintable():  # the usual case, without a loop
        return text
    return "".join(f"\\u{ord(c):04x}" if c not in keep and _unsafe(c) else c for c in text)
