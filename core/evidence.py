"""Canonical JSON and its SHA-256: the one digest function of the product.

Every digest Watchkeeper stores or prints (evidence of a decision, a reference profile, a
bundle part, an audit-chain link) is ``sha256:<hex>`` of :func:`canonical_json` of a value.
The encoding follows RFC 8785 (JSON Canonicalization Scheme): object keys sorted by their
UTF-16 code units, no insignificant whitespace, strings escaped minimally, numbers written
as ECMAScript writes them (shortest round-trip digits). NaN and infinities are refused:
a number that does not exist is ``None`` (``null``), never NaN.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["canonical_json", "digest", "format_number", "to_jsonable"]


def format_number(value: float) -> str:
    """Write a finite float as ECMAScript's ``Number.prototype.toString`` would."""
    if not math.isfinite(value):
        raise ValueError(f"{value!r} has no JSON form; use None for a missing number")
    if value == 0:
        return "0"  # also -0.0
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that round-trip (David Gay's algorithm); only the
    # layout differs between Python and ECMAScript, so take the digits and re-lay them.
    mantissa, _, exp = repr(abs(value)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    # n: position of the decimal point relative to the first significant digit (ES spec).
    n = len(int_part) + (int(exp) if exp else 0)
    if int_part == "0":
        stripped = frac_part.lstrip("0")
        n = -(len(frac_part) - len(stripped)) + (int(exp) if exp else 0)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        tail = f"{digits[0]}.{digits[1:]}" if k > 1 else digits
        text = f"{tail}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + text


def to_jsonable(value: Any) -> Any:
    """Plain JSON values from numpy scalars, tuples, dates and frozen dataclasses' dicts."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {key!r}")
            out[key] = to_jsonable(item)
        return out
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        return value.astimezone(_dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, _dt.date):
        return value.isoformat()
    item = getattr(value, "item", None)  # numpy scalars, without importing numpy
    if callable(item) and getattr(value, "shape", None) == ():
        return to_jsonable(item())
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, list):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value, key=lambda k: k.encode("utf-16-be"))):
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    else:  # pragma: no cover - to_jsonable has already refused it
        raise TypeError(type(value).__name__)


def canonical_json(value: Any) -> str:
    """The RFC 8785 canonical text of ``value`` (after :func:`to_jsonable`)."""
    out: list[str] = []
    _encode(to_jsonable(value), out)
    return "".join(out)


def digest(value: Any) -> str:
    """``sha256:<hex>`` of the UTF-8 canonical JSON of ``value``."""
    return "sha256:" + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
