"""A fast BLAS for MLX's CPU backend, arranged before the process starts.

The `mlx-cpu` wheel links the reference BLAS it bundles (~4 GFLOP/s on a 2048 GEMM here);
preloading the system's OpenBLAS makes the same GEMM ~20x faster. A preload only works if it
is in the environment when the process starts, so the launchers (`memo`, `memo-app`, and
`python -m memo_mlx.blas CMD...` for tests and benchmarks) re-exec themselves with it.
Nothing happens on macOS, where MLX uses Metal and Accelerate, or when no OpenBLAS exists.
Set MEMO_BLAS=bundled to keep MLX's own BLAS.
"""

from __future__ import annotations

import glob
import os
import sys

# Debian/Ubuntu (pthread and openmp flavours, any arch), Fedora/RHEL, Arch, Alpine.
_CANDIDATES = (
    "/usr/lib/*-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/*-linux-gnu/openblas-openmp/libopenblas.so.0",
    "/usr/lib/*-linux-gnu/libopenblas.so.0",
    "/usr/lib64/libopenblas.so.0",
    "/usr/lib/libopenblas.so.0",
)


def openblas_path() -> str | None:
    """The system's OpenBLAS library, if there is one."""
    if not sys.platform.startswith("linux"):
        return None
    for pattern in _CANDIDATES:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def active_blas() -> str:
    """What MLX's CPU backend uses in this process, for status and benchmarks."""
    path = openblas_path()
    if path and path in os.environ.get("LD_PRELOAD", "").split(":"):
        return f"OpenBLAS ({path})"
    return "Accelerate" if sys.platform == "darwin" else "bundled reference BLAS"


def environment_with_fast_blas(env: dict[str, str]) -> dict[str, str] | None:
    """`env` plus the OpenBLAS preload, or None when nothing needs to change."""
    path = openblas_path()
    if path is None or env.get("MEMO_BLAS") == "bundled":
        return None
    preload = [p for p in env.get("LD_PRELOAD", "").split(":") if p]
    if path in preload:
        return None
    return {**env, "LD_PRELOAD": ":".join([path, *preload])}


def reexec_with_fast_blas() -> None:
    """Restart this very process with OpenBLAS preloaded, if that helps. Call first in main()."""
    env = environment_with_fast_blas(dict(os.environ))
    if env is None:
        return
    if getattr(sys, "frozen", False):  # a built app is its own executable: same arguments
        os.execve(sys.executable, [sys.executable, *sys.argv[1:]], env)
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def main() -> None:
    """`python -m memo_mlx.blas CMD [ARGS...]`: run CMD with OpenBLAS preloaded where it helps."""
    if len(sys.argv) < 2:
        print(active_blas() if openblas_path() is None else f"OpenBLAS: {openblas_path()}")
        return
    env = environment_with_fast_blas(dict(os.environ)) or dict(os.environ)
    os.execvpe(sys.argv[1], sys.argv[1:], env)


if __name__ == "__main__":
    main()
