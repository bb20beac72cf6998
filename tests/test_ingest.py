"""The incremental scan on real folders: what it reads, what it skips, what it keeps, and every
kind of bad input a person's folders hold."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fpdf import FPDF

from memo_mlx.catalog import Catalog
from memo_mlx.models.base import resolve_source
from memo_mlx.sources.chunking import Chunker, ChunkSettings
from memo_mlx.sources.ingest import (
    IngestError,
    ScanProgress,
    ScanReport,
    ScanSettings,
    add_paths,
    remove_path,
    scan_memory,
)


@pytest.fixture
def chunker(tiny_q8) -> Chunker:
    return Chunker(resolve_source(str(tiny_q8.path)), ChunkSettings(128, 16))


@pytest.fixture
def catalog() -> Iterator[Catalog]:
    with Catalog() as c:
        yield c


def scan(catalog: Catalog, chunker: Chunker, name: str = "notes", **kw) -> ScanReport:
    memory = catalog.memory(name)
    assert memory is not None
    return scan_memory(catalog, memory, chunker, **kw)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def pdf_bytes(text: str, title: str = "Report") -> bytes:
    pdf = FPDF()
    pdf.set_title(title)
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def docx_bytes(heading: str, text: str) -> bytes:
    import docx

    d = docx.Document()
    d.add_heading(heading, level=1)
    d.add_paragraph(text)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def paths(catalog: Catalog, name: str = "notes") -> set[str]:
    memory = catalog.memory(name)
    assert memory is not None
    return {r["path"] for r in catalog.db.query(
        "SELECT path FROM documents WHERE memory_id = ?", [memory.id]
    )}


def chunk_ids(catalog: Catalog, path: Path) -> list[int]:
    return [r["id"] for r in catalog.db.query(
        "SELECT c.id FROM chunks c JOIN documents d ON c.document_id = d.id WHERE d.path = ? "
        "ORDER BY c.ord", [str(path)]
    )]


def text_of(catalog: Catalog, path: Path) -> str:
    return "\n".join(r["text"] for r in catalog.db.query(
        "SELECT c.text FROM chunks c JOIN documents d ON c.document_id = d.id WHERE d.path = ? "
        "ORDER BY c.ord", [str(path)]
    ))


def teach(catalog: Catalog, path: Path) -> int:
    """A reflection taught by the file's first chunk, as the teaching issue will write one."""
    memory_id = catalog.memories()[0].id
    rid = int(catalog.db["reflections"].insert(
        {"memory_id": memory_id, "question": "q?", "answer": "a.", "kind": "direct"}
    ).last_pk)
    catalog.db["reflection_sources"].insert(
        {"reflection_id": rid, "chunk_id": chunk_ids(catalog, path)[0]}
    )
    return rid


def reflection_state(catalog: Catalog, rid: int) -> str:
    return str(catalog.db["reflections"].get(rid)["state"])


def errors(report: ScanReport) -> dict[str, str]:
    return {e.path: e.error for e in report.errors}


# --- what a scan reads ----------------------------------------------------------------------


