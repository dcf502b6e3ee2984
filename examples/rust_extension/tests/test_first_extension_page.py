"""docs/first-extension.md is this crate: its Rust and test blocks are quoted verbatim
from src/lib.rs and tests/, its pyproject.toml is this crate's, and its Cargo.toml is
this crate's but for the two differences the page states (the path to dlbridge, and the
rust-numpy dependency of the benchmarks). So the page cannot drift from the code these
tests build and run."""

import re
from pathlib import Path

import pytest

CRATE = Path(__file__).resolve().parent.parent
PAGE = CRATE.parent.parent / "docs" / "first-extension.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [code for lang, code in FENCE.findall(PAGE.read_text()) if lang == language]


def test_the_page_has_every_part():
    assert len(blocks("rust")) >= 6
    assert len(blocks("toml")) == 2
    assert len(blocks("py")) == 1


@pytest.mark.parametrize("number", range(len(blocks("rust"))))
def test_rust_blocks_are_quoted_from_the_crate(number):
    """Each block is a verbatim part of src/lib.rs; the module function, which on the
    page registers only the page's items, is its lines in the crate's order."""
    code = blocks("rust")[number]
    source = (CRATE / "src" / "lib.rs").read_text()
    if not code.startswith("#[pymodule"):
        assert code in source
        return
    lines = source.splitlines()
    position = 0
    for line in code.splitlines():
        assert line in lines[position:], f"{line!r} is not in src/lib.rs in this order"
        position = lines.index(line, position) + 1
    registered = re.findall(r"wrap_pyfunction!\((\w+),|add_class::<(\w+)>", code)
    for function, class_ in registered:
        assert re.search(rf"^(fn|struct) {function or class_}\b", "\n".join(blocks("rust")), re.M)


def test_the_test_block_is_quoted_from_the_crates_tests():
    (code,) = blocks("py")
    assert code in (CRATE / "tests" / "test_first_extension.py").read_text()


def test_pyproject_is_the_crates():
    page = next(code for code in blocks("toml") if "[build-system]" in code)
    assert page.rstrip("\n") == (CRATE / "pyproject.toml").read_text().rstrip("\n")


def test_cargo_toml_is_the_crates_but_for_the_stated_differences():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and newer
    page = tomllib.loads(next(code for code in blocks("toml") if "[package]" in code))
    crate = tomllib.loads((CRATE / "Cargo.toml").read_text())
    assert page["dependencies"]["dlbridge"].pop("path") == "../dlbridge"
    assert crate["dependencies"]["dlbridge"].pop("path") == "../.."
    del crate["dependencies"]["numpy"]  # the benchmarks' rust-numpy baseline
    del crate["dependencies"]["memmap2"]  # src/owners.rs's memory-mapped file
    assert page == crate
    # The versions the page's table names are the ones used.
    assert page["dependencies"]["pyo3"] == "0.30"
    assert "ndarray" not in page["dependencies"]
    assert page["lib"]["crate-type"] == ["cdylib"]
    table = PAGE.read_text()
    assert '| PyO3 | 0.30 (`pyo3 = "0.30"`)' in table
    dlbridge = tomllib.loads((CRATE.parent.parent / "Cargo.toml").read_text())
    assert dlbridge["dependencies"]["pyo3"]["version"] == page["dependencies"]["pyo3"]
    assert dlbridge["dependencies"]["ndarray"] == "0.17" and "| ndarray | 0.17," in table
