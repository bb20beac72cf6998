"""Text from the files people keep, as headed sections ready for chunking.

The ingest pipeline asks `format_for` what a file is by its name alone: known non-text files
(images, archives, ...) are skipped unread, unknown names are sniffed with `looks_binary`. It then
calls `extract` on the bytes and gets an `Extracted`: sections in document order, each a heading
path (outermost first) and the body under it with paragraphs separated by one blank line, so the
chunker can split by tokens and still say which chapter a chunk came from.

Binary formats go through well-kept libraries (pypdf, python-docx); byte formats are decoded by
`decode_text` (UTF-8 first, then BOMs and charset-normalizer) and structured with markdown-it-py,
BeautifulSoup, csv and json. Whatever a library raises on a bad file becomes an `ExtractError`
whose message is a one-line reason; the caller adds the path.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import charset_normalizer
import docx
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning
from bs4.builder import builder_registry
from bs4.element import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag
from docx.table import Table
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from memo_mlx.errors import MemoError

# pypdf logs every oddity of a damaged file, some as errors it then works around; the user
# gets our one-line reason instead.
logging.getLogger("pypdf").setLevel(logging.CRITICAL)
# bs4 warns about markup it reads anyway (XHTML, a file holding one URL): noise for an indexer.
warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)
warnings.filterwarnings("ignore", category=MarkupResemblesLocatorWarning)


class ExtractError(MemoError):
    """A file that cannot be read as text; the message is a one-line reason without the path
    (the caller prefixes it), e.g. 'encrypted PDF: a password is needed'."""


@dataclass(frozen=True)
class Section:
    """A stretch of a document under one heading path."""

    heading: tuple[str, ...]  # outermost first, () before any heading
    text: str  # paragraphs separated by one blank line, without the heading line itself


@dataclass(frozen=True)
class Extracted:
    """What `extract` found in one file."""

    format: str  # text, markdown, rst, html, pdf, docx, csv, json or code
    sections: list[Section]  # document order, none empty
    title: str | None  # the document's own title where the format has one
    encoding: str | None  # the codec bytes were decoded with; None for pdf and docx


SNIFF = "sniff"

_CODE = """py pyi pyw js mjs cjs ts tsx jsx vue svelte java c h cpp hpp cc cxx hh hxx ino rs go
    rb php swift kt kts scala sc m mm cs fs fsx vb sh bash zsh fish ps1 psm1 bat cmd sql r jl lua
    pl pm hs lhs ml mli ex exs erl hrl clj cljs edn dart groovy gradle toml yaml yml ini cfg conf
    properties xml xsd xsl tex bib sty cls css scss sass less proto graphql gql tf hcl nix cmake
    mk diff patch asm s v sv vhd zig nim cr elm f f90 pas d el lisp scm rkt vim awk sed"""
_FORMATS: dict[str, str] = {
    **dict.fromkeys(_CODE.split(), "code"),
    **dict.fromkeys(("txt", "text", "log"), "text"),
    **dict.fromkeys(("md", "markdown", "mdown", "mkd", "mkdn", "mdx"), "markdown"),
    **dict.fromkeys(("rst", "rest"), "rst"),
    **dict.fromkeys(("html", "htm", "xhtml"), "html"),
    **dict.fromkeys(("csv", "tsv"), "csv"),
    **dict.fromkeys(("json", "geojson", "jsonl", "ndjson"), "json"),
    "pdf": "pdf",
    "docx": "docx",
}
_SKIPPED = frozenset(
    """jpg jpeg png gif bmp tif tiff webp heic heif ico icns psd ai eps raw cr2
    nef arw dng svg mp3 wav flac aac m4a ogg oga opus aif aiff wma mid midi mp4 m4v mov avi mkv
    webm wmv flv mpg mpeg 3gp zip tar gz tgz bz2 xz 7z rar zst lz4 dmg iso pkg deb rpm jar war whl
    egg apk ipa exe dll so dylib a o obj lib bin msi class pyc pyo pyd wasm ttf otf woff woff2 eot
    db sqlite sqlite3 mdb accdb parquet feather arrow h5 hdf5 npy npz pkl pickle pt pth ckpt
    safetensors gguf onnx xlsx xlsm xls pptx ppt doc dotx odt ods odp rtf pages numbers key epub
    swp swo part crdownload""".split()
)
_TEXT_NAMES = frozenset(
    """makefile gnumakefile dockerfile containerfile vagrantfile gemfile
    rakefile procfile jenkinsfile brewfile readme license licence copying authors contributors
    changelog changes news notice install todo""".split()
)
_SKIPPED_NAMES = frozenset({".ds_store", "desktop.ini", ".localized"})


def format_for(name: str) -> str | None:
    """A format by file name alone (case-insensitive): SNIFF for an unknown or missing extension
    (read the head and ask `looks_binary`), None for known non-text files to skip unread."""
    base = PurePath(name.replace("\\", "/")).name.lower()
    if base in _SKIPPED_NAMES:
        return None
    if base in _TEXT_NAMES:
        return "text"
    ext = PurePath(base).suffix[1:]  # "" for no extension and for dotfiles such as .bashrc
    if ext in _SKIPPED:
        return None
    return _FORMATS.get(ext, SNIFF)


_BOMS = (  # UTF-32 first: its little-endian BOM begins with UTF-16's
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
# Control bytes that text does not hold; tab, newlines, form feed, backspace and ESC it may.
_CONTROL = bytes(b for b in range(32) if b not in b"\b\t\n\v\f\r\x1b") + b"\x7f"


def _bom_codec(data: bytes) -> str | None:
    return next((codec for bom, codec in _BOMS if data.startswith(bom)), None)


def looks_binary(head: bytes) -> bool:
    """True when the first bytes (up to 8 KiB) are not text: a NUL byte, or more than 10%
    control bytes. UTF-16 and UTF-32 with a BOM are text."""
    if _bom_codec(head):
        return False
    if b"\x00" in head:
        return True
    controls = len(head) - len(head.translate(None, _CONTROL))
    return controls > len(head) * 0.1


def decode_text(data: bytes) -> tuple[str, str]:
    """Bytes to text and the codec used: UTF-8 (BOM or not), then a UTF-16/32 BOM, then UTF-8
    with a few stray cp1252 bytes, then charset-normalizer's guess, last cp1252 with
    replacement characters. Never fails. Newlines become \\n and NUL bytes are dropped."""
    text, encoding = _decode(data)
    return _clean(text), encoding


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _decode(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    bom = _bom_codec(data)
    if bom:
        return data.decode(bom, errors="replace"), bom
    mixed = _mostly_utf8(data)
    if mixed is not None:
        return mixed, "utf-8"
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is not None:
        # On Western text charset-normalizer ties cp1252 with cp1250/cp1257 and may pick either
        # (é right, but à as ŕ); cp1252 is by far the commoner, so it wins a tie, and is the
        # name reported when it decodes to the same text.
        tied = (m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence))
        best = next((m for m in tied if "cp1252" in m.could_be_from_charset), best)
        if "cp1252" in best.could_be_from_charset:
            return str(best), "cp1252"
        return str(best), _codec_name(best.encoding) or best.encoding
    return data.decode("cp1252", errors="replace"), "cp1252"


_STRAY = re.compile("[\udc80-\udcff]+")  # bytes that surrogateescape could not decode
_WIDE = re.compile("[^\x00-\x7f\udc80-\udcff]")  # characters decoded from valid UTF-8


def _mostly_utf8(data: bytes) -> str | None:
    """A UTF-8 file with a few stray single-byte characters (a Latin-1 line pasted in) is read
    as UTF-8 with the strays as cp1252; a guesser would garble all the UTF-8 around them."""
    text = data.decode("utf-8", errors="surrogateescape")
    stray = sum(len(run) for run in _STRAY.findall(text))
    wide = len(_WIDE.findall(text))
    if not wide or stray > wide:
        return None
    return _STRAY.sub(
        lambda run: bytes(ord(c) - 0xDC00 for c in run[0]).decode("cp1252", errors="replace"),
        text,
    )


def _codec_name(label: str) -> str | None:
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def extract(name: str, data: bytes, fmt: str | None = None) -> Extracted:
    """The text of a file named `name` whose bytes are `data`. `fmt` overrides
    `format_for(name)` (pass "text" for a sniffed file). Raises ExtractError, and nothing else
    for a bad file, when there is no text to be had: empty, damaged, encrypted, scanned, invalid
    JSON, or blank once extracted."""
    fmt = fmt or format_for(name)
    if fmt is None:
        raise ExtractError("not a text format MeMo reads")
    if not data:
        raise ExtractError("empty file")
    if fmt == SNIFF:
        if looks_binary(data[:8192]):
            raise ExtractError("binary data, not text")
        fmt = "text"
    reader = _READERS.get(fmt)
    if reader is None:
        raise ValueError(f"unknown format {fmt!r}")
    try:
        result = reader(name, data)
    except ExtractError:
        raise
    except Exception as e:  # any library may fail its own way on a malformed file
        raise ExtractError(f"cannot read this {fmt} file: {_reason(e)}") from e
    if not result.sections:
        raise ExtractError("no text in this file")
    return result


def _reason(e: BaseException) -> str:
    message = e.args[0] if isinstance(e, KeyError) and e.args else e  # KeyError str() quotes
    lines = str(message).strip().splitlines()
    return lines[0][:200] if lines else type(e).__name__


Pairs = list[tuple[tuple[str, ...], str]]  # (heading path, paragraph) in document order


def _sections(pairs: Iterable[tuple[tuple[str, ...], str]]) -> list[Section]:
    """Paragraphs under the same heading path, consecutive in the document, as one section."""
    grouped: list[tuple[tuple[str, ...], list[str]]] = []
    for heading, paragraph in pairs:
        paragraph = paragraph.rstrip().lstrip("\n")
        if not paragraph.strip():
            continue
        if grouped and grouped[-1][0] == heading:
            grouped[-1][1].append(paragraph)
        else:
            grouped.append((heading, [paragraph]))
    return [Section(heading, "\n\n".join(paragraphs)) for heading, paragraphs in grouped]


_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")


def _paragraphs(text: str) -> list[str]:
    """Blocks between blank lines, trailing spaces dropped, indentation kept (code)."""
    blocks = ("\n".join(line.rstrip() for line in b.split("\n")) for b in _BLANK_LINES.split(text))
    return [block.strip("\n") for block in blocks if block.strip()]


def _nest(stack: list[tuple[int, str]], level: int, title: str) -> list[tuple[int, str]]:
    """The heading stack after a heading of `level`: deeper or equal levels close."""
    return [(lv, t) for lv, t in stack if lv < level] + [(level, title)]


def _path(stack: list[tuple[int, str]]) -> tuple[str, ...]:
    return tuple(title for _, title in stack)


def _read_plain(fmt: str, data: bytes) -> Extracted:
    text, encoding = decode_text(data)
    return Extracted(fmt, _sections(((), p) for p in _paragraphs(text)), None, encoding)


# Markdown ------------------------------------------------------------------------------------

_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
_FRONT_TITLE = re.compile(r"^title\s*[:=]\s*(.+?)\s*$", re.M)


def _read_markdown(name: str, data: bytes) -> Extracted:
    text, encoding = decode_text(data)
    lines = text.split("\n")
    title = _strip_front_matter(lines)
    tokens = _MARKDOWN.parse("\n".join(lines))
    stack: list[tuple[int, str]] = []
    pairs: Pairs = []
    first_h1 = None
    for i, token in enumerate(tokens):
        # Top-level blocks only: the source lines they span keep lists and code as written.
        if token.level != 0 or token.map is None or token.type == "hr":
            continue
        if token.type == "heading_open":
            heading = _inline_text(tokens[i + 1])
            if heading:
                first_h1 = first_h1 or (heading if token.tag == "h1" else None)
                stack = _nest(stack, int(token.tag[1]), heading)
            continue
        start, end = token.map
        pairs.append((_path(stack), "\n".join(line.rstrip() for line in lines[start:end])))
    return Extracted("markdown", _sections(pairs), first_h1 or title, encoding)


def _strip_front_matter(lines: list[str]) -> str | None:
    """Blanks YAML/TOML front matter in place (line numbers stay) and returns its title."""
    if not lines or lines[0].strip() not in ("---", "+++"):
        return None
    fence = lines[0].strip()
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in (fence, "...")), None)
    # A leading '---' is a thematic break unless key: value lines follow it.
    if end is None or not re.match(r"\s*[\w-]+\s*[:=]", lines[1]):
        return None
    match = _FRONT_TITLE.search("\n".join(lines[1:end]))
    lines[: end + 1] = [""] * (end + 1)
    return (match[1].strip("\"'") or None) if match else None


def _inline_text(inline: Token) -> str:
    parts = []
    for child in inline.children or []:
        if child.type in ("text", "code_inline", "image"):  # an image's content is its alt text
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())


# reStructuredText ----------------------------------------------------------------------------

_ADORNMENT = re.compile(r"([!-/:-@\[-`{-~])\1+[ \t]*")  # one punctuation character, repeated


def _read_rst(name: str, data: bytes) -> Extracted:
    text, encoding = decode_text(data)
    lines = text.split("\n")
    styles: list[tuple[str, bool]] = []  # (character, overlined), in order of first use = level
    stack: list[tuple[int, str]] = []
    blocks: list[tuple[tuple[str, ...], list[str]]] = [((), [])]
    i = 0
    while i < len(lines):
        title = _rst_title(lines, i)
        if title:
            heading, style, used = title
            if style not in styles:
                styles.append(style)
            stack = _nest(stack, styles.index(style), heading)
            blocks.append((_path(stack), []))
            i += used
            continue
        transition = (
            _ADORNMENT.fullmatch(lines[i])
            and (i == 0 or not lines[i - 1].strip())
            and (i + 1 == len(lines) or not lines[i + 1].strip())
        )
        if not transition:
            blocks[-1][1].append(lines[i])
        i += 1
    pairs = [(h, p) for h, body in blocks for p in _paragraphs("\n".join(body))]
    first = next((h[0] for h, _ in blocks if h), None)
    return Extracted("rst", _sections(pairs), first, encoding)


def _rst_title(lines: list[str], i: int) -> tuple[str, tuple[str, bool], int] | None:
    """A section title at line i: (text, adornment style, lines used), or None."""
    over = _ADORNMENT.fullmatch(lines[i])
    if over and i + 2 < len(lines):
        text = lines[i + 1].strip()
        under = _ADORNMENT.fullmatch(lines[i + 2])
        if (
            text
            and under
            and under[1] == over[1]
            and not _ADORNMENT.fullmatch(lines[i + 1])
            and len(lines[i + 2].rstrip()) >= len(text)
        ):
            return text, (over[1], True), 3
    line = lines[i]
    if over or not line.strip() or line[0].isspace() or i + 1 >= len(lines):
        return None
    under = _ADORNMENT.fullmatch(lines[i + 1])
    if (
        under
        and len(lines[i + 1].rstrip()) >= len(line.rstrip())
        and (i == 0 or not lines[i - 1].strip())
    ):
        return line.strip(), (under[1], False), 2
    return None


# HTML ----------------------------------------------------------------------------------------

_HTML_PARSER = "lxml" if builder_registry.lookup("lxml") else "html.parser"
_HTML_DROP = ["script", "style", "noscript", "template", "nav", "svg", "head", "title"]
_HTML_BLOCKS = frozenset(
    """address article aside blockquote body caption center dd details dialog
    div dl dt fieldset figcaption figure form hgroup hr html li main menu ol p pre section summary
    table tbody tfoot thead tr ul""".split()
)
_HTML_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_NOT_TEXT = (Comment, Declaration, Doctype, ProcessingInstruction)
_SPACES = re.compile(r"\s+")
_DECLARED_CHARSET = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)|<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)""",
    re.I,
)


