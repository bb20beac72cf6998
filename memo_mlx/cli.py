"""`memo`: the command-line twin of the app, a thin layer over the engine.

The contract (names, flags, JSON keys, exit status) is docs/cli-contract.md: 0 done,
2 wrong usage (argparse's own exit code too), 1 failed with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

from . import __version__
from .bench.benchmark import CONDITIONS, CORPORA, DEFAULT_CONDITIONS
from .engine import (
    MODES,
    STRATEGIES,
    CheckProgress,
    Consulting,
    Engine,
    Event,
    LeftOut,
    Loading,
    ScanProgress,
    ScanReport,
    SynthesisProgress,
    TeachProgress,
    TeachReport,
    TeachState,
    Waiting,
    check_question,
    learned,
    shown_state,
    weak_documents,
)
from .errors import MemoError, UsageError, cut, quoted

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


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
    ask.add_argument("--mode", choices=MODES, default=None,
                     help="how memories are consulted (default: settings, auto)")
    ask.add_argument("--max-tokens", type=int, default=None, metavar="N")
    ask.add_argument("--executive", metavar="URL",
                     help="an OpenAI-compatible server on this computer that splits, reads and "
                          "answers (e.g. http://localhost:1234/v1); memories stay local. "
                          "Default: settings, else the local model")
    ask.add_argument("--executive-model", metavar="NAME",
                     help="the model to ask the server for (default: settings, else the one "
                          "it serves)")
    ask.add_argument("--allow-remote", action="store_true",
                     help="allow a server that is not this computer: what is asked leaves it")
    ask.add_argument("--json", action="store_true", help="print one JSON object at the end")
    ask.set_defaults(handler=cmd_ask)

    for name, what in (("on", "switch a memory on: consulted by ask and the chat"),
                       ("off", "switch a memory off: kept, but not consulted")):
        switch = sub.add_parser(name, help=what)
        switch.add_argument("name", metavar="NAME")
        switch.add_argument("--json", action="store_true")
        switch.set_defaults(handler=cmd_switch)

    status = sub.add_parser("status", help="model, memories, their folders, counts and state")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)

    add = sub.add_parser("add", help="register folders or files in a memory, then read them")
    add.add_argument("paths", nargs="+", metavar="PATH")
    add.add_argument("--memory", metavar="NAME",
                     help="the memory (created if new; default: the first folder's name)")
    add.add_argument("--no-scan", action="store_true", help="register only; read at next scan")
    add.add_argument("--json", action="store_true", help="print the scan as JSON")
    add.set_defaults(handler=cmd_add)

    remove = sub.add_parser("remove", help="stop learning from a folder or file")
    remove.add_argument("path", metavar="PATH")
    remove.add_argument("--memory", metavar="NAME")
    remove.add_argument("--json", action="store_true")
    remove.set_defaults(handler=cmd_remove)

    scan = sub.add_parser("scan", help="bring the catalog up to date with the folders")
    scan.add_argument("--memory", metavar="NAME", help="default: every memory")
    scan.add_argument("--json", action="store_true",
                      help="one JSON object per memory scanned, one per line")
    scan.set_defaults(handler=cmd_scan)

    teach = sub.add_parser("teach", help="scan, write reflections for new text, train the memory")
    teach.add_argument("--memory", metavar="NAME", help="default: every memory")
    teach.add_argument("--json", action="store_true",
                       help="one JSON object per memory taught, one per line")
    teach.add_argument("--strategy", choices=STRATEGIES, default=None,
                       help="how new text is added to a trained memory (default: settings)")
    teach.add_argument("--generator", metavar="URL",
                       help="an OpenAI-compatible endpoint that writes the reflections "
                            "(e.g. http://localhost:1234/v1); default: settings, else the "
                            "local model")
    teach.add_argument("--generator-model", metavar="NAME",
                       help="the model to ask the endpoint for (default: settings, else the "
                            "one it serves)")
    teach.add_argument("--allow-remote", action="store_true",
                       help="allow an endpoint that is not this computer: the text leaves it")
    teach.set_defaults(handler=cmd_teach)

    watch = sub.add_parser("watch", help="watch the folders and re-teach after changes until ^C")
    watch.add_argument("--memory", metavar="NAME", help="default: every memory")
    watch.add_argument("--json", action="store_true", help="a JSON line per teach (as teach)")
    watch.set_defaults(handler=cmd_watch)

    bench = sub.add_parser("bench", help="the knowledge benchmark: teach a corpus (real "
                                         "Wikipedia text, or fiction), answer its questions "
                                         "with and without the memory")
    bench.add_argument("--json", action="store_true", help="print the report as one JSON object")
    bench.add_argument("--documents", type=int, default=36, metavar="N")
    bench.add_argument("--distractors", type=int, default=12, metavar="N")
    bench.add_argument("--seed", type=int, default=7)
    bench.add_argument("--questions", type=int, default=0, metavar="N",
                       help="ask only the first N questions (default: all)")
    bench.add_argument("--condition", action="append", choices=CONDITIONS, metavar="NAME",
                       help=f"run only these (repeatable): {', '.join(CONDITIONS)}")
    bench.add_argument("--corpus", default="fiction", metavar="squad|fiction|DIR",
                       help="squad: real Wikipedia paragraphs and crowd questions (the judge); "
                            "fiction: a generated world (default); or a corpus folder written "
                            "by bench/knowledge.py")
    bench.add_argument("--work", type=Path, metavar="DIR",
                       help="keep the benchmark's corpus, catalog and memory here")
    bench.add_argument("--out", type=Path, metavar="FILE", help="also write the JSON report here")
    bench.add_argument("--again", action="store_true",
                       help="answer with the memory an earlier run taught in --work, without "
                            "teaching it again (to compare answer modes on one memory); the "
                            "distractor conditions teach the distractors on top of it")
    bench.set_defaults(handler=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        named = getattr(args, "memory", None)
        if any(not n.strip() for n in (named if isinstance(named, list) else [named])
               if n is not None):
            raise UsageError("--memory needs a name")
        return int(args.handler(args))
    except MemoError as e:
        _end_line()
        print(f"memo: {e}", file=sys.stderr)
        return EXIT_USAGE if isinstance(e, UsageError) else EXIT_FAILED
    except KeyboardInterrupt:
        _end_line()
        print("memo: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


# Whether a progress line without its newline is on the terminal (a bar redrawn in place
# with "\r\x1b[K"): what is said next must start on a line of its own.
_partial_line = False


def _progress(message: str, end: str = "\n") -> None:
    """Progress goes to a terminal only; pipes and --json stay clean."""
    global _partial_line
    if sys.stderr.isatty():
        print(message, file=sys.stderr, end=end, flush=True)
        # What is left showing after the last clear of the line.
        _partial_line = end == "" and bool(message.rsplit("\r\x1b[K", 1)[-1])


def _end_line() -> None:
    """End a progress line left showing, so that a message after it has a line of its own
    (the last progress stays in sight above it)."""
    global _partial_line
    if _partial_line:
        print(file=sys.stderr, flush=True)
        _partial_line = False


def _say_waiting(name: str) -> None:
    """Another teach of the memory holds it: said once, on stderr even when not a terminal
    (one line, and the only word for what may be minutes)."""
    _end_line()
    print(f"memo: waiting for another teach of {quoted(name)} to finish (^C to stop)",
          file=sys.stderr, flush=True)


def _said(event: Event) -> None:
    """What the engine says while it works, as the terminal shows it."""
    if isinstance(event, Loading):
        _progress("Loading the model...")
    elif isinstance(event, Waiting):
        _say_waiting(event.memory)
    elif isinstance(event, LeftOut):  # said, always: it was switched on to be asked
        _end_line()
        print(f"memo: {event.why.says(event.memory)}; asked without it", file=sys.stderr)
    elif isinstance(event, Consulting):
        if event.memories:
            _progress(f"Asking {', '.join(event.memories)}...")
        if event.executive is not None:
            _progress(f"Executive: {event.executive}"
                      + (" (not this computer)" if event.remote else ""))
    elif isinstance(event, ScanProgress):
        name = event.path if len(event.path) < 60 else "…" + event.path[-59:]
        _progress(f"\r\x1b[KReading {event.done + 1}/{event.total}  {name}", end="")
    elif isinstance(event, TeachProgress):
        _teach_progress(event)


def cmd_ask(args: argparse.Namespace) -> int:
    check_question(args.question)  # before the data folder is opened
    if args.memory and args.no_memory:
        raise UsageError("--memory and --no-memory ask for opposite things; give one")
    stream = not args.json

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    with Engine(reads_only=True) as engine:
        engine.use_executive(args.executive, args.executive_model,
                             True if args.allow_remote else None)
        try:
            answer = engine.ask(args.question, [] if args.no_memory else (args.memory or None),
                                mode=args.mode, max_tokens=args.max_tokens,
                                on_text=write if stream else None, on_event=_said)
        except KeyboardInterrupt:
            if stream:
                write("\n")
            raise
    if stream:
        write("\n")
        for step in answer.trace:  # the server failed: said always, not only to a terminal
            if step.stage == "executive":
                print(f"memo: {step.answer}", file=sys.stderr)
        # On stderr, always: what supports the answer is part of it, but a script piping the
        # answer itself gets only the answer on stdout.
        if answer.sources:
            print("Sources: " + ", ".join(answer.sources), file=sys.stderr)
        for quote in answer.quotes:
            print(f'  {Path(quote.path).name}: "{quote.text}"', file=sys.stderr)
        return 0
    print(json.dumps(answer.to_json(), ensure_ascii=False))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import tempfile

    from .bench.benchmark import BenchSettings, clean, run_benchmark, table

    if args.documents < 3 or args.questions < 0 or args.distractors < 0:
        raise UsageError("--documents must be at least 3; --questions and --distractors >= 0")
    if args.again and args.work is None:
        raise UsageError("--again answers with the memory taught in --work: name the folder")
    if (not args.again and args.work is not None and args.work.exists()
            and any(args.work.iterdir())):
        raise UsageError(f"{args.work}: --work must be a new or empty folder")
    named = args.corpus if args.corpus in CORPORA else None
    folder = None if named else Path(args.corpus)
    if folder is not None and not folder.is_dir():
        raise UsageError(f"--corpus {args.corpus}: neither {' nor '.join(CORPORA)} nor a folder")
    kind = named or "fiction"
    settings = BenchSettings(
        documents=args.documents, seed=args.seed, distractors=args.distractors,
        questions=args.questions, corpus=kind,
        conditions=tuple(args.condition or DEFAULT_CONDITIONS[kind]), again=args.again,
    )
    work = args.work or Path(tempfile.mkdtemp(prefix="memo-bench-"))
    began = time.perf_counter()
    try:
        report = run_benchmark(work, settings, corpus=folder,
                               on_progress=lambda m: _progress(f"bench: {m}"))
    finally:
        if args.work is None:
            clean(work)
    report["seconds"] = round(time.perf_counter() - began, 1)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    c, t = report["corpus"], report["teach"]
    taught = (f"taught in {t['seconds']:.0f} s ({t['reflections']} reflections)" if t
              else "the memory taught before")
    print(f"{report['model']}: {c['documents']} documents ({c['bytes'] / 1024:.1f} KB), "
          f"{c['questions']} questions; {taught}")
    print(table(report))
    return 0


def cmd_switch(args: argparse.Namespace) -> int:
    with Engine() as engine:
        memory = engine.switch(args.name, args.command == "on")
        if args.json:
            print(json.dumps(engine.status(memory)[0], ensure_ascii=False))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with Engine(reads_only=True) as engine:
        model, memories, home = engine.model_info(), engine.status(), str(engine.home)
    if args.json:
        print(json.dumps({"model": model, "memories": memories, "home": home},
                         ensure_ascii=False))
        return 0
    print(f"Model:    {model['name']}")
    print(f"          {model['location']}")
    blas = f", {model['blas']}" if model["blas"] else ""
    print(f"Backend:  {model['backend']} ({model['compute']}{blas})")
    print(f"Data:     {home}")
    print("Memories:" + ("" if memories else " none yet (add a folder: memo add PATH)"))
    for m in memories:
        failed = f" ({m['failed']} unreadable)" if m["failed"] else ""
        state = shown_state(m).replace("untaught", "not taught yet")
        print(f"  {cut(m['name'])}  [{'on' if m['enabled'] else 'off'}]  {state}: "
              f"{m['documents']} documents{failed}, {m['chunks']} chunks, "
              f"{m['reflections']} reflections")
        if m["damaged"]:
            print(f"    damaged: re-teach it with `memo teach --memory {shlex.quote(m['name'])}`"
                  f" ({m['damage']})")
        if m["recall"]:
            r = m["recall"]
            weak = weak_documents(m)
            print(f"    recalls {r['right']}/{r['asked']} held-out questions"
                  + (f"; not learned yet: {len(weak)} file{'s' if len(weak) != 1 else ''}"
                     if weak else ""))
        for folder in m["folders"]:
            print(f"    {folder}" + ("  (missing)" if folder in m["missing"] else ""))
    return 0


def _scanned(report: ScanReport, as_json: bool) -> None:
    _progress("\r\x1b[K", end="")
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False), flush=True)
    else:
        _print_scan(report)


def _print_scan(r: ScanReport) -> None:
    parts = [f"{r.added} added", f"{r.changed} changed", f"{r.removed} removed"]
    if r.moved:
        parts.append(f"{r.moved} moved")
    parts.append(f"{r.unchanged} unchanged")
    if r.failed:
        parts.append(f"{r.failed} unreadable")
    print(f"{cut(r.memory)}: {', '.join(parts)}; {r.chunks} chunks ({r.seconds:.1f} s)")
    for e in r.errors:
        print(f"  ! {e.path}: {e.error}")


def cmd_add(args: argparse.Namespace) -> int:
    with Engine() as engine:
        memory, report = engine.add(args.paths, args.memory, scan=not args.no_scan,
                                    on_event=_said)
        if report is not None:
            _scanned(report, args.json)
        elif args.json:
            print(json.dumps(engine.status(memory)[0], ensure_ascii=False))
        else:
            folders = len(engine.status(memory)[0]["folders"])
            print(f"{cut(memory.name)}: {folders} folders; read at the next scan")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    with Engine() as engine:
        removed = engine.remove(args.path, args.memory)
    if args.json:
        print(json.dumps({"memory": removed.memory.name, "removed": removed.path,
                          "orphaned_reflections": removed.orphaned}, ensure_ascii=False))
    else:
        print(f"{cut(removed.memory.name)}: no longer learns from {removed.path}"
              + (f"; {removed.orphaned} reflections are forgotten at the next teach"
                 if removed.orphaned else ""))
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    with Engine() as engine:
        for report in engine.scan(args.memory, on_event=_said):
            _scanned(report, args.json)
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    names: dict[int, str] = {}

    def on_state(state: TeachState) -> None:  # on the teacher's thread, one at a time
        name = names.get(state.memory_id)
        if state.phase == "done" and state.report is not None:
            _progress("\r\x1b[K", end="")
            if args.json:
                print(json.dumps(state.report.to_json(), ensure_ascii=False), flush=True)
            else:
                _print_teach(state.report)
                sys.stdout.flush()
        elif state.phase == "failed":  # said, and the watch goes on: the next change may mend it
            _end_line()
            print(f"memo: {name}: {state.error}", file=sys.stderr, flush=True)
        elif state.phase in ("reading", "writing", "training", "checking"):
            eta = state.eta_seconds
            if state.phase == "checking":
                line = f"{name}: checking what it recalls: {state.detail}"
            elif state.phase == "training" and state.done == state.resumed_from:
                if state.resumed_from:
                    _progress(f"\r\x1b[KResuming '{name}' at step {state.done} of {state.total}")
                line = f"{name}: training {state.total} steps" + _about(eta, " · ")
            else:
                line = (f"{name}: {state.phase} {state.done}/{state.total}"
                        + ("" if eta is None else f"  {_clock(eta)} left"))
            _progress(f"\r\x1b[K{line}", end="")

    # ^C or a plain `kill` stops watching (a checkpoint is kept), not a failure. Handled here
    # rather than as KeyboardInterrupt: a watch started in the background by a script inherits
    # SIGINT ignored, and Python then never raises it.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    with Engine() as engine:
        names.update((m.id, m.name) for m in engine.memories())
        # Watching starts before the first teach: nothing changed meanwhile is missed.
        engine.watch(on_state, args.memory, on_event=_said)
        _progress("Watching; ^C to stop.")
        while not stop.wait(0.5):  # a timed wait: signal handlers run between the waits
            pass
    _end_line()
    return 0


def cmd_teach(args: argparse.Namespace) -> int:
    with Engine() as engine:
        for report in engine.teach(args.memory, strategy=args.strategy,
                                   generator=args.generator,
                                   generator_model=args.generator_model,
                                   allow_remote=True if args.allow_remote else None,
                                   on_event=_said):
            _progress("\r\x1b[K", end="")
            if args.json:
                print(json.dumps(report.to_json(), ensure_ascii=False), flush=True)
            else:
                _print_teach(report)
    return 0


def _teach_progress(p: TeachProgress) -> None:
    d = p.detail
    if isinstance(d, ScanProgress):
        line = f"Reading {d.done + 1}/{d.total}  {Path(d.path).name}"
    elif isinstance(d, SynthesisProgress):
        left = "" if p.eta_seconds is None else f"  {_clock(p.eta_seconds)} left"
        line = (f"Writing reflections {d.done + 1}/{d.total} ({d.step}){left}"
                f"  {Path(d.path).name}")
    elif isinstance(d, CheckProgress):
        line = f"Checking what it recalls: {d.questions} test questions"
    elif d.step == d.resumed_from:  # before the first step: what is to come
        if d.resumed_from:
            _progress(f"\r\x1b[KResuming '{p.memory}' at step {d.step} of {d.total_steps}")
        line = f"Training {d.total_steps} steps" + _about(p.eta_seconds, " · ")
    else:
        width = 24
        filled = round(width * d.step / max(d.total_steps, 1))
        eta = "-:--" if p.eta_seconds is None else _clock(p.eta_seconds)
        line = (f"Training [{'#' * filled}{'.' * (width - filled)}] {d.step}/{d.total_steps}"
                f"  loss {d.loss:.3f}  {d.tokens_per_second:.0f} tok/s  ETA {eta}")
    _progress(f"\r\x1b[K{line[:110]}", end="")


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02}:{s % 60:02}" if s >= 3600 else f"{s // 60}:{s % 60:02}"


def _about(seconds: float | None, before: str = "") -> str:
    """An estimate made before anything was timed, as roughly as it is known ("" if none)."""
    if seconds is None:
        return ""
    if seconds < 60:
        return before + "under a minute"
    if seconds < 90 * 60:
        return before + f"about {round(seconds / 60)} min"
    return before + f"about {seconds / 3600:.1f} h"


def _print_teach(r: TeachReport) -> None:
    _print_scan(r.scan)
    s = r.synthesis
    if s is not None and s.chunks:
        steps = ", ".join(f"{k} {v.produced}" + (f" (-{v.discarded})" if v.discarded else "")
                          for k, v in s.steps.items())
        print(f"  reflections: {s.pairs} new from {s.chunks} chunks by {s.generator} ({steps})")
    if r.training is None:
        print(f"  nothing new to train; {r.reflections_total} reflections"
              + (f", adapter {r.adapter}" if r.adapter else ""))
    elif r.cancelled:
        print(f"  training stopped at step {r.training.steps}; `memo teach` resumes it")
    else:
        t = r.training
        print(f"  trained ({r.strategy}): {t.steps} steps, {t.tokens} tokens, final loss "
              f"{t.final_loss:.3f}, {t.seconds:.0f} s" +
              (f" (resumed at step {t.resumed_from})" if t.resumed_from else ""))
        print(f"  adapter: {r.adapter}")
    if r.recall is not None and r.recall.asked:
        weak = [d.path for d in r.recall.documents if not learned(d.right, d.asked)]
        print(f"  recall: {r.recall.right}/{r.recall.asked} held-out questions answered"
              + (f"; not learned yet: {', '.join(Path(w).name for w in weak[:5])}"
                 + (" ..." if len(weak) > 5 else "") if weak else ""))


if __name__ == "__main__":
    sys.exit(main())
