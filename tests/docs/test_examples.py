"""Every example of the README and docs/ runs as printed, on whatever day it runs.

A ```sh block is run by bash (`set -euo pipefail`), the blocks of a page in order in one
shell, against a system of their own (only the address `http://127.0.0.1:8000` is
replaced by that system's). A ```text block right after one is what it prints: the
printed text in order, `…` standing for anything. Commands that are not examples to run
against the API (`make run`, installing) are in ```console blocks.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docs.conftest import DocsSystem

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", "docs/api.md", "docs/scenarios.md", "docs/operations.md"]
PRINTED_ADDRESS = "http://127.0.0.1:8000"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)


@dataclass
class Example:
    line: int
    script: str
    prints: str | None = None


def examples(page: str) -> list[Example]:
    text = (ROOT / page).read_text()
    found: list[Example] = []
    last_end = -1
    for block in FENCE.finditer(text):
        kind, body = block.group(1), block.group(2)
        line = text.count("\n", 0, block.start()) + 1
        if kind == "sh":
            found.append(Example(line, body))
        elif kind == "text" and found and text[last_end : block.start()].strip() == "":
            found[-1].prints = body
        last_end = block.end()
    return found


def run_page(page: str, system: DocsSystem) -> tuple[list[str], subprocess.CompletedProcess]:
    """Run the page's examples in one shell; the output of each, split by markers."""
    blocks = examples(page)
    script = ["set -euo pipefail"]
    for i, example in enumerate(blocks):
        script += [f"echo '@@example {i}@@'", example.script.replace(PRINTED_ADDRESS, system.url)]
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=ROOT,
        env=system.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    outputs = re.split(r"^@@example \d+@@\n", done.stdout, flags=re.M)[1:]
    return outputs, done


def printed_as_shown(expected: str, actual: str) -> bool:
    """The shown text in the printed one, in order; white space is not compared (pages wrap
    long lines), and `…` stands for anything."""
    parts = [re.sub(r"\s+", "", part) for part in expected.split("…")]
    pattern = ".*?".join(re.escape(part) for part in parts)
    return re.search(pattern, re.sub(r"\s+", "", actual), re.S) is not None


@pytest.mark.parametrize("page", [p for p in PAGES if examples(p)])
def test_the_examples_of_a_page_run_as_printed(page: str, docs_system: DocsSystem) -> None:
    blocks = examples(page)
    outputs, done = run_page(page, docs_system)
    failed = len(outputs) - 1
    assert done.returncode == 0, (
        f"{page}: the example at line {blocks[failed].line} failed (exit {done.returncode})\n"
        f"--- its output ---\n{outputs[failed] if outputs else ''}\n--- stderr ---\n{done.stderr}"
    )
    for example, output in zip(blocks, outputs, strict=True):
        if example.prints is not None:
            assert printed_as_shown(example.prints, output), (
                f"{page}: the example at line {example.line} printed\n{output}\n"
                f"not what the page shows:\n{example.prints}"
            )


def test_the_pages_have_examples_and_shown_outputs() -> None:
    assert all(examples(page) for page in ("README.md", "docs/api.md", "docs/scenarios.md"))
    assert any(e.prints for e in examples("README.md"))
