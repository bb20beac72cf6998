"""`memo`: the command-line twin of the app, a thin layer over the engine.

The contract (names, flags, JSON keys, exit status) is ../shared/INTERFACE.md: 0 done,
2 wrong usage (argparse's own exit code too), 1 failed with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from typing import Any

from . import __version__
from .errors import MemoError

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130

# Commands whose engine parts land in later issues answer with EXIT_USAGE until then.
NOT_YET = {
    "add": "register folders in a memory",
    "remove": "stop learning from a folder",
    "scan": "bring the catalog up to date",
    "teach": "teach a memory",
    "watch": "watch folders and re-teach",
    "bench": "the knowledge benchmark",
}


class UsageError(MemoError):
    """Wrong usage the parser cannot see; exits with EXIT_USAGE."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memo", description="MeMo: a private memory model of your folders."
    )
    parser.add_argument("--version", action="version", version=f"memo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ask = sub.add_parser("ask", help="answer a question")
    ask.add_argument("question")
    ask.add_argument("--memory", action="append", default=[], metavar="NAME",
                     help="consult this memory (repeatable); default: every memory switched on")
    ask.add_argument("--no-memory", action="store_true", help="answer from the base model alone")
    ask.add_argument("--mode", choices=("direct", "protocol", "rag"), default=None)
    ask.add_argument("--max-tokens", type=int, default=None, metavar="N")
    ask.add_argument("--json", action="store_true", help="print one JSON object at the end")
    ask.set_defaults(handler=cmd_ask)

    status = sub.add_parser("status", help="model, memories, their folders, counts and state")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)

    for name, summary in NOT_YET.items():
        p = sub.add_parser(name, help=f"{summary} (not yet available)")
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(handler=_not_yet(name))
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # a real process start, not a test calling in
        from .blas import reexec_with_fast_blas

        reexec_with_fast_blas()
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except MemoError as e:
        print(f"memo: {e}", file=sys.stderr)
        return EXIT_USAGE if isinstance(e, UsageError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("memo: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _not_yet(name: str) -> Callable[[argparse.Namespace], int]:
    def handler(_args: argparse.Namespace) -> int:
        raise UsageError(f"'{name}' is not yet available in this version")

    return handler


def _progress(message: str) -> None:
    """Progress goes to a terminal only; pipes and --json stay clean."""
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


def cmd_ask(args: argparse.Namespace) -> int:
    from .runtime import ModelRuntime

    if args.memory:
        raise UsageError("--memory is not yet available in this version; use --no-memory")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1")
    stream = not args.json

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    _progress("Loading the model...")
    with ModelRuntime() as runtime:
        cancel = threading.Event()
        future = runtime.generate(
            [{"role": "user", "content": args.question}],
            on_text=write if stream else None,
            cancel=cancel,
            max_tokens=args.max_tokens,
        )
        try:
            reply = future.result()
        except KeyboardInterrupt:
            cancel.set()
            reply = future.result()
            if stream:
                write("\n")
            raise
    if stream:
        write("\n")
        return 0
    result: dict[str, Any] = {
        "answer": reply.text.strip(),
        "mode": "none",  # no memory consulted
        "memories": [],
        "trace": [],
        "sources": [],
        "finish_reason": reply.finish_reason,
        "tokens": {"prompt": reply.prompt_tokens, "generated": reply.generation_tokens},
        "tokens_per_second": {"prompt": reply.prompt_tps, "generation": reply.generation_tps},
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .blas import active_blas
    from .models import backend, compute_for, resolve_source
    from .settings import memo_home

    source = resolve_source()
    device = backend()
    model = {
        "name": source.name,
        "backend": device,
        "source": source.kind,
        "location": source.location,
        "compute": compute_for(device),
        "blas": active_blas() if device == "cpu" else None,
    }
    home = str(memo_home())
    if args.json:
        print(json.dumps({"model": model, "memories": [], "home": home}, ensure_ascii=False))
        return 0
    print(f"Model:    {source.name}")
    print(f"          {source.location}")
    blas = f", {model['blas']}" if model["blas"] else ""
    print(f"Backend:  {device} ({model['compute']}{blas})")
    print(f"Data:     {home}")
    print("Memories: none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