def _read_html(name: str, data: bytes) -> Extracted:
    text, encoding = _decode_html(data)
    soup = BeautifulSoup(text, _HTML_PARSER)
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text(" ").split()) if title_tag else ""
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    # A page's header and footer are chrome; an article's header holds its title.
    for tag in soup.find_all(["header", "footer"]):
        if not tag.find_parent(["article", "main", "section"]):
            tag.decompose()
    walker = _HtmlWalker()
    walker.walk(soup)
    walker.flush()
    return Extracted("html", _sections(walker.pairs), title or walker.first_h1, encoding)


def _decode_html(data: bytes) -> tuple[str, str]:
    """Honours a <meta charset> or XML declaration when the bytes agree with it."""
    declared = None if _bom_codec(data) else _DECLARED_CHARSET.search(data[:4096])
    if declared:
        codec = _codec_name((declared[1] or declared[2]).decode("ascii"))
        # Browsers read latin-1 and ascii labels as windows-1252 (WHATWG), and so do we; a
        # UTF-16 label in ASCII-readable bytes is a lie they ignore.
        if codec in ("iso8859-1", "ascii"):
            codec = "cp1252"
        if codec and not codec.startswith("utf-16") and not codec.startswith("utf-32"):
            try:
                text = data.decode("utf-8-sig" if codec == "utf-8" else codec)
            except UnicodeDecodeError:
                pass
            else:
                return _clean(text), codec
    return decode_text(data)


