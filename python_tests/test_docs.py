"""Every Python example in README.md and docs/ runs, block after block in one
namespace per page, as a reader would paste them."""

import ast
import contextlib
import importlib.util
import io
import re
import sys
from importlib import metadata
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


# The pages a newcomer starts from: their Python blocks must run in a virtual environment
# that holds only what the page has had the reader install by then.
GETTING_STARTED = [ROOT / "README.md", ROOT / "docs" / "index.md"]
CONSOLE = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)
PRINTED = re.compile(r"^print\(.*\)\s+# (.*)$", re.MULTILINE)


def pip_installed(commands: str) -> set[str]:
    """The distributions the ``pip install`` commands of a console block install
    (``.`` is dlbridge itself: the project and its runtime dependencies)."""
    names = set()
    for line in commands.splitlines():
        words = line.split("#")[0].split()
        if "install" not in words or "pip" not in words[: words.index("install")]:
            continue
        args = iter(words[words.index("install") + 1 :])
        for arg in args:
            if arg in ("-c", "-r", "--constraint", "--requirement", "--find-links", "-f"):
                next(args, None)  # the option's value
            elif arg == ".":
                names.add("dlbridge")
            elif not arg.startswith("-"):
                names.add(re.split(r"[\[<>=!~;]", arg.strip("'\""))[0].lower())
    if "dlbridge" in names:
        names |= {
            re.split(r"[\[<>=!~;\s]", requirement)[0].lower()
            for requirement in metadata.requires("dlbridge") or []
            if "extra ==" not in requirement
        }
    return names


def imported_distributions(code: str) -> set[str]:
    """The distributions whose modules the code imports (the standard library left out)."""
    modules = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    owners = metadata.packages_distributions()
    return {
        owners.get(module, [module])[0].lower() for module in modules - set(sys.stdlib_module_names)
    }


@pytest.mark.parametrize("page", GETTING_STARTED, ids=lambda p: str(p.relative_to(ROOT)))
def test_getting_started_installs_what_its_examples_import(page):
    """README.md's tour and docs/index.md's first steps import nothing that the page's own
    install commands above them (``pip install .``, ``pip install torch``) leave out."""
    text = page.read_text()
    examples = list(BLOCK.finditer(text))
    assert examples, f"{page.name} has no Python example"
    for example in examples:
        before = text[: example.start()]
        installed = set().union(*(pip_installed(block) for block in CONSOLE.findall(before)))
        assert "dlbridge" in installed, f"{page.name}: no 'pip install .' before its example"
        missing = imported_distributions(example.group(1)) - installed
        assert not missing, (
            f"{page.name}: an example imports {sorted(missing)}, which the page's install "
            f"commands above it do not install"
        )


@pytest.mark.parametrize("page", GETTING_STARTED, ids=lambda p: str(p.relative_to(ROOT)))
def test_getting_started_runs_as_pasted(page):
    """The page's Python blocks run in a fresh namespace, one after another, as a reader
    pastes them into a new interpreter, and each ``print(...)  # output`` prints the
    output its comment shows."""
    code = "\n".join(blocks(page))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"{page.name}, python blocks", "exec"), {"__name__": "__main__"})
    assert out.getvalue().splitlines() == PRINTED.findall(code)


def test_every_docs_page_is_linked_from_the_readme():
    """README.md's list of documentation links every page of docs/, so a new page
    cannot be left out of it."""
    readme = (ROOT / "README.md").read_text()
    linked = set(re.findall(r"\]\((docs/[^)#\s]+\.md)\)", readme))
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert pages - linked == set(), f"not linked from README.md: {sorted(pages - linked)}"
    assert linked - pages == set(), f"README.md links missing pages: {sorted(linked - pages)}"


def test_mkdocs_hook_turns_rustdoc_blocks_into_rust_blocks():
    """scripts/mkdocs_hooks.py (mkdocs.yml's hook) lets the site render the Rust blocks
    that docs/rust.md writes for rustdoc (```rust,ignore)."""
    spec = importlib.util.spec_from_file_location(
        "mkdocs_hooks", ROOT / "scripts" / "mkdocs_hooks.py"
    )
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = "```rust,ignore\n# use hidden;\n##[attr]\nfn f() {}\n```\n```python\n# kept\n```\n"
    expected = "```rust\n#[attr]\nfn f() {}\n```\n```python\n# kept\n```\n"
    assert hooks.on_page_markdown(page) == expected
    rendered = hooks.on_page_markdown((ROOT / "docs" / "rust.md").read_text())
    assert "```rust," not in rendered
