"""Canonical JSON against RFC 8785's published number vectors, and digest stability."""

import json
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchkeeper.core.evidence import canonical_json, digest, format_number

# RFC 8785, Appendix B: IEEE-754 bit patterns and their canonical text.
RFC8785_NUMBERS = {
    "0000000000000000": "0",
    "8000000000000000": "0",
    "0000000000000001": "5e-324",
    "8000000000000001": "-5e-324",
    "7fefffffffffffff": "1.7976931348623157e+308",
    "ffefffffffffffff": "-1.7976931348623157e+308",
    "4340000000000000": "9007199254740992",
    "c340000000000000": "-9007199254740992",
    "4430000000000000": "295147905179352830000",
    "44b52d02c7e14af5": "9.999999999999997e+22",
    "44b52d02c7e14af6": "1e+23",
    "444b1ae4d6e2ef4e": "999999999999999700000",
    "444b1ae4d6e2ef4f": "999999999999999900000",
    "444b1ae4d6e2ef50": "1e+21",
    "3eb0c6f7a0b5ed8c": "9.999999999999997e-7",
    "3eb0c6f7a0b5ed8d": "0.000001",
    "41b3de4355555553": "333333333.3333332",
    "41b3de4355555554": "333333333.33333325",
    "41b3de4355555555": "333333333.3333333",
    "41b3de4355555556": "333333333.3333334",
    "41b3de4355555557": "333333333.33333343",
    "becbf647612f3696": "-0.0000033333333333333333",
    "43143ff3c1cb0959": "1424953923781206.2",
}


@pytest.mark.parametrize(("bits", "expected"), RFC8785_NUMBERS.items())
def test_numbers_follow_rfc8785(bits: str, expected: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert format_number(value) == expected


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_round_trip(value: float) -> None:
    assert float(format_number(value)) == value or value == 0


def test_object_keys_sort_by_utf16_code_units() -> None:
    # RFC 8785 §3.2.3's example: sorting by UTF-16 puts U+1F600 (surrogates D83D..) before
    # U+FB33 even though its code point is larger.
    value = {
        "\u20ac": "Euro",
        "\r": "CR",
        "\ufb33": "Hebrew",
        "1": "One",
        "\U0001f600": "Smiley",
        "\u0080": "Control",
        "\u00f6": "Latin",
    }
    text = canonical_json(value)
    keys = list(json.loads(text))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_rfc8785_example_document() -> None:
    value = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    assert canonical_json(value) == (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )


def test_refuses_nan_and_infinity() -> None:
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="None"):
            canonical_json({"x": bad})


def test_refuses_non_string_keys_and_unknown_types() -> None:
    with pytest.raises(TypeError):
        canonical_json({1: "a"})
    with pytest.raises(TypeError):
        canonical_json({"a": object()})


def test_numpy_scalars_and_tuples_are_plain_values() -> None:
    np = pytest.importorskip("numpy")
    assert canonical_json({"a": np.float64(0.5), "b": np.int64(3), "c": (1, 2)}) == (
        '{"a":0.5,"b":3,"c":[1,2]}'
    )


def test_digest_is_sha256_of_canonical_text_and_ignores_key_order() -> None:
    a = digest({"b": 1, "a": [1.0, "x"]})
    b = digest({"a": [1, "x"], "b": 1.0})
    assert a == b
    assert a == "sha256:" + __import__("hashlib").sha256(b'{"a":[1,"x"],"b":1}').hexdigest()
    assert digest({"a": 1}) != digest({"a": 2})