class _HtmlWalker:
    """Block elements become paragraphs, h1-h6 the heading path, inline text runs together."""

    def __init__(self) -> None:
        self.pairs: Pairs = []
        self.stack: list[tuple[int, str]] = []
        self.inline: list[str] = []
        self.first_h1: str | None = None

    def flush(self) -> None:
        lines = (" ".join(line.split()) for line in "".join(self.inline).split("\n"))
        self.inline.clear()
        self.add("\n".join(line for line in lines if line))

    def add(self, paragraph: str) -> None:
        if paragraph.strip():
            self.pairs.append((_path(self.stack), paragraph))

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Tag):
                self.element(child)
            elif isinstance(child, NavigableString) and not isinstance(child, _NOT_TEXT):
                self.inline.append(_SPACES.sub(" ", str(child)))

    def element(self, tag: Tag) -> None:
        if tag.name == "br":
            self.inline.append("\n")
            return
        level = _HTML_HEADINGS.get(tag.name)
        if level is None and tag.name not in _HTML_BLOCKS:
            self.walk(tag)
            return
        self.flush()
        if level is not None:
            heading = " ".join(tag.get_text(" ").split())
            if heading:
                self.first_h1 = self.first_h1 or (heading if level == 1 else None)
                self.stack = _nest(self.stack, level, heading)
        elif tag.name == "pre":  # whitespace is the content here
            self.add("\n".join(line.rstrip() for line in tag.get_text().strip("\n").split("\n")))
        elif tag.name == "tr":
            cells = tag.find_all(["td", "th"], recursive=False)
            self.add(" | ".join(" ".join(cell.get_text(" ").split()) for cell in cells))
        else:
            self.walk(tag)
            self.flush()


