"""Structural comparison of simulator messages against real exchange payload fixtures.

The simulator must speak the venues' wire formats closely enough that the real
python-binance and pybit clients (and our own adapters) cannot tell the difference.
Values differ between a capture and a simulated message, so conformance tests compare
*shapes*: which keys exist and which JSON type each value has.

Shape description (``shape_of``), plain data so it prints and compares easily:

* scalar  -> ``"str" | "int" | "float" | "bool" | "null"``
* object  -> ``dict`` mapping each key to its shape
* array   -> ``list`` of the distinct element shapes (the union over all elements);
  ``[]`` for an empty array.

Matching rules (``assert_same_shape``):

* ``null`` in the fixture matches any type (venues document such fields as optional)
  unless ``strict=True``.
* ``int`` vs ``float`` is an error: Binance sends ids as int and prices as str, so a
  simulator emitting a float price or a str id is a real incompatibility.
* An empty array on either side matches any array.
* Every element shape of an actual array must match one of the fixture's element shapes.

Key filters (``ignore_keys``, ``allow_missing``, ``allow_extra``) take either a bare key
name, which applies at any depth, or a JSON path starting with ``$`` (list elements are
written ``[*]``), e.g. ``"$.data.k.o"`` or ``"$.result.list[*].seq"``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "Shape",
    "assert_same_shape",
    "fixture_path",
    "fixtures_dir",
    "load_fixture",
    "shape_errors",
    "shape_of",
    "shared_dir",
]

# A shape is a scalar type name, a dict of key -> shape, or a list of alternative shapes.
Shape = str | dict[str, Any] | list[Any]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --------------------------------------------------------------------------- shapes


def shape_of(obj: Any) -> Shape:
    """Return the structural description of a JSON-like value (see module docstring)."""
    if obj is None:
        return "null"
    # bool before int: bool is a subclass of int in Python.
    if isinstance(obj, bool):
        return "bool"
    if isinstance(obj, int):
        return "int"
    if isinstance(obj, float):
        return "float"
    if isinstance(obj, str):
        return "str"
    if isinstance(obj, Mapping):
        return {str(k): shape_of(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return _union(shape_of(item) for item in obj)
    raise TypeError(f"shape_of: unsupported type {type(obj).__name__}")


def _union(shapes: Iterable[Shape]) -> list[Shape]:
    """Deduplicate shapes, keeping first-seen order (deterministic output)."""
    seen: list[Shape] = []
    for s in shapes:
        if s not in seen:
            seen.append(s)
    return seen


def _kind(shape: Shape) -> str:
    if isinstance(shape, dict):
        return "object"
    if isinstance(shape, list):
        return "list"
    return shape


def _describe(shape: Shape) -> str:
    """Short human description of a shape for error messages."""
    if isinstance(shape, dict):
        return "object"
    if isinstance(shape, list):
        if not shape:
            return "list"
        return "list[" + "|".join(_describe(s) for s in shape) + "]"
    return shape


def _describe_union(shapes: list[Shape]) -> str:
    return "|".join(_describe(s) for s in shapes) if shapes else "nothing"


# --------------------------------------------------------------------------- comparison


class _Filter:
    """A set of key names (any depth) and JSON paths."""

    def __init__(self, items: Iterable[str]) -> None:
        self.names = frozenset(i for i in items if not i.startswith("$"))
        self.paths = frozenset(i for i in items if i.startswith("$"))

    def __contains__(self, key_and_path: tuple[str, str]) -> bool:
        key, path = key_and_path
        return key in self.names or path in self.paths


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENT.match(key) else f"{path}[{json.dumps(key)}]"


class _Comparer:
    def __init__(self, ignore: _Filter, missing: _Filter, extra: _Filter, strict: bool) -> None:
        self.ignore = ignore
        self.missing = missing
        self.extra = extra
        self.strict = strict

    def compare(self, actual: Shape, expected: Shape, path: str) -> list[str]:
        if expected == "null" and not self.strict:
            return []
        a_kind, e_kind = _kind(actual), _kind(expected)
        if a_kind != e_kind:
            return [f"{path}: expected {_describe(expected)} got {_describe(actual)}"]
        if isinstance(expected, dict):
            assert isinstance(actual, dict)
            return self._compare_objects(actual, expected, path)
        if isinstance(expected, list):
            assert isinstance(actual, list)
            return self._compare_lists(actual, expected, path)
        return []  # same scalar type

    def _compare_objects(self, actual: dict[str, Any], expected: dict[str, Any], path: str) -> list[str]:
        errors: list[str] = []
        for key, e_shape in expected.items():
            kp = _key_path(path, key)
            if (key, kp) in self.ignore:
                continue
            if key not in actual:
                if (key, kp) not in self.missing:
                    errors.append(f"{kp}: missing key (expected {_describe(e_shape)})")
                continue
            errors.extend(self.compare(actual[key], e_shape, kp))
        for key, a_shape in actual.items():
            kp = _key_path(path, key)
            if key in expected or (key, kp) in self.ignore or (key, kp) in self.extra:
                continue
            errors.append(f"{kp}: unexpected key (got {_describe(a_shape)})")
        return errors

    def _compare_lists(self, actual: list[Shape], expected: list[Shape], path: str) -> list[str]:
        # An empty list on either side carries no element information: accept it.
        if not actual or not expected:
            return []
        elem_path = f"{path}[*]"
        errors: list[str] = []
        for a_elem in actual:
            errors.extend(self.match_union(a_elem, expected, elem_path))
        return errors

    def match_union(self, actual: Shape, alternatives: list[Shape], path: str) -> list[str]:
        """Errors for ``actual`` against the best of several alternatives ([] if one fits)."""
        if not self.strict and "null" in alternatives:
            return []
        same_kind = [alt for alt in alternatives if _kind(alt) == _kind(actual)]
        if not same_kind:
            return [f"{path}: expected {_describe_union(alternatives)} got {_describe(actual)}"]
        best: list[str] | None = None
        for alt in same_kind:
            errs = self.compare(actual, alt, path)
            if not errs:
                return []
            if best is None or len(errs) < len(best):
                best = errs
        assert best is not None
        return best


def shape_errors(
    actual: Any,
    expected: Any,
    *,
    ignore_keys: Iterable[str] = frozenset(),
    allow_missing: Iterable[str] = frozenset(),
    allow_extra: Iterable[str] = frozenset(),
    strict: bool = False,
    path: str = "$",
) -> list[str]:
    """Return the list of shape problems (empty when ``actual`` conforms to ``expected``)."""
    comparer = _Comparer(_Filter(ignore_keys), _Filter(allow_missing), _Filter(allow_extra), strict)
    errors = comparer.compare(shape_of(actual), shape_of(expected), path)
    # Dedupe while keeping order: a union can report the same path more than once.
    return list(dict.fromkeys(errors))


def assert_same_shape(
    actual: Any,
    expected: Any,
    *,
    ignore_keys: Iterable[str] = frozenset(),
    allow_missing: Iterable[str] = frozenset(),
    allow_extra: Iterable[str] = frozenset(),
    strict: bool = False,
    path: str = "$",
) -> None:
    """Assert that ``actual`` (e.g. a simulator message) has the shape of ``expected``
    (a real payload fixture). Raises AssertionError listing every problem by JSON path,
    e.g. ``$.data.k.o: expected str got float``.
    """
    errors = shape_errors(
        actual,
        expected,
        ignore_keys=ignore_keys,
        allow_missing=allow_missing,
        allow_extra=allow_extra,
        strict=strict,
        path=path,
    )
    if errors:
        noun = "problem" if len(errors) == 1 else "problems"
        raise AssertionError(f"shape mismatch ({len(errors)} {noun}):\n  " + "\n  ".join(errors))


# --------------------------------------------------------------------------- fixtures


def shared_dir() -> Path:
    """The shared directory next to the repo (``TERMINAL_SHARED_DIR`` overrides)."""
    env = os.environ.get("TERMINAL_SHARED_DIR")
    if env:
        return Path(env).expanduser().resolve()
    # tests/support/shapes.py -> parents: support, tests, <repo>, <repo's parent>
    return Path(__file__).resolve().parents[3] / "shared"


def fixtures_dir() -> Path:
    return shared_dir() / "fixtures" / "exchange-payloads"


def fixture_path(relpath: str | os.PathLike[str]) -> Path:
    return fixtures_dir() / relpath


def load_fixture(relpath: str | os.PathLike[str]) -> Any:
    """Load a payload fixture: parsed JSON for ``*.json``, text for anything else.

    Raises FileNotFoundError naming the resolved path (and the override variable) when missing.
    """
    path = fixture_path(relpath)
    if not path.is_file():
        raise FileNotFoundError(f"fixture not found: {path} (set TERMINAL_SHARED_DIR to the shared dir)")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    return text
