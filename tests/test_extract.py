"""Text extraction from real files made by each format's own writer, and what it refuses."""

from __future__ import annotations

import io
import json
import logging
import random
import zipfile

import docx
import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from memo_mlx.errors import MemoError
from memo_mlx.sources.extract import (
    SNIFF,
    Extracted,
    ExtractError,
    Section,
    decode_text,
    extract,
    format_for,
    looks_binary,
)


def make_pdf(outline: bool = True) -> bytes:
    """Two pages with a metadata title and, optionally, bookmarks."""
    pdf = FPDF()
    pdf.set_title("Field Report")
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    if outline:
        pdf.start_section("Findings")
    pdf.multi_cell(0, 10, "The river rose two metres in March.")
    pdf.add_page()
    if outline:
        pdf.start_section("Method")
    pdf.multi_cell(0, 10, "Gauges were read every morning.")
    return bytes(pdf.output())


def encrypt_pdf(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(core_title: str | None = "Quarterly Notes") -> bytes:
    document = docx.Document()
    if core_title:
        document.core_properties.title = core_title
    document.add_heading("Q3 Review", 0)  # the "Title" style
    document.add_paragraph("Intro before any chapter.")
    document.add_heading("Sales", 1)
    document.add_paragraph("Sales went up.")
    document.add_heading("Europe", 2)
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "Region", (0, 1): "Total", (1, 0): "EU", (1, 1): "42"}.items():
        table.cell(row, col).text = text
    document.add_heading("Costs", 1)
    document.add_paragraph("Costs fell.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bytes(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def by_heading(result: Extracted) -> dict[tuple[str, ...], str]:
    return {section.heading: section.text for section in result.sections}


MARKDOWN = """\
---
title: From Front Matter
tags: [notes]
---

Before any heading.

# Guide

Welcome to the guide.

## Install

Run this:

```sh
# not a heading
pip install memo


echo done
```

- one
- two

Setext Section
--------------

Under *setext*.

### Deep `code` heading

Deep text.

# Appendix

The end.
"""


def test_markdown_nested_headings_code_fences_and_front_matter():
    result = extract("guide.md", MARKDOWN.encode())
    assert result.format == "markdown"
    assert result.title == "Guide"
    assert result.encoding == "utf-8"
    assert [s.heading for s in result.sections] == [
        (),
        ("Guide",),
        ("Guide", "Install"),
        ("Guide", "Setext Section"),
        ("Guide", "Setext Section", "Deep code heading"),
        ("Appendix",),
    ]
    sections = by_heading(result)
    assert sections[()] == "Before any heading."  # front matter is neither heading nor text
    fence = "```sh\n# not a heading\npip install memo\n\n\necho done\n```"
    assert sections[("Guide", "Install")] == f"Run this:\n\n{fence}\n\n- one\n- two"
    assert sections[("Guide", "Setext Section")] == "Under *setext*."  # markdown as written
    assert all(not s.text.startswith("#") for s in result.sections)


def test_markdown_title_from_front_matter_without_h1():
    text = "---\ntitle: 'Trip notes'\n---\n\n## Day one\n\nRain.\n"
    result = extract("trip.markdown", text.encode())
    assert result.title == "Trip notes"
    assert result.sections == [Section(("Day one",), "Rain.")]
    # A leading thematic break is not front matter.
    ruled = extract("ruled.md", b"---\n\nJust text.\n\n---\n\nMore.\n")
    assert ruled.sections == [Section((), "Just text.\n\nMore.")]
    assert ruled.title is None


def test_rst_titles_nest_by_order_of_adornment():
    text = """\
==========
User Guide
==========

Opening words.

Installing
----------

Use pip
to install.

From source
~~~~~~~~~~~

Clone it.

----

After a transition.

Using
-----

Run it.
"""
    result = extract("guide.rst", text.encode())
    assert result.format == "rst"
    assert result.title == "User Guide"
    assert by_heading(result) == {
        ("User Guide",): "Opening words.",
        ("User Guide", "Installing"): "Use pip\nto install.",
        ("User Guide", "Installing", "From source"): "Clone it.\n\nAfter a transition.",
        ("User Guide", "Using"): "Run it.",
    }


HTML = """\
<!DOCTYPE html>
<html><head><meta charset="windows-1252"><title>Café   Menu</title>
<style>p { color: red }</style><script>var secret = "not text";</script></head>
<body>
<header>Site banner</header>
<nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<h1>Today</h1>
<p>Coffee costs 3 \u20ac,
   <b>déjà</b> vu.</p>
<div>Loose <span>div</span> text</div>
<h2>Pastries</h2>
<ul><li>Croissant</li><li>Pain au <em>chocolat</em></li></ul>
<pre>  indented
    more</pre>
<table><tr><th>Item</th><th>Price</th></tr><tr><td>Tart</td><td>4</td></tr></table>
<p>Line one<br>Line two</p>
<noscript>Enable JavaScript</noscript><!-- a comment -->
<footer>Copyright</footer>
</body></html>
"""


def test_html_meta_charset_headings_blocks_and_no_chrome():
    result = extract("menu.html", HTML.encode("cp1252"))
    assert result.format == "html"
    assert result.encoding == "cp1252"
    assert result.title == "Café Menu"
    assert by_heading(result) == {
        ("Today",): "Coffee costs 3 €, déjà vu.\n\nLoose div text",
        ("Today", "Pastries"): (
            "Croissant\n\nPain au chocolat\n\n  indented\n    more\n\n"
            "Item | Price\n\nTart | 4\n\nLine one\nLine two"
        ),
    }
    everything = " ".join(s.text for s in result.sections)
    for chrome in ("secret", "color", "Home", "banner", "Enable", "comment", "Copyright"):
        assert chrome not in everything


def test_html_title_falls_back_to_h1_and_article_header_is_kept():
    page = b"<body><header>Site</header><article><header><h1>Post</h1></header><p>Body</p>"
    result = extract("post.htm", page + b"</article><footer>(c)</footer></body>")
    assert result.title == "Post"
    assert result.sections == [Section(("Post",), "Body")]
    assert result.encoding == "utf-8"


def test_pdf_pages_title_and_outline_headings():
    result = extract("report.pdf", make_pdf())
    assert result.format == "pdf"
    assert result.title == "Field Report"
    assert result.encoding is None
    assert result.sections == [
        Section(("Findings",), "The river rose two metres in March."),
        Section(("Method",), "Gauges were read every morning."),
    ]
    plain = extract("report.pdf", make_pdf(outline=False))
    assert plain.sections == [
        Section((), "The river rose two metres in March.\n\nGauges were read every morning.")
    ]


def test_encrypted_pdf_needs_a_password_unless_it_is_empty():
    with pytest.raises(ExtractError, match="encrypted PDF: a password is needed"):
        extract("locked.pdf", encrypt_pdf(make_pdf(), "secret"))
    opened = extract("open.pdf", encrypt_pdf(make_pdf(), ""))
    assert opened.sections[0].text == "The river rose two metres in March."
    assert opened.title == "Field Report"


def test_damaged_and_textless_pdfs(caplog: pytest.LogCaptureFixture):
    real = make_pdf()
    caplog.set_level(logging.WARNING)
    for damaged in (b"%PDF-1.4\n garbage", real[: len(real) // 2], real[:-60]):
        with pytest.raises(ExtractError, match="^damaged PDF: "):
            extract("broken.pdf", damaged)
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]  # no log noise
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 50, 50)  # a drawing and no text, like a scan
    with pytest.raises(ExtractError, match=r"no text in this PDF \(scanned pages\?\)"):
        extract("scan.pdf", bytes(pdf.output()))


def test_docx_headings_tables_and_title():
    result = extract("notes.docx", make_docx())
    assert result.format == "docx"
    assert result.title == "Quarterly Notes"  # core properties first
    assert result.encoding is None
    assert by_heading(result) == {
        ("Q3 Review",): "Intro before any chapter.",
        ("Q3 Review", "Sales"): "Sales went up.",
        ("Q3 Review", "Sales", "Europe"): "Region | Total\n\nEU | 42",
        ("Q3 Review", "Costs"): "Costs fell.",
    }
    assert extract("untitled.docx", make_docx(core_title=None)).title == "Q3 Review"


def test_corrupt_docx():
    with pytest.raises(ExtractError, match="damaged Word document: not a zip archive"):
        extract("bad.docx", random.Random(1).randbytes(2000))
    with pytest.raises(ExtractError, match="damaged Word document: .*Content_Types"):
        extract("empty.docx", zip_bytes({"hello.txt": "hi"}))
    with pytest.raises(ExtractError, match="damaged Word document: "):
        extract("half.docx", make_docx()[:3000])
    # A zip that is a Word package in name only: no word/document.xml.
    types = '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    types += 'content-types"><Default Extension="xml" ContentType="application/xml"/></Types>'
    with pytest.raises(ExtractError, match="damaged Word document: "):
        extract("hollow.docx", zip_bytes({"[Content_Types].xml": types}))
    with pytest.raises(ExtractError, match="password-protected or in the old .doc format"):
        extract("locked.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))


def test_csv_with_header_tsv_and_headerless():
    table = 'Name,City,Age\nAda,London,36\nAlan,,41\n"Hopper, Grace","New\nYork",85\n'
    result = extract("people.csv", table.encode())
    assert result.format == "csv"
    assert result.sections == [
        Section(
            (),
            "Name: Ada; City: London; Age: 36\n\nName: Alan; Age: 41\n\n"
            "Name: Hopper, Grace; City: New York; Age: 85",
        )
    ]
    tsv = extract("notes.tsv", b"word\tmeaning\nbonjour\thello, hi\n")
    assert tsv.sections[0].text == "word: bonjour; meaning: hello, hi"
    semicolons = extract("eu.csv", "Produit;Prix\nCafé;3,50\n".encode("cp1252"))
    assert semicolons.sections[0].text == "Produit: Café; Prix: 3,50"
    assert semicolons.encoding == "cp1252"
    numbers = extract("grid.csv", b"1,2,3\n4,5,6\n")
    assert numbers.sections[0].text == "1 | 2 | 3\n\n4 | 5 | 6"


def test_json_nested_and_json_lines():
    value = {
        "people": [{"name": "Ada", "langs": ["en", "fr"]}, {"name": "Alan", "alive": False}],
        "count": 2,
        "odd key": {"a.b": None},
        "empty": [],
    }
    result = extract("data.json", json.dumps(value, indent=2).encode())
    assert result.format == "json"
    assert result.sections == [
        Section(
            (),
            "people[0].name: Ada\npeople[0].langs[0]: en\npeople[0].langs[1]: fr\n"
            "people[1].name: Alan\npeople[1].alive: false\n\n"
            'count: 2\n\n["odd key"]["a.b"]: null\n\nempty: []',
        )
    ]
    lines = extract("log.jsonl", b'{"event": "start", "n": 1}\n\n{"event": "stop"}\n')
    assert lines.sections[0].text == "[0].event: start\n[0].n: 1\n\n[2].event: stop"
    # JSON Lines saved as .json still reads, one record per line.
    assert extract("log.json", b'{"a": 1}\n{"a": 2}\n').sections[0].text == "[0].a: 1\n\n[1].a: 2"
    assert extract("scalar.json", b'"just text"').sections[0].text == "just text"


def test_invalid_json_says_where():
    with pytest.raises(ExtractError, match=r"invalid JSON: Expecting value \(line 3, column 8\)"):
        extract("bad.json", b'{\n  "a": 1,\n  "b": ,\n}')
    with pytest.raises(ExtractError, match=r"invalid JSON: .*\(line 2, column 7\)"):
        extract("bad.ndjson", b'{"a": 1}\n{"a": }\n')
    with pytest.raises(ExtractError, match="nested too deeply"):
        extract("deep.json", b"[" * 100_000)


def test_empty_and_blank_files():
    for name in ("empty.txt", "empty.pdf", "empty.docx", "empty.json", "empty.md", "x.unknown"):
        with pytest.raises(ExtractError, match="^empty file$"):
            extract(name, b"")
    with pytest.raises(ExtractError, match="no text in this file"):
        extract("blank.txt", b"  \n\n\t\n")
    with pytest.raises(ExtractError, match="no text in this file"):
        extract("blank.html", b"<html><script>x()</script></html>")


def test_text_and_code_paragraphs_keep_indentation():
    source = b"def f():\r\n    return 1\r\n\r\n\r\n\r\nclass A:\r\n    pass   \r\n"
    result = extract("mod.py", source)
    assert result == Extracted(
        "code", [Section((), "def f():\n    return 1\n\nclass A:\n    pass")], None, "utf-8"
    )
    text = extract("Makefile", b"all:\n\tcc main.c\n\n\nclean:\n\trm -f a.out\n")
    assert text.format == "text"
    assert text.sections[0].text == "all:\n\tcc main.c\n\nclean:\n\trm -f a.out"


def test_unknown_files_are_sniffed():
    assert format_for("notes.xyz") == SNIFF
    assert extract("notes.xyz", b"plain words\n").sections == [Section((), "plain words")]
    assert extract("notes.xyz", b"plain words\n", fmt="text").format == "text"
    with pytest.raises(ExtractError, match="binary data, not text"):
        extract("blob.xyz", b"\x00\x01\x02binary")
    with pytest.raises(ExtractError, match="not a text format"):
        extract("photo.jpg", b"\xff\xd8\xff\xe0")


def test_decode_text_encodings():
    cp1252 = "Le café coûte 3 € — déjà vu.\r\nNaïve résumé.\r\n".encode("cp1252")
    assert decode_text(cp1252) == ("Le café coûte 3 € — déjà vu.\nNaïve résumé.\n", "cp1252")
    assert decode_text("Grüße\r\naus Köln".encode("utf-16")) == ("Grüße\naus Köln", "utf-16")
    assert decode_text("naïve".encode("utf-32")) == ("naïve", "utf-32")
    assert decode_text(b"\xef\xbb\xbfwith BOM\rold mac") == ("with BOM\nold mac", "utf-8")
    # UTF-8 with a few stray Latin-1 bytes pasted in: both halves survive.
    mixed = "Grüße aus Köln — naïve.\n".encode() + b"Caf\xe9 cr\xe8me br\xfbl\xe9e\n"
    assert decode_text(mixed) == ("Grüße aus Köln — naïve.\nCafé crème brûlée\n", "utf-8")
    # Latin-1 only: decoded, not dropped.
    latin = "Müller, Straße 5, Zürich. Ça va très bien, señor.\n".encode("latin-1")
    assert decode_text(latin)[0] == "Müller, Straße 5, Zürich. Ça va très bien, señor.\n"
    text, encoding = decode_text(b"odd \x81\x8d\x9d bytes")  # undefined even in cp1252
    assert text.startswith("odd ") and text.endswith(" bytes") and encoding
    assert extract("old.txt", cp1252).encoding == "cp1252"


def test_looks_binary():
    assert looks_binary(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00")
    assert looks_binary(b"text with a \x00 NUL byte")
    assert looks_binary(bytes(range(1, 32)) * 20)  # control bytes, no NUL
    assert not looks_binary("Grüße, naïve café\n\ttabbed\r\n".encode())
    assert not looks_binary("UTF-16 with a BOM".encode("utf-16"))
    assert not looks_binary("UTF-32 too".encode("utf-32"))
    assert not looks_binary(b"\x1b[31mcoloured log\x1b[0m\n")
    assert not looks_binary(b"")


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("photo.JPG", None),
        ("scan.heic", None),
        ("song.mp3", None),
        ("film.mov", None),
        ("backup.tar.gz", None),
        ("app.exe", None),
        ("font.woff2", None),
        ("mail.sqlite", None),
        ("sheet.xlsx", None),
        ("slides.pptx", None),
        ("old.doc", None),
        ("mod.pyc", None),
        (".DS_Store", None),
        ("notes.MD", "markdown"),
        ("post.markdown", "markdown"),
        ("guide.rst", "rst"),
        ("page.HTM", "html"),
        ("C:\\Users\\ada\\Page.xhtml", "html"),
        ("paper.pdf", "pdf"),
        ("letter.docx", "docx"),
        ("table.csv", "csv"),
        ("table.tsv", "csv"),
        ("data.json", "json"),
        ("events.jsonl", "json"),
        ("notes.txt", "text"),
        ("server.log", "text"),
        ("Makefile", "text"),
        ("Dockerfile", "text"),
        ("README", "text"),
        ("LICENSE", "text"),
        ("main.py", "code"),
        ("app.tsx", "code"),
        ("lib.rs", "code"),
        ("query.sql", "code"),
        ("config.yaml", "code"),
        ("paper.tex", "code"),
        ("src/style.scss", "code"),
        ("data.xyz", SNIFF),
        ("notes", SNIFF),
        (".bashrc", SNIFF),
    ],
)
def test_format_for(name: str, fmt: str | None):
    assert format_for(name) == fmt


def test_only_extract_error_escapes_bad_input():
    """Every reader, fed garbage and damaged real files, fails as ExtractError or succeeds."""
    rng = random.Random(7)
    real = {
        "pdf": make_pdf(),
        "docx": make_docx(),
        "html": HTML.encode("cp1252"),
        "markdown": MARKDOWN.encode(),
        "json": b'{"a": [1, 2, {"b": "c"}]}',
        "csv": b'a,b\n1,"2\n',
    }
    payloads = [rng.randbytes(600), b"\x00" * 64, b"\xff\xfe", b"<<<>>>", b"%PDF-1.7\n%%EOF"]
    for data in real.values():
        for _ in range(12):  # flip a few bytes, or cut the file short
            damaged = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            payloads += [bytes(damaged), data[: rng.randrange(1, len(data))]]
    for fmt in ("text", "markdown", "rst", "html", "pdf", "docx", "csv", "json", "code"):
        for data in payloads:
            try:
                result = extract(f"file.{fmt}", data, fmt=fmt)
            except ExtractError as e:
                assert isinstance(e, MemoError) and str(e) and "\n" not in str(e)
            else:
                assert result.sections and all(s.text for s in result.sections)
