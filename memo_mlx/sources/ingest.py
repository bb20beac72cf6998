"""Reading a memory's folders into the catalog: registering folders, and the incremental scan.

A scan walks every folder of a memory and sorts each file it finds:
- **unchanged**: same size and mtime as recorded (the fast path: nothing is read), or same
  content hash under a new mtime;
- **added** / **changed**: extracted, cut into chunks, recorded in one transaction per file
  (a changed file keeps the chunks whose text did not change, and what they taught; what its
  vanished text taught is marked edited, to be replaced at the next teach);
- **moved**: a new path whose content hash is that of a recorded file that vanished: the record
  moves, its chunks and reflections stay;
- **removed**: recorded but gone: its chunks are deleted and the reflections they taught are
  orphaned, to be forgotten at the next teach;
- **failed**: unreadable (damaged, encrypted, too large, permission denied, vanished mid-scan):
  one error with the path and the reason; whatever was recorded for it before is kept.

A folder that is missing (unplugged, renamed) keeps its documents until it returns; a subfolder
that cannot be listed keeps the documents under it. A process killed mid-scan leaves the catalog
as it was after the last whole file, and the next scan does the rest.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import Catalog, CatalogError, Document, Folder, Memory
from ..errors import MemoError, quoted
from ..settings import from_section, memo_home
from .chunking import Chunker
from .extract import SNIFF, ExtractError, extract, format_for, looks_binary

SNIFF_BYTES = 8192
# Folders that hold tools' state, not a person's writing (hidden ones are skipped anyway).
SKIP_DIRS = frozenset({
    "node_modules", "__pycache__", "venv", "site-packages", "bower_components",
    "$RECYCLE.BIN", "System Volume Information", "lost+found",
})
# Editors' and downloaders' temporary files: half-written, about to vanish.
TEMP_SUFFIXES = (
    "~", ".swp", ".swo", ".swx", ".tmp", ".temp", ".bak", ".crdownload", ".part", ".partial",
    ".download",
)


class IngestError(MemoError):
    pass


@dataclass(frozen=True)
class ScanSettings:
    max_file_mb: float = 100

    @classmethod
    def from_defaults(cls) -> ScanSettings:
        return from_section(cls, "scan")

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


@dataclass(frozen=True)
class ScanError:
    path: str
    error: str


@dataclass
class ScanReport:
    """What a scan did; `to_json()` is the `memo scan --json` object."""

    memory: str
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0
    moved: int = 0
    skipped: int = 0  # files that are not text (images, binaries), never recorded
    chunks: int = 0  # in the memory after the scan
    new_chunks: int = 0
    # Taught by text that is gone: orphaned (file removed) or edited (text changed).
    orphaned_reflections: int = 0
    errors: list[ScanError] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        keys = ("added", "changed", "removed", "unchanged", "failed", "moved", "skipped")
        return {
            "memory": self.memory,
            "documents": {k: getattr(self, k) for k in keys},
            "chunks": self.chunks,
            "new_chunks": self.new_chunks,
            "orphaned_reflections": self.orphaned_reflections,
            "errors": [asdict(e) for e in self.errors],
            "seconds": round(self.seconds, 3),
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True)
class ScanProgress:
    memory: str
    done: int  # files read so far (unchanged ones are not counted: they cost nothing)
    total: int  # files to read
    path: str


# --- registering folders --------------------------------------------------------------------


def add_paths(catalog: Catalog, paths: Iterable[str | Path], memory_name: str | None) -> Memory:
    """Register folders or files in a memory, created if new (default name: the first
    folder's name). Every path is checked before anything is stored."""
    resolved = [_checked_path(p) for p in paths]
    if not resolved:
        raise IngestError("name at least one folder or file")
    name = memory_name or (resolved[0].name if resolved[0].is_dir() else resolved[0].stem)
    with catalog.atomic():  # a new memory and its folders, or nothing
        memory = catalog.memory(name) or catalog.create_memory(name)
        for path in resolved:
            catalog.sources.add_folder(memory.id, path)
    return memory


def remove_path(catalog: Catalog, path: str | Path, memory_name: str | None) -> tuple[Folder, int]:
    """Stop learning from a folder or file; returns it and how many reflections are now
    orphaned (forgotten at the next teach)."""
    target = Path(path).expanduser().resolve()
    memories = [catalog.memory_by_id(f.memory_id) for f in catalog.sources.folders()
                if Path(f.path) == target]
    if memory_name is not None:
        memories = [m for m in memories if m.name == memory_name]
    if not memories:
        where = f" in memory {quoted(memory_name)}" if memory_name else ""
        raise IngestError(f"{target}: not a folder MeMo learns from{where}")
    if len(memories) > 1:
        names = ", ".join(m.name for m in memories)
        raise IngestError(f"{target}: in several memories ({names}); say which with --memory")
    folder = next(f for f in catalog.sources.folders(memories[0].id) if Path(f.path) == target)
    return folder, catalog.sources.remove_folder(folder)


def _checked_path(raw: str | Path) -> Path:
    path = Path(raw).expanduser()
    try:
        path = path.resolve(strict=True)
    except FileNotFoundError:
        raise IngestError(f"{raw}: no such file or folder") from None
    except (OSError, RuntimeError) as e:  # a symlink loop raises RuntimeError on 3.11
        raise IngestError(f"{raw}: cannot be opened ({e})") from None
    if path.is_file() and format_for(path.name) is None:
        raise IngestError(f"{path}: not a kind of file MeMo can read")
    if not (path.is_file() or path.is_dir()):
        raise IngestError(f"{path}: neither a file nor a folder")
    if path.is_relative_to(memo_home().resolve()):
        raise IngestError(f"{path}: this is inside MeMo's own data folder")
    return path


# --- which files count ----------------------------------------------------------------------


def ignored_name(name: str, is_dir: bool) -> bool:
    """Hidden files and folders, tools' folders, editors' temporary files."""
    if name.startswith("."):  # .git, .DS_Store, .#lock files, dotfiles
        return True
    if is_dir:
        return name in SKIP_DIRS
    return (
        name.startswith("~$")  # Office lock files
        or (name.startswith("#") and name.endswith("#"))  # Emacs autosaves
        or name.lower().endswith(TEMP_SUFFIXES)
    )


def ignored_path(path: Path, root: Path) -> bool:
    """Whether a path under `root` is one a scan skips (for the watcher's event filter)."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return True
    return any(ignored_name(p, i < len(parts) - 1) for i, p in enumerate(parts))


@dataclass
class _Walk:
    files: dict[str, tuple[int, os.stat_result]] = field(default_factory=dict)  # -> folder id
    errors: list[ScanError] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # folders whose documents must stay as they are
    missing: dict[int, str] = field(default_factory=dict)  # registered folder id -> why


def _walk_folder(folder: Folder, walk: _Walk, home: Path) -> None:
    root = Path(folder.path)
    try:
        root_stat = os.stat(root)
    except OSError as e:
        reason = "not found: unplugged, moved or renamed? Its documents are kept until it returns"
        _missing(folder, walk, reason if isinstance(e, FileNotFoundError) else _reason(e))
        return
    if folder.kind == "file":
        if stat.S_ISREG(root_stat.st_mode):
            walk.files[folder.path] = (folder.id, root_stat)
        return
    if not stat.S_ISDIR(root_stat.st_mode):
        _missing(folder, walk, "is no longer a folder; its documents are kept")
        return
    visited = {(root_stat.st_dev, root_stat.st_ino)}
    stack = [folder.path]
    while stack:
        here = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = list(it)
        except FileNotFoundError:
            continue  # deleted while we walked: its files count as removed
        except OSError as e:
            walk.kept.append(here)
            walk.errors.append(ScanError(here, f"cannot list this folder: {_reason(e)}"))
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir()
                if ignored_name(entry.name, is_dir):
                    continue
                st = entry.stat()
            except FileNotFoundError:
                continue  # a dangling link, or deleted since listed: nothing to read
            except OSError as e:
                walk.errors.append(ScanError(entry.path, _reason(e)))
                continue
            if is_dir:
                key = (st.st_dev, st.st_ino)
                if key in visited:
                    walk.errors.append(ScanError(
                        entry.path, "symlink loop: leads back to a folder already scanned"
                    ))
                elif Path(entry.path).resolve() != home:
                    visited.add(key)
                    stack.append(entry.path)
            elif stat.S_ISREG(st.st_mode):  # not sockets, pipes or devices
                walk.files[entry.path] = (folder.id, st)


def _missing(folder: Folder, walk: _Walk, reason: str) -> None:
    walk.missing[folder.id] = reason
    walk.kept.append(folder.path)
    walk.errors.append(ScanError(folder.path, reason))


def _reason(e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return "symlink loop: the link leads back to itself"
    if isinstance(e, PermissionError):
        return "permission denied"
    return e.strerror or str(e)


# --- the scan -------------------------------------------------------------------------------


def scan_memory(
    catalog: Catalog,
    memory: Memory,
    chunker: Chunker,
    *,
    settings: ScanSettings | None = None,
    on_progress: Callable[[ScanProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> ScanReport:
    """Bring the catalog up to date with the memory's folders (see the module docstring)."""
    settings = settings or ScanSettings.from_defaults()
    with catalog.lock(f"scan-{memory.id}"):
        return _Scan(catalog, memory, chunker, settings, on_progress, cancel).run()


class _Scan:
    def __init__(
        self,
        catalog: Catalog,
        memory: Memory,
        chunker: Chunker,
        settings: ScanSettings,
        on_progress: Callable[[ScanProgress], None] | None,
        cancel: threading.Event | None,
    ):
        self.catalog, self.memory, self.chunker, self.settings = catalog, memory, chunker, settings
        self.on_progress, self.cancel = on_progress, cancel
        self.report = ScanReport(memory=memory.name)

    def run(self) -> ScanReport:
        start = time.perf_counter()
        catalog, report = self.catalog, self.report
        folders = catalog.sources.folders(self.memory.id)
        walk = _Walk()
        home = memo_home().resolve()
        for folder in folders:
            _walk_folder(folder, walk, home)
        report.errors.extend(walk.errors)
        for folder_id, reason in walk.missing.items():
            catalog.sources.set_folder_state(folder_id, "missing", reason)

        known: dict[str, Document] = {}
        for folder in folders:
            known.update(catalog.sources.documents(folder.id))
        todo: list[str] = []
        for path, (_, st) in sorted(walk.files.items()):
            doc = known.get(path)
            same_file = doc is not None and doc.size == st.st_size and (
                doc.mtime_ns == st.st_mtime_ns
            )
            if same_file and doc is not None and doc.state == "ok" and (
                doc.chunker == self.chunker.identity
            ):
                report.unchanged += 1
            elif same_file and doc is not None and doc.state == "error" and not doc.retry:
                report.failed += 1  # failed before on this very version of the file
                report.errors.append(ScanError(path, doc.error or "unreadable"))
            else:
                todo.append(path)
        kept = tuple(k.rstrip(os.sep) + os.sep for k in walk.kept)
        vanished = {
            path: doc for path, doc in known.items()
            if path not in walk.files and not path.startswith(kept) and path not in walk.kept
        }
        # A moved or renamed file is found by its content among the vanished ones.
        by_hash = {doc.hash: doc for doc in vanished.values() if doc.hash and doc.state == "ok"}

        for done, path in enumerate(todo):
            if self.cancel is not None and self.cancel.is_set():
                report.cancelled = True
                break
            if self.on_progress is not None:
                self.on_progress(ScanProgress(self.memory.name, done, len(todo), path))
            folder_id, st = walk.files[path]
            self._file(path, folder_id, st, known.get(path), by_hash, vanished)

        if not report.cancelled:
            if vanished:
                report.orphaned_reflections += catalog.sources.remove_documents(
                    doc.id for doc in vanished.values()
                )
                report.removed = len(vanished)
            for folder in folders:
                if folder.id not in walk.missing:
                    catalog.sources.folder_scanned(folder.id)
        report.chunks = catalog.sources.chunk_count(self.memory.id)
        report.seconds = time.perf_counter() - start
        return report

    def _file(
        self,
        path: str,
        folder_id: int,
        st: os.stat_result,
        doc: Document | None,
        by_hash: dict[str, Document],
        vanished: dict[str, Document],
    ) -> None:
        report, catalog, memory_id = self.report, self.catalog, self.memory.id
        name = os.path.basename(path)
        fmt = format_for(name)
        if fmt is None:
            report.skipped += 1
            return
        try:
            data, st = self._read(path, st)
            if fmt == SNIFF:
                if looks_binary(data[:SNIFF_BYTES]):
                    report.skipped += 1
                    return
                fmt = "text"
            digest = hashlib.blake2b(data, digest_size=16).hexdigest()
            if doc is not None and doc.state == "ok" and doc.hash == digest and (
                doc.chunker == self.chunker.identity
            ):
                catalog.sources.touch_document(doc.id, st.st_size, st.st_mtime_ns)
                report.unchanged += 1
                return
            moved = by_hash.pop(digest, None) if doc is None else None
            if moved is not None and moved.chunker == self.chunker.identity:
                catalog.sources.move_document(moved.id, folder_id, path, st.st_size, st.st_mtime_ns)
                del vanished[moved.path]
                report.moved += 1
                return
            extracted = extract(name, data, fmt)
            chunks = self.chunker.chunk(extracted)
            if not chunks:
                raise ExtractError("no text in this file")
        except (ExtractError, OSError) as e:
            retry = isinstance(e, OSError)
            reason = _reason(e) if isinstance(e, OSError) else str(e)
            if isinstance(e, FileNotFoundError):
                reason = "vanished during the scan"
            report.failed += 1
            report.errors.append(ScanError(path, reason))
            if not isinstance(e, FileNotFoundError):
                try:
                    catalog.sources.save_error(memory_id, folder_id, path, size=st.st_size,
                                       mtime_ns=st.st_mtime_ns, error=reason, retry=retry)
                except CatalogError as ce:
                    report.errors.append(ScanError(path, str(ce)))
            return
        added, orphaned = catalog.sources.save_document(
            memory_id, folder_id, path, size=st.st_size, mtime_ns=st.st_mtime_ns, hash=digest,
            format=extracted.format, encoding=extracted.encoding, title=extracted.title,
            chunker=self.chunker.identity, chunks=chunks,
        )
        report.new_chunks += added
        report.orphaned_reflections += orphaned
        if doc is None:
            report.added += 1
        else:
            report.changed += 1

    def _read(self, path: str, st: os.stat_result) -> tuple[bytes, os.stat_result]:
        """The file's bytes and its stat as opened (it may have changed since the walk)."""
        limit = self.settings.max_bytes
        if st.st_size > limit:
            raise ExtractError(f"too large: {_size(st.st_size)} (the limit is {_size(limit)})")
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ExtractError(f"too large: over {_size(limit)}")
        return data, st


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