def test_reads_every_kind_of_file_and_skips_the_rest(tmp_path, catalog, chunker):
    root = tmp_path / "Notes"
    write(root / "plan.md", "# Plan\n\nThe launch is on Friday.\n\n## Risks\n\nRain.")
    write(root / "todo.txt", "Buy milk.")
    write(root / "page.html", "<html><title>Page</title><body><h1>Hi</h1><p>Body text.</p>"
                              "<script>var x = 1;</script></body></html>")
    write(root / "people.csv", "name,city\nAda,London\nGrace,Arlington\n")
    write(root / "data.json", '{"project": {"name": "Nimbus", "year": 2031}}')
    write(root / "tool.py", "def f():\n    return 42\n")
    write(root / "sub" / "report.pdf", pdf_bytes("The reactor output is 40 MW."))
    write(root / "sub" / "letter.docx", docx_bytes("Letter", "Dear Ada, thanks."))
    write(root / "notes.xyz", "an unknown extension that is plain text")
    write(root / "photo.png", b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    write(root / "blob.dat", b"\x00\x01" + os.urandom(500))
    for noise in (".hidden.txt", ".git/config", "node_modules/lib/index.js", "~$letter.docx",
                  "plan.md.swp", "#plan.md#", "draft.txt~", ".obsidian/app.json"):
        write(root / noise, "noise")

    add_paths(catalog, [root], None)
    report = scan(catalog, chunker, "Notes")
    found = {Path(p).relative_to(root).as_posix() for p in paths(catalog, "Notes")}
    assert found == {"plan.md", "todo.txt", "page.html", "people.csv", "data.json", "tool.py",
                     "sub/report.pdf", "sub/letter.docx", "notes.xyz"}
    assert (report.added, report.failed, report.skipped, report.errors) == (9, 0, 2, [])
    assert report.chunks == report.new_chunks > 0
    assert "Plan > Risks\nRain." in text_of(catalog, root / "plan.md")
    assert "40 MW" in text_of(catalog, root / "sub" / "report.pdf")
    assert "Dear Ada" in text_of(catalog, root / "sub" / "letter.docx")
    assert "var x" not in text_of(catalog, root / "page.html")
    assert "Nimbus" in text_of(catalog, root / "data.json")


def test_unchanged_files_are_not_read_again(tmp_path, catalog, chunker):
    note = write(tmp_path / "n" / "a.txt", "The code is 1234.")
    add_paths(catalog, [note.parent], "notes")
    scan(catalog, chunker)
    st = note.stat()
    # New content, same size and mtime: only a scan that reads would notice.
    note.write_text("The code is 9999.")
    os.utime(note, ns=(st.st_atime_ns, st.st_mtime_ns))
    report = scan(catalog, chunker)
    assert (report.unchanged, report.changed) == (1, 0)
    assert "1234" in text_of(catalog, note)
    # Same content, new mtime (a touch): read, recognised by its hash, not re-cut.
    note.write_text("The code is 1234.")
    ids = chunk_ids(catalog, note)
    report = scan(catalog, chunker)
    assert (report.unchanged, report.changed) == (1, 0)
    assert chunk_ids(catalog, note) == ids
    doc = catalog.sources.document_by_path(catalog.memories()[0].id, str(note))
    assert doc is not None and doc.mtime_ns == note.stat().st_mtime_ns


def test_a_changed_file_replaces_only_its_own_chunks(tmp_path, catalog, chunker):
    root = tmp_path / "n"
    paragraphs = [f"Paragraph {i} says the value of item {i} is {i * 7}." for i in range(12)]
    long = write(root / "long.md", "# Items\n\n" + "\n\n".join(paragraphs))
    other = write(root / "other.md", "# Other\n\nUnrelated words.")
    add_paths(catalog, [root], "notes")
    scan(catalog, chunker)
    before_long, before_other = chunk_ids(catalog, long), chunk_ids(catalog, other)
    assert len(before_long) >= 3
    kept = teach(catalog, long)  # taught by the first chunk, which the edit leaves alone
    paragraphs[-1] = "Paragraph 11 now says something else entirely."
    long.write_text("# Items\n\n" + "\n\n".join(paragraphs))

    report = scan(catalog, chunker)
    assert (report.changed, report.unchanged, report.added) == (1, 1, 0)
    assert chunk_ids(catalog, other) == before_other
    after_long = chunk_ids(catalog, long)
    assert after_long[0] == before_long[0] and after_long != before_long
    assert report.new_chunks == len(set(after_long) - set(before_long)) >= 1
    assert "something else entirely" in text_of(catalog, long)
    assert reflection_state(catalog, kept) == "active"


def test_a_removed_file_orphans_what_it_taught(tmp_path, catalog, chunker):
    root = tmp_path / "n"
    gone = write(root / "gone.txt", "Forget me.")
    write(root / "stay.txt", "Keep me.")
    add_paths(catalog, [root], "notes")
    scan(catalog, chunker)
    rid = teach(catalog, gone)
    gone.unlink()
    report = scan(catalog, chunker)
    assert (report.removed, report.unchanged, report.orphaned_reflections) == (1, 1, 1)
    assert paths(catalog) == {str(root / "stay.txt")}
    assert reflection_state(catalog, rid) == "orphaned"


def test_moved_and_renamed_files_keep_their_chunks(tmp_path, catalog, chunker):
    root = tmp_path / "n"
    a = write(root / "a.txt", "Alpha is the first letter.")
    b = write(root / "b.txt", "Beta is the second letter.")
    add_paths(catalog, [root], "notes")
    scan(catalog, chunker)
    ids_a, ids_b = chunk_ids(catalog, a), chunk_ids(catalog, b)
    rid = teach(catalog, a)
    renamed, moved = root / "first.txt", root / "archive" / "b.txt"
    a.rename(renamed)
    moved.parent.mkdir()
    b.rename(moved)
    report = scan(catalog, chunker)
    assert (report.moved, report.added, report.removed, report.new_chunks) == (2, 0, 0, 0)
    assert paths(catalog) == {str(renamed), str(moved)}
    assert (chunk_ids(catalog, renamed), chunk_ids(catalog, moved)) == (ids_a, ids_b)
    assert reflection_state(catalog, rid) == "active"


def test_a_missing_folder_keeps_its_documents_until_it_returns(tmp_path, catalog, chunker):
    root = tmp_path / "usb"
    write(root / "a.txt", "On the stick.")
    add_paths(catalog, [root], "notes")
    scan(catalog, chunker)
    root.rename(tmp_path / "elsewhere")  # unplugged
    report = scan(catalog, chunker)
    assert report.removed == 0 and "not found" in errors(report)[str(root)]
    assert paths(catalog) == {str(root / "a.txt")}
    assert catalog.sources.folders()[0].state == "missing"
    (tmp_path / "elsewhere").rename(root)  # plugged back in
    report = scan(catalog, chunker)
    assert (report.unchanged, report.removed, report.errors) == (1, 0, [])
    assert catalog.sources.folders()[0].state == "ok"


def test_an_emptied_folder_forgets_its_files(tmp_path, catalog, chunker):
    root = tmp_path / "n"
    write(root / "a.txt", "One.")
    write(root / "deep" / "b.txt", "Two.")
    add_paths(catalog, [root], "notes")
    scan(catalog, chunker)
    for p in (root / "a.txt", root / "deep" / "b.txt"):
        p.unlink()
    (root / "deep").rmdir()
    report = scan(catalog, chunker)
    assert (report.removed, report.chunks) == (2, 0)


def test_a_new_chunker_cuts_every_document_again(tmp_path, catalog, chunker, tiny_q8):
    write(tmp_path / "n" / "a.txt", "Some words. " * 50)
    add_paths(catalog, [tmp_path / "n"], "notes")
    first = scan(catalog, chunker)
    finer = Chunker(resolve_source(str(tiny_q8.path)), ChunkSettings(64, 0))
    report = scan(catalog, finer)
    assert report.changed == 1 and report.chunks > first.chunks


def test_progress_and_cancel(tmp_path, catalog, chunker):
    import threading

    for i in range(5):
        write(tmp_path / "n" / f"{i}.txt", f"File {i}.")
    add_paths(catalog, [tmp_path / "n"], "notes")
    cancel = threading.Event()
    seen: list[ScanProgress] = []

    def progress(p: ScanProgress) -> None:
        seen.append(p)
        if p.done == 2:
            cancel.set()

    report = scan(catalog, chunker, on_progress=progress, cancel=cancel)
    assert report.cancelled and report.added == 3 and report.removed == 0
    assert [(p.done, p.total) for p in seen] == [(0, 5), (1, 5), (2, 5)]
    report = scan(catalog, chunker)  # resumes: the rest, not the done ones again
    assert (report.added, report.unchanged) == (2, 3)


# --- bad input ------------------------------------------------------------------------------


def test_each_bad_file_is_one_error_and_the_scan_carries_on(tmp_path, catalog, chunker):
    from pypdf import PdfReader, PdfWriter

    root = tmp_path / "n"
    write(root / "good.txt", "A good file.")
    report_pdf = write(root / "report.pdf", pdf_bytes("Quarterly revenue was 7 million."))
    write(root / "broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes("Secret plans."))))
    writer.encrypt("secret", algorithm="AES-256")
    buf = io.BytesIO()
    writer.write(buf)
    write(root / "locked.pdf", buf.getvalue())
    write(root / "empty.txt", b"")
    huge = root / "huge.txt"
    with open(huge, "wb") as f:
        f.truncate(2 * 1024**3)  # 2 GB, sparse: costs no disk
    write(root / "latin1.txt", "Caf\xe9 cr\xe8me, 5 \xa3.".encode("latin-1"))
    (root / "loop.txt").symlink_to(root / "loop.txt")
    (root / "sub").mkdir()
    (root / "sub" / "up").symlink_to(root, target_is_directory=True)
    add_paths(catalog, [root], "notes")
    scan(catalog, chunker)
    good_chunks = chunk_ids(catalog, report_pdf)
    report_pdf.write_bytes(report_pdf.read_bytes()[:300])  # damaged after it was read

    report = scan(catalog, chunker)
    errs = errors(report)
    assert errs.keys() == {str(root / n) for n in (
        "report.pdf", "broken.pdf", "locked.pdf", "empty.txt", "huge.txt", "loop.txt", "sub/up"
    )}
    assert "PDF" in errs[str(root / "report.pdf")]
    assert "PDF" in errs[str(root / "broken.pdf")]
    assert "password" in errs[str(root / "locked.pdf")]
    assert "empty" in errs[str(root / "empty.txt")]
    assert "too large: 2.0 GB" in errs[str(root / "huge.txt")]
    assert "symlink loop" in errs[str(root / "loop.txt")]
    assert "symlink loop" in errs[str(root / "sub" / "up")]
    assert report.failed == 5  # the loops are not documents; the five files are
    # the scan carried on, the text that is not UTF-8 was decoded, nothing stored was lost
    assert "Café crème, 5 £." in text_of(catalog, root / "latin1.txt")
    assert chunk_ids(catalog, report_pdf) == good_chunks
    assert "7 million" in text_of(catalog, report_pdf)
    memory = catalog.memories()[0]
    assert dict(catalog.sources.errors(memory.id)).keys() == {str(root / n) for n in (
        "report.pdf", "broken.pdf", "locked.pdf", "empty.txt", "huge.txt")}
    # a failure is not retried while the file stays as it is, and is still reported
    again = scan(catalog, chunker)
    assert errors(again).keys() == errs.keys() and again.failed == 5
    report_pdf.write_bytes(pdf_bytes("Quarterly revenue was 8 million."))  # repaired
    again = scan(catalog, chunker)
    assert again.changed == 1 and "8 million" in text_of(catalog, report_pdf)


def test_size_cap_is_a_setting(tmp_path, catalog, chunker):
    write(tmp_path / "n" / "a.txt", "x" * 4000)
    add_paths(catalog, [tmp_path / "n"], "notes")
    report = scan(catalog, chunker, settings=ScanSettings(max_file_mb=0.001))
    assert "too large: 3.9 KB (the limit is 1.0 KB)" in report.errors[0].error


def test_a_file_deleted_mid_scan(tmp_path, catalog, chunker):
    root = tmp_path / "n"
    for name in ("a.txt", "b.txt", "c.txt"):
        write(root / name, f"File {name}.")
    add_paths(catalog, [root], "notes")

    def delete_b(p: ScanProgress) -> None:
        if p.path.endswith("b.txt"):
            Path(p.path).unlink()  # after the walk listed it, before it is read

    report = scan(catalog, chunker, on_progress=delete_b)
    assert errors(report) == {str(root / "b.txt"): "vanished during the scan"}
    assert (report.added, report.failed) == (2, 1)
    assert scan(catalog, chunker).errors == []  # and the next scan has nothing to say of it


def test_permission_denied(monkeypatch, chunker):
    # tmp_path's parents are private to root; as root, this test scans as nobody, so its
    # folders and its MEMO_HOME are in a folder anybody may enter.
    shared = Path(tempfile.mkdtemp(prefix="memo-perm-"))
    monkeypatch.setenv("MEMO_HOME", str(shared / "home"))
    catalog = Catalog()
    try:
        root = shared / "n"
        write(root / "open.txt", "Anyone may read this.")
        secret = write(root / "secret.txt", "Nobody may read this.")
        locked_dir = root / "locked"
        write(locked_dir / "inside.txt", "Behind a closed door.")
        add_paths(catalog, [root], "notes")
        scan(catalog, chunker)  # everything readable at first
        secret.write_text("Changed, and now closed.")
        shared.chmod(0o755)
        for p in catalog.path.parent.rglob("*"):
            p.chmod(0o777 if p.is_dir() else 0o666)
        secret.chmod(0o000)
        locked_dir.chmod(0o000)
        assert chunker.counter.count("x")  # the tokenizer is loaded while we may
        if os.geteuid() == 0:  # root reads everything: scan as nobody
            os.seteuid(65534)
        try:
            report = scan(catalog, chunker)
        finally:
            if os.getuid() == 0:
                os.seteuid(0)
        errs = errors(report)
        assert errs[str(secret)] == "permission denied"
        assert "cannot list this folder: permission denied" in errs[str(locked_dir)]
        # what was read before stays: the closed file and the closed folder's file
        assert "Nobody may read this." in text_of(catalog, secret)
        assert str(locked_dir / "inside.txt") in paths(catalog)
        assert report.removed == 0
        # permission errors are retried even though the file did not change since
        secret.chmod(0o644)
        locked_dir.chmod(0o755)
        report = scan(catalog, chunker)
        assert report.errors == [] and "now closed" in text_of(catalog, secret)
    finally:
        for p in (secret, locked_dir):
            p.chmod(0o755)
        catalog.close()
        shutil.rmtree(shared)


def test_killed_mid_scan_leaves_a_consistent_catalog(tmp_path, tiny_q8):
    root = tmp_path / "many"
    total = 600  # enough that the kill lands well before the end
    for i in range(total):
        write(root / f"{i:03}.md", f"# Note {i}\n\n" + f"Item {i} costs {i} coins. " * 30)
    env = {**os.environ, "MEMO_MODEL": str(tiny_q8.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "memo_mlx.cli", "add", str(root), "--memory", "notes"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    db = tmp_path / "memo-home" / "catalog.db"
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            with Catalog(db) as c:
                done = c.db["documents"].count if "documents" in c.db.table_names() else 0
            if done >= 20:
                break
        time.sleep(0.05)
    assert proc.poll() is None, f"the scan ended before it could be killed: {proc.stderr}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    with Catalog(db) as c:
        assert c.integrity_check() == "ok"
        recorded = c.db["documents"].count
        assert 20 <= recorded < total
        # every recorded document is whole: no document without its chunks
        assert c.db.execute(
            "SELECT count(*) FROM documents d WHERE NOT EXISTS "
            "(SELECT 1 FROM chunks c WHERE c.document_id = d.id)"
        ).fetchone()[0] == 0
        chunker = Chunker(resolve_source(str(tiny_q8.path)))
        report = scan(c, chunker)
        assert (report.added, report.unchanged) == (total - recorded, recorded)
        assert c.db["documents"].count == total


# --- registering folders --------------------------------------------------------------------


def test_adding_checks_every_path_first(tmp_path, catalog):
    write(tmp_path / "ok" / "a.txt", "x")
    write(tmp_path / "photo.jpg", b"\xff\xd8\xff")
    with pytest.raises(IngestError, match="nope: no such file or folder"):
        add_paths(catalog, [tmp_path / "ok", tmp_path / "nope"], None)
    assert catalog.memories() == []  # nothing was stored
    with pytest.raises(IngestError, match="not a kind of file MeMo can read"):
        add_paths(catalog, [tmp_path / "photo.jpg"], None)
    with pytest.raises(IngestError, match="MeMo's own data folder"):
        add_paths(catalog, [catalog.path.parent], None)
    memory = add_paths(catalog, [tmp_path / "ok"], None)
    assert memory.name == "ok"  # named for the folder


def test_single_files_and_remove(tmp_path, catalog, chunker):
    one = write(tmp_path / "one.md", "# One\n\nJust this file.")
    write(tmp_path / "other.md", "Not this one.")
    add_paths(catalog, [one], "notes")
    report = scan(catalog, chunker)
    assert report.added == 1 and paths(catalog) == {str(one)}
    rid = teach(catalog, one)
    folder, orphaned = remove_path(catalog, one, None)
    assert folder.path == str(one) and orphaned == 1
    assert paths(catalog) == set() and reflection_state(catalog, rid) == "orphaned"
    with pytest.raises(IngestError, match="not a folder MeMo learns from"):
        remove_path(catalog, one, None)
