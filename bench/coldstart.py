"""Cold start to first token: the app, the `memo` command, and llama.cpp, each a fresh process.

Each row starts a new process and stops the clock at the first token of an answer to a question
asked as soon as the model is ready. The app row is the real window (Qt's offscreen platform
where there is no display), started as `memo-app` starts it, with the question typed into the
chat pane once the model has loaded. The `memo` row is `memo ask --no-memory`. The peer is
llama.cpp (llama-cpp-python) loading the same GGUF file in a fresh Python and generating its
first token. Every row runs once to warm the disk cache and the data folder's caches (the
first start of a new data folder builds the tokenizer cache: reported apart), then the median
of `--repeats` runs is taken. Peak resident memory is the process's own (ru_maxrss).

    make bench-coldstart   # or: .venv/bin/python bench/coldstart.py

Writes bench/out/coldstart.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

QUESTION = "What is the capital of France?"
ROOT = Path(__file__).resolve().parent.parent


def _report(marks: dict[str, float]) -> None:
    import resource

    marks["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("COLDSTART " + json.dumps(marks), flush=True)


def child_app() -> None:
    """The app's own start (`app.main.main` up to the window), then one question."""
    from memo_mlx.blas import reexec_with_fast_blas

    reexec_with_fast_blas()  # as memo-app does: on Linux the process starts twice
    marks: dict[str, float] = {"started": time.time()}
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.engine import EngineBridge
    from app.main import MainWindow, dress

    marks["imported"] = time.time()
    qt = QApplication(["memo-app"])
    dress(qt)
    window = MainWindow(EngineBridge())
    window.show()
    QTimer.singleShot(0, lambda: marks.setdefault("window", time.time()))

    def loaded(_description: str) -> None:
        marks["loaded"] = time.time()
        window.chat.input.setText(QUESTION)
        window.chat.send.click()

    def text(_piece: str) -> None:
        if "first_token" not in marks:
            marks["first_token"] = time.time()
            window.engine.stop()
            QTimer.singleShot(0, window.close)

    window.engine.loaded.connect(loaded)
    window.engine.load_failed.connect(lambda message: (print(message), qt.exit(1)))
    window.engine.text.connect(text)
    qt.exec()
    _report(marks)


def child_llama() -> None:
    marks: dict[str, float] = {"started": time.time()}
    from llama_cpp import Llama

    from memo_mlx.models.base import default_model_path

    marks["imported"] = time.time()
    llm = Llama(model_path=str(default_model_path()), n_ctx=2048, n_threads=os.cpu_count(),
                verbose=False)
    marks["loaded"] = time.time()
    stream = llm.create_chat_completion(
        [{"role": "user", "content": QUESTION}], max_tokens=8, temperature=0.0, stream=True)
    for chunk in stream:
        if chunk["choices"][0]["delta"].get("content"):
            marks["first_token"] = time.time()
            break
    _report(marks)


def run_child(argv: list[str], env: dict[str, str], marker: bool) -> dict[str, float]:
    """Start `argv` and time it from here: the child's marks, or its first byte of stdout."""
    start = time.time()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT, text=True, bufsize=1)
    assert proc.stdout is not None
    marks: dict[str, float] = {}
    if marker:
        for line in proc.stdout:
            if line.startswith("COLDSTART "):
                marks = json.loads(line[len("COLDSTART "):])
    else:  # `memo ask` streams the answer: its first character is the first token
        first = proc.stdout.read(1)
        marks["first_token"] = time.time() if first else float("nan")
        proc.stdout.read()
    _, err = proc.communicate()
    if proc.returncode != 0 or "first_token" not in marks:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err[-2000:]}")
    return {k: round(v - start, 3) if k != "peak_rss_mb" else round(v, 1)
            for k, v in marks.items()}


def measure(name: str, argv: list[str], env: dict[str, str], marker: bool,
            repeats: int) -> dict:
    first = run_child(argv, env, marker)
    runs = [run_child(argv, env, marker) for _ in range(repeats)]
    keys = runs[0].keys()
    row = {k: round(median(r[k] for r in runs), 3) for k in keys}
    print(f"  {name}: first token at {row['first_token']} s (first start: "
          f"{first['first_token']} s)", file=sys.stderr)
    return {"median": row, "first_start": first, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=("app", "llama.cpp"), help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    default_out = Path(__file__).parent / "out" / "coldstart.json"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    if args.child == "app":
        return child_app()
    if args.child == "llama.cpp":
        return child_llama()

    from memo_mlx.blas import active_blas, environment_with_fast_blas

    bindir = Path(sys.executable).parent
    home = Path(tempfile.mkdtemp(prefix="memo-coldstart-"))
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # as a user starts it
    env |= {"MEMO_HOME": str(home / "data"), "HOME": str(home), "HF_HUB_OFFLINE": "1",
            "XDG_CONFIG_HOME": str(home / "config")}
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or sys.platform == "darwin"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    rows = {}
    try:
        rows["app (memo-app, window)"] = measure(
            "app", [sys.executable, __file__, "--child", "app"], env, True, args.repeats)
        rows["memo ask --no-memory"] = measure(
            "memo", [str(bindir / "memo"), "ask", QUESTION, "--no-memory", "--max-tokens", "8"],
            env, False, args.repeats)
        try:
            import llama_cpp  # noqa: F401

            rows["llama.cpp (llama-cpp-python)"] = measure(
                "llama.cpp", [sys.executable, __file__, "--child", "llama.cpp"],
                environment_with_fast_blas(env) or env, True, args.repeats)
        except ImportError:
            print("  llama.cpp: not installed (make bench-setup)", file=sys.stderr)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    result = {
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "blas": active_blas(),
        "question": QUESTION,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{result['machine']}; seconds from process start (median of {args.repeats})")
    print("| process | imports done | model loaded | window shown | first token | first start "
          "| peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        m = r["median"]
        print(f"| {name} | {m.get('imported', '')} | {m.get('loaded', '')} | "
              f"{m.get('window', '')} | **{m['first_token']}** | {r['first_start']['first_token']}"
              f" | {m.get('peak_rss_mb', '')} |")


if __name__ == "__main__":
    main()