# PDF -----------------------------------------------------------------------------------------


def _read_pdf(name: str, data: bytes) -> Extracted:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise ExtractError("encrypted PDF: a password is needed")
        pages = list(reader.pages)
    except ExtractError:
        raise
    except DependencyError as e:
        raise ExtractError(f"encrypted PDF: cannot decrypt ({_reason(e)})") from e
    except Exception as e:
        raise ExtractError(f"damaged PDF: {_reason(e)}") from e
    if not pages:
        raise ExtractError("damaged PDF: no pages found")
    texts: list[str] = []
    failure: Exception | None = None
    for page in pages:
        try:
            texts.append(page.extract_text() or "")
        except Exception as e:  # one bad page should not cost the others
            failure = failure or e
            texts.append("")
    if not any(text.strip() for text in texts):
        if failure is not None:
            raise ExtractError(f"damaged PDF: {_reason(failure)}")
        raise ExtractError("no text in this PDF (scanned pages?)")
    headings = _pdf_headings(reader, len(pages))
    pairs = [
        (headings[number], paragraph)
        for number, text in enumerate(texts)
        for paragraph in _paragraphs(_clean(text))
    ]
    return Extracted("pdf", _sections(pairs), _pdf_title(reader), None)


def _pdf_title(reader: PdfReader) -> str | None:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata else None
    except Exception:  # broken metadata costs only the title
        return None
    return (str(title).strip() or None) if title else None


