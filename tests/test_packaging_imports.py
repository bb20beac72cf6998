"""What the app bundle leaves out (packaging/memo.spec's excludes) is never needed: the engine
loads a model, builds its tokenizer and reads a PDF in a process where PIL and fontTools
cannot be imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fpdf import FPDF

EXCLUDED = ("PIL", "fontTools", "kernels")


def test_the_engine_runs_without_what_the_bundle_leaves_out(tmp_path: Path, tiny_q8):
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(text="The Hollow Bridge was designed by Mara Quill.")
    pdf.output(str(tmp_path / "bridge.pdf"))
    code = f"""
import sys
for name in {EXCLUDED!r}:
    sys.modules[name] = None  # importing it raises ImportError, as in the bundle
from pathlib import Path
import mlx_lm.generate
from memo_mlx.sources.extract import extract
from memo_mlx.models.base import load_base
base = load_base({str(tiny_q8.path)!r})
assert base.tokenizer.encode("the hat")
path = Path({str(tmp_path / "bridge.pdf")!r})
print(extract(path.name, path.read_bytes()))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Mara Quill" in done.stdout
