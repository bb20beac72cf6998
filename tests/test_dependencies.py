"""What pyproject.toml declares is what the engine and the app import, and the reverse: a
library used only through another's dependencies breaks when that one drops it, and a
declared one never imported is weight in every install and in the bundle."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Declared without an import of its own, and why.
NOT_IMPORTED = {
    "sentencepiece": "the design card's tokenizer library; GGUF files' SentencePiece "
                     "tokenizers are to use it (#19)",
}


def declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {_normal(re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0]) for d in project["dependencies"]}


def imported() -> dict[str, set[str]]:
    """The modules memo_mlx and app import (not the standard library), each with the installed
    distributions that provide it (`mlx` comes from mlx and, on Linux, mlx-cpu too)."""
    modules: set[str] = set()
    for source in [*(REPO / "memo_mlx").rglob("*.py"), *(REPO / "app").rglob("*.py")]:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    modules -= set(sys.stdlib_module_names) | {"memo_mlx", "app"}
    providers = packages_distributions()
    missing = sorted(m for m in modules if m not in providers)
    assert not missing, f"imported, but no installed distribution provides: {missing}"
    return {m: {_normal(d) for d in providers[m]} for m in modules}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_import_is_declared_and_every_declaration_imported():
    modules, listed = imported(), declared()
    assert sorted(m for m, ds in modules.items() if not ds & listed) == [], (
        "imported but not declared")
    used = set().union(*modules.values())
    assert sorted(listed - used - set(NOT_IMPORTED)) == [], "declared but never imported"
