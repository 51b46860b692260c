"""A corpus of hostile and odd inputs for `python -m deepcolor.apply`, in one folder.

`make_corpus(folder)` writes every case and returns a `Corpus` saying what
each entry is: ``good`` (must be colorized), ``bad`` (must be listed once as
a failure, with a one-line reason), ``ignored`` (not an image by its name, or
hidden: never listed, never touched). The numbers in ``Case.issue`` refer to
the defects of issue 9 that the case reproduces (0: a plain robustness case).

Run it by hand to look at the files::

    python tests/hostile_corpus.py /tmp/corpus
"""

from __future__ import annotations

import os
import stat
import struct
import sys
import zlib
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["Case", "Corpus", "make_corpus", "ESCAPE_NAME", "NEWLINE_NAME", "write_manifest_not_utf8", "STALE_TEMP_NAME"]

ESCAPE_NAME = "evil\033[2J.jpg"  # an escape code that would clear the terminal
NEWLINE_NAME = "forged\n  other.jpg: fake failure.jpg"  # a newline that would forge a failure line
STALE_TEMP_NAME = ".good_gray.1a2b3c4d.tmp.jpg"  # what a kill -9 during a write leaves behind


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "good" | "bad" | "ignored"
    note: str
    issue: tuple[int, ...] = (0,)


@dataclass
class Corpus:
    folder: Path
    cases: list[Case] = field(default_factory=list)

    def names(self, kind: str) -> list[str]:
        return sorted(c.name for c in self.cases if c.kind == kind)

    @property
    def issues(self) -> set[int]:
        return {i for c in self.cases for i in c.issue}


