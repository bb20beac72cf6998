"""The built app, as a user gets it: `packaging/build` freezes MeMo with PyInstaller from this
checkout and runs the bundle's own `--self-test` (the model it carries, a short text taught,
one question answered from memory, offline). Slow: a few minutes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow(minutes=5)
def test_the_bundle_builds_and_passes_its_self_test():
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("MEMO_HOME", None)  # the bundle's self-test keeps to its own throw-away folder
    # As a user starts it: the bundle finds OpenBLAS itself, with its own threads.
    for name in ("LD_PRELOAD", "OPENBLAS_NUM_THREADS"):
        env.pop(name, None)
    done = subprocess.run([str(ROOT / "packaging" / "build")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1500)
    print(done.stdout[-2000:], done.stderr[-4000:], sep="\n")
    assert done.returncode == 0
    assert "memo self-test: ok" in done.stdout
    bundle = ROOT / "dist" / ("MeMo.app/Contents" if sys.platform == "darwin" else "MeMo")
    files = {p.name for p in bundle.rglob("*")}
    assert {"SmolLM2-135M-Instruct.Q4_1.gguf", "settings.toml", "app.qss",
            "recall-grounding.txt"} <= files
    # Trimmed (packaging/memo.spec): what MeMo never imports (their compiled parts and data
    # would be files here; their Python would be in the archive, which the self-test ran).
    assert not [p for pattern in ("PIL/*", "pillow.libs/*", "fontTools/*")
                for p in bundle.rglob(pattern)]
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink())
    print(f"bundle: {size / 1e6:.0f} MB")
