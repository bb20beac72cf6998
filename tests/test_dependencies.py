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
    assert sorted(listed - used) == [], "declared but never imported"


# What the faces (the app and the `memo` command) may import of the engine: its one surface,
# and beside it the settings (where data lives), the errors, the launchers' BLAS, the built
# app's self-test and the benchmark (`memo bench`, a tool of its own over a work folder).
FACE_IMPORTS = {"memo_mlx", "memo_mlx.engine", "memo_mlx.errors", "memo_mlx.settings",
                "memo_mlx.blas", "memo_mlx.selftest", "memo_mlx.bench.benchmark"}


def engine_imports(source: Path, package: str) -> set[str]:
    """The memo_mlx modules a file imports, relative imports resolved from `package`."""
    out = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module.split(".")[0] == "memo_mlx":
                out.add(module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "memo_mlx")
    return out


def test_the_app_and_the_cli_use_the_engines_surface_only(tmp_path: Path):
    faces = [*(REPO / "app").glob("*.py"), REPO / "memo_mlx" / "cli.py"]
    reached = {f"{face.relative_to(REPO)}: {module}"
               for face in faces for module in engine_imports(face, "memo_mlx")
               if module not in FACE_IMPORTS}
    assert not reached, "import it through memo_mlx.engine:\n" + "\n".join(sorted(reached))
    # The check sees a face that goes around the surface, absolutely or relatively.
    stray = tmp_path / "stray.py"
    stray.write_text("from memo_mlx.models.base import resolve_source\n"
                     "def f():\n    from .sources.ingest import add_paths\n"
                     "from . import engine\n")
    assert engine_imports(stray, "memo_mlx") == {
        "memo_mlx.models.base", "memo_mlx.sources.ingest", "memo_mlx"}
