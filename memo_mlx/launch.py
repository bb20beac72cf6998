"""The `memo` command's entry point, which arranges the process before anything heavy loads.

On Linux the fast BLAS needs the process restarted with it preloaded (`blas`). Restarting after
importing MLX, mlx-lm and the rest would pay for those imports twice: ~1 s of every start.
"""

from __future__ import annotations

from .blas import reexec_with_fast_blas


def memo() -> int:
    reexec_with_fast_blas()
    from .cli import main

    return main()
