"""The app's entry point (`memo-app`, `python -m app`, the built app), which arranges the
process before Qt and the engine load: see `memo_mlx.launch`."""

from __future__ import annotations


def main() -> int:
    from memo_mlx.blas import reexec_with_fast_blas

    reexec_with_fast_blas()
    from app.main import main as run

    return run()
