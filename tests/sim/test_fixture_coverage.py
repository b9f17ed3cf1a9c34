"""Every payload fixture is either compared with a real simulator message or explicitly exempt.

Adding a fixture without deciding, deleting one the registry still names, or claiming a
fixture is COVERED while the named conformance module never mentions it all fail here.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from tests.support.fixture_registry import COVERED, EXEMPT, fixtures_dir

SIM_TESTS = Path(__file__).resolve().parent


def _mentions(source: str, name: str) -> bool:
    return re.search(r"(?<![\w.-])" + re.escape(name), source) is not None


def _all_fixtures() -> set[str]:
    root = fixtures_dir()
    assert root.is_dir(), f"fixtures not found: {root} (set TERMINAL_SHARED_DIR)"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_every_fixture_is_covered_or_exempt() -> None:
    unclassified = sorted(_all_fixtures() - COVERED.keys() - EXEMPT.keys())
    assert not unclassified, (
        "fixtures neither COVERED by a conformance test nor EXEMPT in "
        "tests/support/fixture_registry.py:\n  " + "\n  ".join(unclassified)
    )


def test_no_fixture_is_both_covered_and_exempt() -> None:
    both = sorted(COVERED.keys() & EXEMPT.keys())
    assert not both, "listed as both COVERED and EXEMPT:\n  " + "\n  ".join(both)


def test_registry_names_only_existing_fixtures() -> None:
    gone = sorted((COVERED.keys() | EXEMPT.keys()) - _all_fixtures())
    assert not gone, "registry names fixtures that do not exist:\n  " + "\n  ".join(gone)


def test_exempt_reasons_are_one_line() -> None:
    bad = sorted(k for k, why in EXEMPT.items() if not why.strip() or "\n" in why)
    assert not bad, "EXEMPT entries need a one-line reason:\n  " + "\n  ".join(bad)


def test_covered_fixtures_are_referenced_by_their_conformance_test() -> None:
    conformance = {p.name: p.read_text(encoding="utf-8") for p in SIM_TESTS.glob("test_*conformance*.py")}
    problems = []
    for rel, module in sorted(COVERED.items()):
        if module not in conformance:
            problems.append(f"{rel}: {module} is not a tests/sim/test_*conformance*.py module")
            continue
        source = conformance[module]
        path = PurePosixPath(rel)
        # the file name must appear whole (``execution_report_new.json`` is not mentioned by
        # ``ws_spot_execution_report_new.json``), and so must each directory, so that e.g. the
        # spot and futures ``order_response.json`` cannot vouch for each other
        missing = [] if _mentions(source, path.name) else [path.name]
        missing += [f"{d}/" for d in path.parent.parts if not _mentions(source, f"{d}/")]
        if missing:
            problems.append(f"{rel}: {module} does not mention {', '.join(missing)}")
    assert not problems, "COVERED fixtures not referenced by their conformance test:\n  " + "\n  ".join(
        problems
    )