def _scene(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth gray scene with a few edges, uint8 (H, W)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 0.5 + 0.3 * np.sin(x / max(w, 1) * 6.0 + seed) * np.cos(y / max(h, 1) * 4.0)
    img[h // 3 : h // 2, w // 4 : w // 2] += 0.2
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def _jpeg_bytes(arr: np.ndarray, **options) -> bytes:
    buf = BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90, **options)
    return buf.getvalue()


def _png_bytes(im: Image.Image) -> bytes:
    buf = BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_header_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny file whose header claims a gigantic gray image (a decompression bomb's shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4)  # four rows; a decoder would want many more
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def write_manifest_not_utf8(path: Path) -> Path:
    """A manifest in Latin-1 (``caf\\xe9.jpg``), which a UTF-8 reader cannot decode."""
    path.write_bytes(b"# photos\ncaf\xe9.jpg\n")
    return path


def make_corpus(folder: str | os.PathLike, *, large: bool = True) -> Corpus:
    """Write the corpus into ``folder`` (created; must be empty or missing).

    ``large`` adds a 1100 x 1300 image, above the default tile size, so the
    tiled path runs too.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(folder)

    def add(name: str, kind: str, note: str, data: bytes | None = None, issue: tuple[int, ...] = (0,)) -> Path:
        path = folder / name
        if data is not None:
            path.write_bytes(data)
        corpus.cases.append(Case(name, kind, note, issue))
        return path

    gray = _scene(96, 128, 0)
    colour = np.dstack([_scene(96, 128, s) for s in (1, 2, 3)])

    # -- good: odd formats that must be colorized ---------------------------------
    add("good_gray.jpg", "good", "plain 8-bit gray JPEG", _jpeg_bytes(gray))
    add("good_colour.jpg", "good", "colour JPEG, reduced to its luma", _jpeg_bytes(colour))
    add("gray16.png", "good", "16-bit gray PNG", _png_bytes(Image.fromarray(gray.astype(np.uint16) * 257)))
    pal = Image.fromarray(colour).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    add("palette.png", "good", "palette PNG", _png_bytes(pal))
    cmyk = BytesIO()
    Image.fromarray(colour).convert("CMYK").save(cmyk, format="JPEG", quality=90)
    add("cmyk.jpg", "good", "CMYK JPEG", cmyk.getvalue())
    add("bilevel.png", "good", "1-bit PNG", _png_bytes(Image.fromarray(gray > 128)))
    bilevel_tif = BytesIO()
    Image.fromarray(gray > 100).save(bilevel_tif, format="TIFF")
    add("bilevel.tif", "good", "1-bit TIFF", bilevel_tif.getvalue())
    alpha = np.linspace(0, 255, gray.size).reshape(gray.shape).astype(np.uint8)
    add("alpha_la.png", "good", "gray + alpha PNG", _png_bytes(Image.fromarray(np.dstack([gray, alpha]), mode="LA")))
    add("alpha_rgba.png", "good", "RGBA PNG", _png_bytes(Image.fromarray(np.dstack([colour, alpha]), mode="RGBA")))
    exif = Image.Exif()
    exif[0x0112] = 6
    add("exif_rotated.jpg", "good", "EXIF orientation 6", _jpeg_bytes(gray, exif=exif.tobytes()))
    add("one_pixel.png", "good", "a 1x1 image", _png_bytes(Image.fromarray(np.full((1, 1), 90, np.uint8))))
    add("png_named.jpg", "good", "PNG content named .jpg: read by content", _png_bytes(Image.fromarray(gray)))
    add("holiday_colorized.jpg", "good", "a photo of one's own named *_colorized.jpg", _jpeg_bytes(_scene(64, 80, 7)), (9,))
    add("street.jpg", "good", "a photo beside a file named like its semantic map", _jpeg_bytes(_scene(64, 80, 8)), (1,))
    add("street.semantic.png", "good", "a photo named *.semantic.png beside street.jpg", _png_bytes(Image.fromarray(_scene(64, 80, 9))), (1,))
    if large:
        add("large_tiled.png", "good", "above the tile size: colorized in tiles", _png_bytes(Image.fromarray(_scene(1100, 1300, 4))), (3,))

    # -- bad: one line each ------------------------------------------------------
    jpeg = _jpeg_bytes(gray)
    add("truncated.jpg", "bad", "JPEG cut in half", jpeg[: len(jpeg) // 2])
    png = _png_bytes(Image.fromarray(gray))
    add("truncated.png", "bad", "PNG cut in half", png[: len(png) // 2])
    add("empty.jpg", "bad", "zero bytes", b"")
    add("text.jpg", "bad", "a text file named .jpg", b"this is not a photograph\n")
    add("huge_header.png", "bad", "header claims 100000 x 100000 pixels", huge_header_png(), (3,))
    float_tif = BytesIO()
    Image.fromarray(np.full((8, 8), 3.5, np.float32), mode="F").save(float_tif, format="TIFF")
    add("float_out_of_range.tif", "bad", "32-bit float samples outside [0, 1]", float_tif.getvalue())
    os.symlink("loopB.jpg", folder / "loopA.jpg")
    os.symlink("loopA.jpg", folder / "loopB.jpg")
    add("loopA.jpg", "bad", "symlink loop", issue=(2,))
    add("loopB.jpg", "bad", "symlink loop", issue=(2,))
    os.symlink("missing_target.jpg", folder / "dangling.jpg")
    add("dangling.jpg", "bad", "symlink to nothing", issue=(2,))
    os.mkfifo(folder / "fifo.jpg")
    add("fifo.jpg", "bad", "a FIFO named .jpg (must not block, must not say 'no such file')", issue=(9,))
    add(ESCAPE_NAME, "bad", "escape code in the name", b"junk", (4,))
    add(NEWLINE_NAME, "bad", "newline in the name", b"junk", (4,))
    if os.geteuid() != 0:  # root reads anything
        path = add("unreadable.jpg", "bad", "no read permission", jpeg)
        path.chmod(0)

    # -- ignored: never listed, never touched ----------------------------------------
    add("notes.txt", "ignored", "not an image extension", b"hello\n")
    add("anim.gif", "ignored", "unsupported format", b"GIF89a")
    add(".hidden.jpg", "ignored", "hidden file", jpeg)
    (folder / "folder.jpg").mkdir()
    add("folder.jpg", "ignored", "a folder with an image extension")
    write_manifest_not_utf8(folder / "manifest_latin1.txt")
    add("manifest_latin1.txt", "ignored", "a manifest that is not UTF-8 (for evaluate/fit)", issue=(9,))
    return corpus


def snapshot(folder: Path) -> dict[str, tuple[str, bytes | None]]:
    """Every entry of a folder (not following links): its type and, for regular files, its bytes' hash."""
    import hashlib

    state = {}
    for entry in sorted(os.listdir(folder)):
        path = folder / entry
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest().encode()
            except PermissionError:
                digest = f"{st.st_size}:{st.st_mtime_ns}".encode()
            state[entry] = ("file", digest)
        elif stat.S_ISLNK(st.st_mode):
            state[entry] = ("link", os.readlink(path).encode())
        else:
            state[entry] = ("fifo" if stat.S_ISFIFO(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode) else "other", None)
    return state


if __name__ == "__main__":
    made = make_corpus(sys.argv[1] if len(sys.argv) > 1 else "hostile_corpus")
    for case in made.cases:
        print(f"{case.kind:8s} {case.name!r:45s} {case.note}")
