"""MkDocs hook (mkdocs.yml, ``hooks:``): Rust code blocks written for rustdoc.

README.md and docs/rust.md are also the crate's rustdoc (``src/lib.rs`` includes
them), so their Rust blocks carry rustdoc's attributes (```` ```rust,ignore ````).
Python-Markdown does not open a fence on such an info string, and the block would be
rendered as paragraphs (its ``#[pyfunction]`` as a heading). This hook rewrites the
info string to plain ``rust`` and drops the lines rustdoc hides (``# line``), so the
site shows what rustdoc shows.
"""

from __future__ import annotations

import re

FENCE = re.compile(r"^(?P<indent>[ ]{0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")


def rust_words(info: str) -> list[str]:
    """The words of a Rust block's info string (``rust``, then rustdoc's attributes);
    empty for any other block."""
    words = [word for word in re.split(r"[,\s]+", info.strip()) if word]
    return words if words[:1] == ["rust"] else []


def on_page_markdown(markdown: str, **_kwargs) -> str:
    out = []
    closing = None  # the fence that ends the open block, if any
    rust = False
    for line in markdown.split("\n"):
        match = FENCE.match(line)
        if closing is None:
            if match:
                closing = match["fence"]
                words = rust_words(match["info"])
                rust = bool(words)
                if len(words) > 1:
                    line = f"{match['indent']}{match['fence']}rust"
        elif match and match["fence"].startswith(closing) and not match["info"].strip():
            closing = None
        elif rust:
            stripped = line.lstrip()
            if stripped == "#" or stripped.startswith("# "):
                continue  # a line rustdoc hides
            if stripped.startswith("##"):
                line = line.replace("##", "#", 1)  # rustdoc's escape for a literal '#'
        out.append(line)
    return "\n".join(out)