def _pdf_headings(reader: PdfReader, pages: int) -> list[tuple[str, ...]]:
    """The outline (bookmark) path each page falls under, so a long PDF keeps its chapters; ()
    without an outline. A page starting an entry goes under its first such entry."""
    starts: list[tuple[int, tuple[str, ...]]] = []

    def visit(items: list[Any], parent: tuple[str, ...]) -> None:
        last = parent
        for item in items:
            if isinstance(item, list):  # the children of the entry before it
                visit(item, last)
                continue
            title = " ".join(str(item.title or "").split())
            page = reader.get_destination_page_number(item)
            last = (*parent, title) if title else parent
            if title and page is not None and page >= 0:
                starts.append((page, last))

    try:
        visit(reader.outline, ())
    except Exception:  # a broken outline costs only the headings
        return [()] * pages
    starts.sort(key=lambda start: start[0])  # stable: outline order within a page
    headings: list[tuple[str, ...]] = []
    current: tuple[str, ...] = ()
    for page in range(pages):
        here = [path for number, path in starts if number == page]
        headings.append(here[0] if here else current)
        current = here[-1] if here else current
    return headings


# Word ----------------------------------------------------------------------------------------

_DOCX_HEADING = re.compile(r"Heading ([1-9])$")


def _read_docx(name: str, data: bytes) -> Extracted:
    if data.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE container: Word encrypts .docx into one
        raise ExtractError("Word document is password-protected or in the old .doc format")
    try:
        document = docx.Document(io.BytesIO(data))
        items = list(document.iter_inner_content())
        core_title = (document.core_properties.title or "").strip()
    except zipfile.BadZipFile as e:
        raise ExtractError("damaged Word document: not a zip archive") from e
    except Exception as e:
        raise ExtractError(f"damaged Word document: {_reason(e)}") from e
    stack: list[tuple[int, str]] = []
    pairs: Pairs = []
    titles: dict[int, str] = {}  # first heading per level 0 (Title) and 1
    for item in items:
        if isinstance(item, Table):
            pairs.extend((_path(stack), row) for row in _docx_rows(item))
            continue
        text = item.text.strip()
        style = item.style.name if item.style is not None else ""
        match = _DOCX_HEADING.match(style or "")
        level = 0 if style == "Title" else int(match[1]) if match else None
        if level is None:
            pairs.append((_path(stack), text))
        elif text:
            titles.setdefault(level, text)
            stack = _nest(stack, level, text)
    title = core_title or titles.get(0) or titles.get(1)
    return Extracted("docx", _sections(pairs), title, None)


