"""fastjson: orjson speed, but integers beyond 64 bits stay exact (orjson would make them floats)."""

from __future__ import annotations

import pytest

from jspolicy import fastjson


@pytest.mark.parametrize("value", [2**64 - 1, 2**64, 10**19, 10**25 + 1, -(2**63) - 1, -(10**30)])
@pytest.mark.parametrize("as_bytes", [True, False])
def test_big_integers_stay_exact(value: int, as_bytes: bool) -> None:
    text = f'{{"a": [1, {{"v": {value}}}], "s": "x"}}'
    decoded = fastjson.loads(text.encode() if as_bytes else text)
    assert decoded["a"][1]["v"] == value and isinstance(decoded["a"][1]["v"], int)


def test_long_digit_runs_in_strings_and_floats_decode_the_same() -> None:
    text = '{"id": "123456789012345678901234", "f": 1.2345678901234567890123, "n": 12}'
    assert fastjson.loads(text) == {"id": "123456789012345678901234", "f": 1.2345678901234567890123, "n": 12}


def test_malformed_json_raises_value_error() -> None:
    with pytest.raises(ValueError):
        fastjson.loads(b'{"a": ')
    with pytest.raises(ValueError):
        fastjson.loads('{"a": "\ud800"')  # a lone surrogate in str input does not crash the check


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": NaN, "n": 123456789012345678901}', "NaN is not valid JSON"),
        ("[-Infinity, 123456789012345678901]", "-Infinity is not valid JSON"),
        ('{"a": 1e400, "n": 123456789012345678901}', "number 1e400 is out of range"),
        ('{"a": "\\ud800", "b": -1.8e308}', "number -1.8e308 is out of range"),
    ],
)
def test_the_exact_path_refuses_what_orjson_refuses(text: str, message: str) -> None:
    """The standard library reads these as floats that cannot be written as JSON again (V8 gets JSON text)."""
    for data in (text, text.encode()):
        with pytest.raises(ValueError, match=message):
            fastjson.loads(data)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_only_utf8_is_json(encoding: str) -> None:
    with pytest.raises(ValueError):
        fastjson.loads('{"a": 1}'.encode(encoding))


def test_tiny_numbers_and_big_integers_stay_on_the_exact_path() -> None:
    assert fastjson.loads(b"[1e-400, 1.5, 123456789012345678901]") == [0.0, 1.5, 123456789012345678901]
