"""Every Python example in README.md and docs/ runs, block after block in one
namespace per page, as a reader would paste them."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import dlbridge as db

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text())


@pytest.mark.parametrize(
    "page", [p for p in PAGES if blocks(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_examples_run(page):
    namespace = {"np": np, "torch": torch, "db": db}
    for number, code in enumerate(blocks(page), start=1):
        try:
            exec(compile(code, f"{page.name}, python block {number}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"{page.name} block {number} failed:\n{code}") from error


def test_every_page_with_examples_is_collected():
    assert len([p for p in PAGES if blocks(p)]) >= 3


@pytest.mark.parametrize("folder", ["src", "src/python"])
def test_architecture_page_lists_every_source_file(folder):
    """docs/architecture.md has a row for each Rust file, and none for a file
    that is gone, so the map cannot drift from the tree."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## The Python layer")[1 if folder == "src/python" else 0]
    section = section.split("## Tests")[0]
    listed = set(re.findall(r"^\|[^|]*\| `([a-z_]+\.rs)` \||^\| `([a-z_]+\.rs)` \|", section, re.M))
    listed = {name for pair in listed for name in pair if name}
    present = {path.name for path in (ROOT / folder).glob("*.rs")}
    assert listed == present


def test_every_public_function_and_class_is_in_the_api_reference():
    """docs/api.md lists, as members of the generated reference, every function and
    class that ``dlbridge`` exports (the dtype objects are documented with ``DType``)."""
    listed = set(re.findall(r"^\s+- (\w+)$", (ROOT / "docs" / "api.md").read_text(), re.M))
    public = {
        name
        for name in db.__all__
        if callable(getattr(db, name)) and not isinstance(getattr(db, name), db.DType)
    }
    assert public, "nothing public found"
    assert public <= listed, f"missing from docs/api.md: {sorted(public - listed)}"


def test_every_public_function_is_in_the_readme_table_or_the_guide():
    guide = (ROOT / "docs" / "guide.md").read_text()
    readme = (ROOT / "README.md").read_text()
    functions = {
        name
        for name in db.__all__
        if callable(getattr(db, name)) and not isinstance(getattr(db, name), (type, db.DType))
    }
    for name in functions:
        assert f"db.{name}(" in guide, f"docs/guide.md does not present db.{name}"
        assert f"db.{name}(" in readme, f"the README's table does not list db.{name}"