def _docx_rows(table: Table) -> list[str]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if not cells or text != cells[-1]:  # a merged cell repeats once per grid column
                cells.append(text)
        rows.append(" | ".join(cells))
    return rows


# CSV -----------------------------------------------------------------------------------------


def _read_csv(name: str, data: bytes) -> Extracted:
    text, encoding = decode_text(data)
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    if name.lower().endswith(".tsv"):
        dialect = csv.excel_tab
    else:
        try:
            dialect = csv.Sniffer().sniff(text[:16384], delimiters=",;\t|")
        except csv.Error:
            pass  # one column, or nothing the sniffer can tell: commas
    try:
        rows = [r for r in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in r)]
    except csv.Error as e:
        raise ExtractError(f"damaged CSV: {_reason(e)}") from e
    rows = [[" ".join(cell.split()) for cell in row] for row in rows]
    if len(rows) > 1 and _is_header(rows[0]):
        names = rows[0]
        paragraphs = [
            "; ".join(
                f"{names[i] if i < len(names) else f'column {i + 1}'}: {value}"
                for i, value in enumerate(row)
                if value
            )
            for row in rows[1:]
        ]
    else:
        paragraphs = [" | ".join(row) for row in rows]
    return Extracted("csv", _sections(((), p) for p in paragraphs), None, encoding)


