"""Make MeMo's app icons from resources/icons/memo.svg.

Writes, next to the SVG:

- ``memo.icns`` for the macOS bundle (the spec's ``BUNDLE(icon=...)``),
- ``memo.ico`` for a Windows-style build (optional; nothing in the project needs it yet),
- ``memo.png`` at 512 px for Linux desktops and the window icon.

The SVG is drawn with Qt's own SVG renderer (QSvgRenderer, offscreen: no display needed) at
each size from 16 to 1024 px, so small sizes are drawn sharp rather than shrunk from a big
bitmap; Pillow packs the bitmaps into .icns and .ico. The outputs are committed, so building
the app needs neither this script nor Pillow: run it again only when memo.svg changes.

    .venv/bin/python packaging/icons.py            # needs `pip install pillow` (the dev extra)

On macOS the .icns keeps the margin of Apple's icon grid (the rounded square is 824 of 1024
px, centred), so MeMo is not drawn larger than the other icons in the Dock; the .png and .ico
fill their canvas like the SVG does.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

ICON_DIR = Path(__file__).resolve().parent.parent / "resources" / "icons"
SIZES = (16, 32, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # the .ico format stops at 256
PNG_SIZE = 512
# Apple's macOS icon grid: a 1024 px canvas whose rounded square is 824 px wide.
MACOS_BODY = 824 / 1024


def _qt():
    """The Qt classes used here, with an offscreen platform so no display is needed."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([])
    return app, QBuffer, QByteArray, QIODevice, QRectF, QImage, QPainter, QSvgRenderer


def render(svg: Path, size: int, body: float = 1.0):
    """The SVG drawn on a transparent size x size canvas, as a Pillow RGBA image.

    ``body`` is the share of the canvas that the SVG's own drawing (its rounded square,
    which fills 240/256 of its view box) should take; 1.0 draws the view box edge to edge.
    """
    from PIL import Image

    _app, QBuffer, QByteArray, QIODevice, QRectF, QImage, QPainter, QSvgRenderer = _qt()
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"error: {svg} is not an SVG that Qt can draw")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    # The SVG's square is 240 of its 256 view box; scale so that square spans `body`.
    box = size * body * (256 / 240) if body < 1.0 else size
    offset = (size - box) / 2
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(offset, offset, box, box))
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return Image.open(io.BytesIO(bytes(data))).convert("RGBA")


def build(svg: Path, out_dir: Path, ico: bool = True) -> list[Path]:
    """Write memo.icns, memo.png (and memo.ico) into out_dir; return the paths written."""
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise SystemExit(
            "error: packaging/icons.py needs Pillow to write .icns/.ico: "
            ".venv/bin/python -m pip install pillow (it is in the dev extra)"
        ) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    mac = {size: render(svg, size, MACOS_BODY) for size in SIZES}
    icns = out_dir / "memo.icns"
    # Pillow writes the 32..1024 px entries (ic11..ic10), taking each from append_images
    # where one of that width is given, so every size is a sharp rendering of its own.
    mac[1024].save(icns, format="ICNS", append_images=[mac[s] for s in SIZES if s != 1024])
    written.append(icns)

    full = {size: render(svg, size) for size in sorted(set(SIZES) | set(ICO_SIZES))}
    png = out_dir / "memo.png"
    full[PNG_SIZE].save(png, format="PNG", optimize=True)
    written.append(png)

    if ico:
        path = out_dir / "memo.ico"
        full[256].save(
            path,
            format="ICO",
            sizes=[(s, s) for s in ICO_SIZES],
            append_images=[full[s] for s in ICO_SIZES if s != 256],
        )
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--svg", type=Path, default=ICON_DIR / "memo.svg")
    parser.add_argument("--out-dir", type=Path, default=ICON_DIR)
    parser.add_argument("--no-ico", action="store_true", help="skip the Windows .ico")
    args = parser.parse_args(argv)
    if not args.svg.is_file():
        print(f"error: no SVG at {args.svg}", file=sys.stderr)
        return 2
    for path in build(args.svg, args.out_dir, ico=not args.no_ico):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
