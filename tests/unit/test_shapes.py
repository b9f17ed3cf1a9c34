"""Tests for tests/support/shapes.py against real payload fixtures."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.support.shapes import (
    assert_same_shape,
    fixtures_dir,
    load_fixture,
    shape_errors,
    shape_of,
    shared_dir,
)

KLINE = "binance/examples/futures/market_data_json/kline_stream_closed.json"
EXEC_REPORT = "binance/captured/ws/ws_spot_execution_report_new.json"
BYBIT_BOOK = "bybit/examples/http_get_orderbook.json"
SPOT_KLINES = "binance/captured/rest/http_spot_market_klines.json"


def _raises(actual: object, expected: object, **kw: object) -> str:
    with pytest.raises(AssertionError) as info:
        assert_same_shape(actual, expected, **kw)  # type: ignore[arg-type]
    return str(info.value)


# ---------------------------------------------------------------- shape_of


def test_shape_of_scalars() -> None:
    assert shape_of(None) == "null"
    assert shape_of(True) == "bool"
    assert shape_of(0) == "int"
    assert shape_of(1.5) == "float"
    assert shape_of("x") == "str"


def test_shape_of_containers_union_and_order() -> None:
    assert shape_of({"a": 1, "b": [1, "x", 2, "y"]}) == {"a": "int", "b": ["int", "str"]}
    assert shape_of([]) == []
    assert shape_of([{"a": 1}, {"a": 2}, {"a": "x"}]) == [{"a": "int"}, {"a": "str"}]
    assert shape_of((1, 2)) == ["int"]


def test_shape_of_rejects_non_json() -> None:
    with pytest.raises(TypeError, match="unsupported type"):
        shape_of(object())


def test_shape_of_real_fixture() -> None:
    kline = load_fixture(KLINE)
    shape = shape_of(kline)
    assert isinstance(shape, dict)
    assert shape["k"]["o"] == "str"
    assert shape["k"]["t"] == "int"
    assert shape["k"]["x"] == "bool"
    # Spot klines are heterogeneous arrays: union of int and str.
    assert shape_of(load_fixture(SPOT_KLINES)) == [["int", "str"]]


# ---------------------------------------------------------------- matching


def test_fixture_matches_itself_and_changed_values() -> None:
    for rel in (KLINE, EXEC_REPORT, BYBIT_BOOK, SPOT_KLINES):
        data = load_fixture(rel)
        assert_same_shape(data, data)
    kline = load_fixture(KLINE)
    sim = copy.deepcopy(kline)
    sim["k"]["o"] = "64000.10"
    sim["k"]["n"] = 7
    assert_same_shape(sim, kline)


def test_price_as_float_is_reported_by_path() -> None:
    kline = load_fixture(KLINE)
    sim = copy.deepcopy(kline)
    sim["k"]["o"] = 64000.1
    msg = _raises(sim, kline)
    assert "shape mismatch (1 problem):" in msg
    assert "$.k.o: expected str got float" in msg


def test_int_vs_float_is_an_error() -> None:
    kline = load_fixture(KLINE)
    sim = copy.deepcopy(kline)
    sim["k"]["t"] = 1638747660000.0
    assert "$.k.t: expected int got float" in _raises(sim, kline)
    sim["k"]["t"] = "1638747660000"
    assert "$.k.t: expected int got str" in _raises(sim, kline)


def test_bool_is_not_int() -> None:
    kline = load_fixture(KLINE)
    sim = copy.deepcopy(kline)
    sim["k"]["x"] = 1
    assert "$.k.x: expected bool got int" in _raises(sim, kline)


def test_missing_and_extra_keys_listed_together() -> None:
    kline = load_fixture(KLINE)
    sim = copy.deepcopy(kline)
    del sim["k"]["B"]
    del sim["E"]
    sim["k"]["zz"] = 1
    sim["k"]["o"] = 1.0
    msg = _raises(sim, kline)
    assert "shape mismatch (4 problems):" in msg
    assert "$.E: missing key (expected int)" in msg
    assert "$.k.B: missing key (expected str)" in msg
    assert "$.k.zz: unexpected key (got int)" in msg
    assert "$.k.o: expected str got float" in msg


def test_allow_missing_extra_and_ignore_by_name_and_path() -> None:
    kline = load_fixture(KLINE)
    sim = copy.deepcopy(kline)
    del sim["k"]["B"]
    sim["k"]["zz"] = 1
    sim["k"]["o"] = 1.0
    assert_same_shape(sim, kline, allow_missing={"B"}, allow_extra={"$.k.zz"}, ignore_keys={"o"})
    # A path filter applies only at that path.
    msg = _raises(sim, kline, allow_missing={"$.B"}, allow_extra={"zz"}, ignore_keys={"$.k.o"})
    assert "$.k.B: missing key" in msg
    assert "zz" not in msg


def test_null_in_fixture_matches_anything_unless_strict() -> None:
    report = load_fixture(EXEC_REPORT)
    assert report["data"]["N"] is None
    sim = copy.deepcopy(report)
    sim["data"]["N"] = "BNB"
    assert_same_shape(sim, report)
    assert "$.data.N: expected null got str" in _raises(sim, report, strict=True)


def test_null_in_actual_is_an_error_where_fixture_has_a_type() -> None:
    report = load_fixture(EXEC_REPORT)
    sim = copy.deepcopy(report)
    sim["data"]["c"] = None
    assert "$.data.c: expected str got null" in _raises(sim, report)


def test_lists_every_element_checked_against_union() -> None:
    book = load_fixture(BYBIT_BOOK)
    sim = copy.deepcopy(book)
    sim["result"]["b"].append(["27449.00", 1.5])
    msg = _raises(sim, book)
    assert "$.result.b[*][*]: expected str got float" in msg


def test_empty_list_matches_any_list_either_side() -> None:
    book = load_fixture(BYBIT_BOOK)
    sim = copy.deepcopy(book)
    sim["result"]["a"] = []
    assert_same_shape(sim, book)
    assert_same_shape(book, sim)
    # ... but not a non-list
    sim["result"]["a"] = {}
    assert "$.result.a: expected list[list[str]] got object" in _raises(sim, book)


def test_heterogeneous_arrays_use_union() -> None:
    klines = load_fixture(SPOT_KLINES)
    sim = [[1, "2", "3", "4", "5", "6", 7, "8", 9, "10", "11", "0"]]
    assert_same_shape(sim, klines)
    sim[0][1] = 2.0
    assert "$[*][*]: expected int|str got float" in _raises(sim, klines)


def test_list_of_objects_picks_closest_alternative() -> None:
    expected = [{"a": 1, "b": "x"}, {"a": 1, "c": True}]
    assert_same_shape([{"a": 2, "c": False}, {"a": 3, "b": "y"}], expected)
    msg = _raises([{"a": 2, "c": "no"}], expected)
    assert msg.splitlines()[1:] == ["  $[*].c: expected bool got str"]


def test_top_level_type_mismatch_and_custom_path() -> None:
    assert "$: expected object got list" in _raises([], {"a": 1})
    assert "msg.x: expected str got int" in _raises({"x": 1}, {"x": "a"}, path="msg")


def test_keys_that_are_not_identifiers_are_quoted() -> None:
    errors = shape_errors({"a-b": 1}, {"a-b": "s"})
    assert errors == ['$["a-b"]: expected str got int']


# ---------------------------------------------------------------- fixtures


def test_load_fixture_default_location() -> None:
    assert shared_dir().name == "shared"
    assert fixtures_dir().is_dir()
    text = load_fixture("binance/captured/btcusdt-depth-snap.csv")
    assert isinstance(text, str) and text


def test_load_fixture_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "fixtures" / "exchange-payloads" / "x"
    target.mkdir(parents=True)
    (target / "p.json").write_text(json.dumps({"a": [1]}))
    monkeypatch.setenv("TERMINAL_SHARED_DIR", str(tmp_path))
    assert load_fixture("x/p.json") == {"a": [1]}
    with pytest.raises(FileNotFoundError, match="TERMINAL_SHARED_DIR"):
        load_fixture("x/none.json")