def _is_header(row: list[str]) -> bool:
    """Names, not data: all filled in, all different, none a number. (csv.Sniffer.has_header
    says no to most all-text tables.)"""
    return all(row) and len(set(row)) == len(row) and not any(_is_number(c) for c in row)


_NUMBER = re.compile(r"[-+]?[$€£]?[\d.,]+%?")


def _is_number(value: str) -> bool:
    return bool(_NUMBER.fullmatch(value))


# JSON ----------------------------------------------------------------------------------------

_JSON_NAME = re.compile(r"[A-Za-z_][\w-]*")


def _read_json(name: str, data: bytes) -> Extracted:
    text, encoding = decode_text(data)
    if PurePath(name).suffix.lower() in (".jsonl", ".ndjson"):
        paragraphs = _json_lines_file(text)
    else:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            if e.msg != "Extra data":
                raise ExtractError(_json_error(e, e.lineno)) from e
            paragraphs = _json_lines_file(text)  # JSON Lines under a .json name
        except RecursionError as e:
            raise ExtractError("invalid JSON: nested too deeply") from e
        else:
            if isinstance(value, dict):
                groups = [(_json_key("", k), v) for k, v in value.items()]
            elif isinstance(value, list):
                groups = [(f"[{i}]", v) for i, v in enumerate(value)]
            else:
                groups = [("", value)]
            paragraphs = ["\n".join(_flatten(v, path)) for path, v in groups]
    return Extracted("json", _sections(((), p) for p in paragraphs), None, encoding)


def _json_lines_file(text: str) -> list[str]:
    paragraphs = []
    for index, line in enumerate(text.split("\n")):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise ExtractError(_json_error(e, index + 1)) from e
        except RecursionError as e:
            raise ExtractError(f"invalid JSON: nested too deeply (line {index + 1})") from e
        paragraphs.append("\n".join(_flatten(value, f"[{index}]")))
    return paragraphs


def _json_error(e: json.JSONDecodeError, line: int) -> str:
    return f"invalid JSON: {e.msg} (line {line}, column {e.colno})"


def _json_key(path: str, key: str) -> str:
    if _JSON_NAME.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _flatten(value: Any, path: str) -> list[str]:
    """'path: value' lines, depth first; a loop, not recursion, for deeply nested files."""
    lines = []
    todo: list[tuple[str, Any]] = [(path, value)]
    while todo:
        path, value = todo.pop()
        if isinstance(value, dict) and value:
            todo.extend(reversed([(_json_key(path, k), v) for k, v in value.items()]))
        elif isinstance(value, list) and value:
            todo.extend(reversed([(f"{path}[{i}]", v) for i, v in enumerate(value)]))
        else:
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            lines.append(f"{path}: {shown}" if path else shown)
    return lines


_READERS: dict[str, Callable[[str, bytes], Extracted]] = {
    "text": lambda name, data: _read_plain("text", data),
    "code": lambda name, data: _read_plain("code", data),
    "markdown": _read_markdown,
    "rst": _read_rst,
    "html": _read_html,
    "pdf": _read_pdf,
    "docx": _read_docx,
    "csv": _read_csv,
    "json": _read_json,
}
