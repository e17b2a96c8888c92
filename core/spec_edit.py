"""Change a few keys of one table of a monitor spec's TOML text, keeping everything else —
comments, order, spacing — as written (tomlkit is not a dependency; the rule editor only
sets scalar keys of ``[drift]`` and ``[health]``).

A key already in the table has its value replaced on its own line (a trailing comment stays);
a missing key is added after the table's last key; a missing table is appended at the end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

__all__ = ["set_table_keys", "toml_value"]

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-]+)\s*\]\s*(#.*)?$")
_ARRAY_HEADER = re.compile(r"^\s*\[\[")


def toml_value(value: object) -> str:
    """A scalar as TOML: booleans, integers, finite floats and strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("a spec threshold must be a finite number")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string is JSON's
    raise TypeError(f"cannot write {type(value).__name__} into a spec")


def set_table_keys(text: str, table: str, values: Mapping[str, object]) -> str:
    """``text`` with ``[table]``'s ``values`` set (see the module doc)."""
    lines = text.splitlines(keepends=True)
    start = end = None
    for i, line in enumerate(lines):
        m = _HEADER.match(line.rstrip("\r\n"))
        if start is None:
            if m and m.group(1) == table:
                start = i
        elif m or _ARRAY_HEADER.match(line):
            end = i
            break
    pending = dict(values)
    if start is None:
        tail = "" if not text or text.endswith("\n") else "\n"
        body = "".join(f"{k} = {toml_value(v)}\n" for k, v in pending.items())
        return f"{text}{tail}\n[{table}]\n{body}"
    end = len(lines) if end is None else end
    last_key = start
    for i in range(start + 1, end):
        m = re.match(r"^(\s*)([A-Za-z0-9_\-]+)(\s*=\s*)([^#\r\n]*?)(\s*#.*)?(\r?\n)?$", lines[i])
        if not m:
            continue
        last_key = i
        key = m.group(2)
        if key in pending:
            new = toml_value(pending.pop(key))
            lines[i] = f"{m.group(1)}{key}{m.group(3)}{new}{m.group(5) or ''}{m.group(6) or ''}"
    if pending:
        if not lines[last_key].endswith("\n"):
            lines[last_key] += "\n"
        added = [f"{k} = {toml_value(v)}\n" for k, v in pending.items()]
        lines[last_key + 1 : last_key + 1] = added
    return "".join(lines)
