"""Tests for deepcolor.io: every mode reads right, every odd input fails in one line, writes are atomic."""

from __future__ import annotations

import io as pyio
import itertools
import logging
import os
import pickle
import struct
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageFile, ImageOps

from deepcolor import io as dio
from deepcolor.io import (
    ImageReadError,
    ImageWriteError,
    ensure_not_input,
    is_image_path,
    list_images,
    output_paths,
    read_image,
    write_image,
)

H, W = 6, 9
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def rng_u8(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def rng_u16(shape, seed=0):
    """16-bit samples that are mostly NOT multiples of 257 (so 8-bit paths would lose them)."""
    a = np.random.default_rng(seed).integers(0, 65536, shape, dtype=np.uint16)
    assert (a % 257 != 0).mean() > 0.9
    return a


def png_bytes(samples: np.ndarray, color_type: int, *, exif: bytes | None = None) -> bytes:
    """A minimal 16-bit PNG (Pillow cannot write 16-bit colour or gray+alpha), optional eXIf chunk."""
    h, w = samples.shape[:2]
    rows = samples.reshape(h, -1).astype(">u2")
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
    if exif is not None:
        out += chunk(b"eXIf", exif)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def exif_with_orientation(orientation: int) -> Image.Exif:
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex


def assert_one_line(err: BaseException, name: str) -> None:
    text = str(err)
    assert "\n" not in text and "\r" not in text, text
    assert name in text, text


# --------------------------------------------------------------------------- modes


def _pil_file(tmp_path: Path, name: str, im: Image.Image, **save) -> Path:
    p = tmp_path / name
    im.save(p, **save)
    return p


def test_gray_l_png_exact(tmp_path):
    """L PNG -> (H, W) float32 gray, exact /255, bit depth 8, no alpha."""
    a = rng_u8((H, W))
    r = read_image(_pil_file(tmp_path, "g.png", Image.fromarray(a)))
    assert r.pixels.shape == (H, W) and r.pixels.dtype == np.float32
    np.testing.assert_allclose(r.pixels, a / 255.0, atol=1e-7)
    assert r.is_gray and r.bit_depth == 8 and r.alpha is None and r.path == tmp_path / "g.png"


def test_la_png_alpha_kept(tmp_path):
    """LA PNG -> gray pixels and its alpha in [0, 1]."""
    g, al = rng_u8((H, W), 1), rng_u8((H, W), 2)
    r = read_image(_pil_file(tmp_path, "la.png", Image.fromarray(np.dstack([g, al]), mode="LA")))
    np.testing.assert_allclose(r.pixels, g / 255.0, atol=1e-7)
    np.testing.assert_allclose(r.alpha, al / 255.0, atol=1e-7)
    assert r.is_gray and r.alpha.dtype == np.float32


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp", ".webp"])
def test_rgb_exact_and_channel_order(tmp_path, ext):
    """Lossless RGB files come back exactly, in R, G, B order."""
    a = rng_u8((H, W, 3), 3)
    a[0, 0] = (255, 0, 0)
    save = {"lossless": True} if ext == ".webp" else {}
    r = read_image(_pil_file(tmp_path, "c" + ext, Image.fromarray(a), **save))
    assert r.pixels.shape == (H, W, 3) and not r.is_gray and r.bit_depth == 8
    np.testing.assert_allclose(r.pixels, a / 255.0, atol=1e-7)
    np.testing.assert_array_equal(r.pixels[0, 0], [1, 0, 0])


def test_rgba_png_alpha_kept(tmp_path):
    """RGBA PNG -> RGB pixels plus alpha."""
    a = rng_u8((H, W, 4), 4)
    r = read_image(_pil_file(tmp_path, "c.png", Image.fromarray(a, mode="RGBA")))
    np.testing.assert_allclose(r.pixels, a[..., :3] / 255.0, atol=1e-7)
    np.testing.assert_allclose(r.alpha, a[..., 3] / 255.0, atol=1e-7)


def test_rgb_with_equal_channels_is_gray(tmp_path):
    """An RGB file with R == G == B everywhere is reported gray, 2-D."""
    g = rng_u8((H, W), 5)
    r = read_image(_pil_file(tmp_path, "g.png", Image.fromarray(np.dstack([g, g, g]))))
    assert r.is_gray and r.pixels.shape == (H, W)
    np.testing.assert_allclose(r.pixels, g / 255.0, atol=1e-7)
    g2 = np.dstack([g, g, g])
    g2[2, 3, 1] ^= 1  # one sample off -> colour
    assert not read_image(_pil_file(tmp_path, "c.png", Image.fromarray(g2))).is_gray


def _palette_image(colors: np.ndarray, index: np.ndarray) -> Image.Image:
    im = Image.fromarray(index.astype(np.uint8), mode="P")
    im.putpalette(colors.astype(np.uint8).ravel().tolist())
    return im


def test_palette_rgb(tmp_path):
    """P (palette) PNG without transparency -> the palette colours, no alpha."""
    colors = np.array([[255, 0, 0], [0, 128, 255], [10, 20, 30]])
    index = np.random.default_rng(6).integers(0, 3, (H, W))
    r = read_image(_pil_file(tmp_path, "p.png", _palette_image(colors, index)))
    assert r.alpha is None and r.pixels.shape == (H, W, 3)
    np.testing.assert_allclose(r.pixels, colors[index] / 255.0, atol=1e-7)


def test_palette_with_transparency(tmp_path):
    """P PNG with a transparent index -> alpha 0 exactly there, 1 elsewhere."""
    colors = np.array([[255, 0, 0], [0, 128, 255], [10, 20, 30]])
    index = np.random.default_rng(7).integers(0, 3, (H, W))
    r = read_image(_pil_file(tmp_path, "p.png", _palette_image(colors, index), transparency=1))
    np.testing.assert_array_equal(r.alpha, (index != 1).astype(np.float32))


def test_gray_palette_is_gray(tmp_path):
    """A palette of grays gives a 2-D gray image."""
    colors = np.array([[0, 0, 0], [90, 90, 90], [255, 255, 255]])
    index = np.random.default_rng(8).integers(0, 3, (H, W))
    r = read_image(_pil_file(tmp_path, "p.png", _palette_image(colors, index)))
    assert r.is_gray
    np.testing.assert_allclose(r.pixels, colors[index, 0] / 255.0, atol=1e-7)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_trns_colour_transparency(tmp_path, mode):
    """L/RGB PNG with a tRNS transparent colour -> alpha 0 exactly on that colour."""
    a = rng_u8((H, W) if mode == "L" else (H, W, 3), 9)
    key = a[1, 2] if mode == "L" else tuple(int(v) for v in a[1, 2])
    p = _pil_file(tmp_path, "t.png", Image.fromarray(a), transparency=int(key) if mode == "L" else key)
    r = read_image(p)
    expect = (a != key) if mode == "L" else np.any(a != np.array(key), axis=2)
    np.testing.assert_array_equal(r.alpha, expect.astype(np.float32))


def test_bilevel(tmp_path):
    """Mode 1 -> gray 0/1 values, 8-bit."""
    a = np.random.default_rng(10).random((H, W)) > 0.5
    r = read_image(_pil_file(tmp_path, "b.png", Image.fromarray(a)))
    assert r.is_gray and r.bit_depth == 8
    np.testing.assert_array_equal(r.pixels, a.astype(np.float32))


def test_cmyk_tiff_converted(tmp_path):
    """CMYK TIFF -> RGB as Pillow converts it."""
    cmyk = Image.fromarray(rng_u8((H, W, 4), 11), mode="CMYK")
    r = read_image(_pil_file(tmp_path, "k.tif", cmyk))
    np.testing.assert_allclose(r.pixels, np.asarray(cmyk.convert("RGB")) / 255.0, atol=1e-7)


def test_cmyk_jpeg(tmp_path):
    """CMYK JPEG (Adobe, inverted) -> RGB close to the source colours."""
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[:, :16] = (200, 40, 40)
    rgb[:, 16:] = (30, 60, 220)
    p = _pil_file(tmp_path, "k.jpg", Image.fromarray(rgb).convert("CMYK"), quality=95)
    with Image.open(p) as im:
        assert im.mode == "CMYK"
    r = read_image(p)
    assert r.pixels.shape == (32, 32, 3) and r.bit_depth == 8
    np.testing.assert_allclose(r.pixels[8, 4], np.array([200, 40, 40]) / 255, atol=0.05)
    np.testing.assert_allclose(r.pixels[8, 28], np.array([30, 60, 220]) / 255, atol=0.05)


def test_ycbcr_jpeg_and_tiff(tmp_path):
    """YCbCr JPEG (the usual kind) and YCbCr-mode TIFF -> RGB."""
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[...] = (180, 90, 30)
    r = read_image(_pil_file(tmp_path, "y.jpg", Image.fromarray(rgb), quality=95))
    np.testing.assert_allclose(r.pixels[8, 8], np.array([180, 90, 30]) / 255, atol=0.03)
    ycc = Image.fromarray(rng_u8((H, W, 3), 12)).convert("YCbCr")
    r = read_image(_pil_file(tmp_path, "y.tif", ycc))
    np.testing.assert_allclose(r.pixels, np.asarray(ycc.convert("RGB")) / 255.0, atol=1e-7)


def test_gray_jpeg_is_gray(tmp_path):
    """A gray JPEG reads as 2-D gray."""
    r = read_image(_pil_file(tmp_path, "g.jpg", Image.fromarray(rng_u8((H, W), 13))))
    assert r.is_gray and r.pixels.shape == (H, W)


@pytest.mark.parametrize("mode,ext", [("I;16", ".png"), ("I;16", ".tif"), ("I;16B", ".tif")])
def test_16bit_gray_keeps_precision(tmp_path, mode, ext):
    """16-bit gray PNG/TIFF -> bit_depth 16, values exact to 1/65535."""
    a = rng_u16((H, W), 14)
    im = Image.frombytes(mode, (W, H), a.astype(">u2" if mode == "I;16B" else "<u2").tobytes())
    r = read_image(_pil_file(tmp_path, "g" + ext, im))
    assert r.bit_depth == 16 and r.is_gray
    np.testing.assert_array_equal(np.rint(r.pixels * 65535).astype(np.uint16), a)


def test_int32_tiff(tmp_path):
    """Mode I TIFF -> 16-bit gray scale, values clipped to [0, 65535]."""
    a = rng_u16((H, W), 15).astype(np.int32)
    a[0, 0] = 70000
    r = read_image(_pil_file(tmp_path, "i.tif", Image.fromarray(a)))
    assert r.bit_depth == 16 and r.pixels.max() == 1.0
    np.testing.assert_allclose(r.pixels[1:], a[1:] / 65535.0, atol=1e-7)


def test_float_tiff(tmp_path):
    """Mode F TIFF in [0, 1] is read as is; outside [0, 1] is a one-line error."""
    a = np.random.default_rng(16).random((H, W)).astype(np.float32)
    r = read_image(_pil_file(tmp_path, "f.tif", Image.fromarray(a)))
    np.testing.assert_array_equal(r.pixels, a)
    assert r.is_gray and r.bit_depth == 16
    p = _pil_file(tmp_path, "f255.tif", Image.fromarray(a * 255))
    with pytest.raises(ImageReadError) as exc:
        read_image(p)
    assert_one_line(exc.value, "f255.tif")


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_colour_keeps_precision_and_order(tmp_path, ext, channels):
    """16-bit RGB(A) PNG/TIFF (OpenCV path) -> exact 16-bit values, RGB order, alpha separate."""
    a = rng_u16((H, W, channels), 17)
    p = tmp_path / f"c{ext}"
    if ext == ".png":
        p.write_bytes(png_bytes(a, 2 if channels == 3 else 6))
    else:
        tifffile.imwrite(p, a, photometric="rgb", extrasamples=("unassalpha",) if channels == 4 else None)
    r = read_image(p)
    assert r.bit_depth == 16 and not r.is_gray and r.pixels.shape == (H, W, 3)
    np.testing.assert_array_equal(np.rint(r.pixels * 65535).astype(np.uint16), a[..., :3])
    if channels == 4:
        np.testing.assert_array_equal(np.rint(r.alpha * 65535).astype(np.uint16), a[..., 3])
    else:
        assert r.alpha is None


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_gray_alpha(tmp_path, ext):
    """16-bit gray+alpha PNG (OpenCV path) and TIFF (tifffile path; Pillow can't open it) -> exact."""
    a = rng_u16((H, W, 2), 18)
    p = tmp_path / f"ga{ext}"
    if ext == ".png":
        p.write_bytes(png_bytes(a, 4))
    else:
        tifffile.imwrite(p, a, photometric="minisblack", extrasamples=("unassalpha",))
    r = read_image(p)
    assert r.is_gray and r.bit_depth == 16 and r.pixels.shape == (H, W)
    np.testing.assert_array_equal(np.rint(r.pixels * 65535).astype(np.uint16), a[..., 0])
    np.testing.assert_array_equal(np.rint(r.alpha * 65535).astype(np.uint16), a[..., 1])


def test_planar_16bit_tiff(tmp_path):
    """16-bit RGB TIFF stored plane by plane comes back pixel-interleaved and exact."""
    a = rng_u16((H, W, 3), 19)
    p = tmp_path / "planar.tif"
    tifffile.imwrite(p, np.moveaxis(a, -1, 0), photometric="rgb", planarconfig="separate")
    r = read_image(p)
    np.testing.assert_array_equal(np.rint(r.pixels * 65535).astype(np.uint16), a)


def test_lzw_16bit_tiff_via_opencv(tmp_path, monkeypatch):
    """16-bit RGB LZW TIFF (tifffile lacks the codec here) is decoded by OpenCV, exactly and in RGB order."""
    a = rng_u16((H, W, 3), 28)
    p = tmp_path / "lzw.tif"
    assert cv2.imwrite(str(p), a[..., ::-1])  # OpenCV writes LZW, pixel-interleaved
    with tifffile.TiffFile(p) as tif:
        assert tif.pages[0].compression.name == "LZW"
    r = read_image(p)
    assert r.bit_depth == 16
    np.testing.assert_array_equal(np.rint(r.pixels * 65535).astype(np.uint16), a)


# --------------------------------------------------------------------------- orientation


def test_exif_rotated_jpeg_comes_out_upright(tmp_path):
    """JPEG with orientation 6 (rotate 90 deg clockwise to view): shape transposed, content rotated."""
    a = np.zeros((32, 48, 3), np.uint8)  # stored: 32 high, 48 wide
    a[:16, :24] = (255, 255, 0)  # top-left quadrant yellow
    p = _pil_file(tmp_path, "rot.jpg", Image.fromarray(a), exif=exif_with_orientation(6), quality=95)
    r = read_image(p)
    assert r.pixels.shape == (48, 32, 3)
    # clockwise rotation moves the top-left quadrant to the top-right
    quad = {
        "tl": r.pixels[:24, :16].mean(),
        "tr": r.pixels[:24, 16:].mean(),
        "bl": r.pixels[24:, :16].mean(),
        "br": r.pixels[24:, 16:].mean(),
    }
    assert quad["tr"] > 0.6 and max(quad["tl"], quad["bl"], quad["br"]) < 0.05, quad


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_on_both_paths(tmp_path, orientation):
    """All 8 EXIF orientations: 8-bit (Pillow path) and 16-bit RGB (OpenCV path) agree with exif_transpose."""
    a8 = rng_u8((5, 7, 3), 20)
    p8 = _pil_file(tmp_path, "o.png", Image.fromarray(a8), exif=exif_with_orientation(orientation))
    with Image.open(p8) as im:
        expect = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_allclose(read_image(p8).pixels, expect / 255.0, atol=1e-7)

    a16 = a8.astype(np.uint16) * 257 + 1  # same picture, 16-bit
    tiff_exif = exif_with_orientation(orientation).tobytes()[len(b"Exif\x00\x00") :]
    p16 = tmp_path / "o16.png"
    p16.write_bytes(png_bytes(a16, 2, exif=tiff_exif))
    r16 = read_image(p16)
    assert r16.bit_depth == 16
    np.testing.assert_array_equal(np.rint(r16.pixels * 65535).astype(np.uint16), (expect.astype(np.uint16) * 257 + 1))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiff_orientation_tag(tmp_path, dtype):
    """TIFF Orientation=6 is applied on the Pillow (8-bit) and tifffile (16-bit) paths alike."""
    a = (rng_u16((5, 7, 3), 29) >> (8 if dtype == np.uint8 else 0)).astype(dtype)
    p = tmp_path / "o.tif"
    tifffile.imwrite(p, a, photometric="rgb", extratags=[(0x0112, "H", 1, 6, True)])
    r = read_image(p)
    top = 255 if dtype == np.uint8 else 65535
    np.testing.assert_array_equal(np.rint(r.pixels * top).astype(dtype), np.rot90(a, -1))


# --------------------------------------------------------------------------- read errors


def _jpeg_bytes(progressive=False) -> bytes:
    buf = pyio.BytesIO()
    Image.fromarray(rng_u8((40, 50, 3), 21)).save(buf, "JPEG", quality=90, progressive=progressive)
    return buf.getvalue()


def _png_8bit_bytes() -> bytes:
    buf = pyio.BytesIO()
    Image.fromarray(rng_u8((40, 50, 3), 22)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("empty.jpg", b"", "empty"),
        ("text.jpg", b"hello, this is not a photo\n", "not a recognized image"),
        ("trunc.jpg", _jpeg_bytes()[: len(_jpeg_bytes()) // 2], "truncated"),
        ("trunc_end.jpg", _jpeg_bytes()[:-3], "truncated"),
        ("trunc_prog.jpg", _jpeg_bytes(True)[: len(_jpeg_bytes(True)) * 2 // 3], "truncated"),
        ("trunc.png", _png_8bit_bytes()[: len(_png_8bit_bytes()) // 2], "truncated"),
        ("header.png", _png_8bit_bytes()[:30], "not a recognized image"),
        ("trunc16.png", png_bytes(rng_u16((30, 30, 3)), 2)[:400], "truncated"),
        ("photo.xyz", _png_8bit_bytes(), "unsupported extension"),
        ("noext", _png_8bit_bytes(), "unsupported extension"),
        ("anim.gif", b"GIF89a", "unsupported extension"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, name, content, reason):
    """Empty, non-image, truncated and unknown-extension files -> ImageReadError, one line, naming the file."""
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ImageReadError) as exc:
        read_image(p)
    assert_one_line(exc.value, name)
    assert reason in str(exc.value)
    assert p.read_bytes() == content  # input untouched
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_tiff_fallback_is_error(tmp_path):
    """A truncated TIFF that only the tifffile path could open -> ImageReadError."""
    buf = pyio.BytesIO()
    tifffile.imwrite(buf, rng_u16((40, 40, 2)), photometric="minisblack", extrasamples=("unassalpha",), compression="zlib")
    p = tmp_path / "t.tif"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    with pytest.raises(ImageReadError) as exc:
        read_image(p)
    assert_one_line(exc.value, "t.tif")


def test_truncation_strict_even_if_caller_relaxed_pillow(tmp_path, monkeypatch):
    """A truncated JPEG is an error even if someone set LOAD_TRUNCATED_IMAGES; their setting is restored."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    p = tmp_path / "trunc.jpg"
    p.write_bytes(_jpeg_bytes()[:1500])
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(p)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def test_missing_folder_fifo(tmp_path):
    """Missing file, a folder named like an image, and a FIFO -> one-line ImageReadError."""
    cases = [(tmp_path / "missing.jpg", "no such file")]
    (tmp_path / "dir.jpg").mkdir()
    cases.append((tmp_path / "dir.jpg", "folder"))
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.png")
        cases.append((tmp_path / "pipe.png", "not a regular file"))
    for p, reason in cases:
        with pytest.raises(ImageReadError) as exc:
            read_image(p)
        assert_one_line(exc.value, p.name)
        assert reason in str(exc.value)


def test_permission_denied_translated(tmp_path, monkeypatch):
    """An unreadable file -> "permission denied", one line (simulated: tests may run as root)."""
    p = _pil_file(tmp_path, "locked.png", Image.fromarray(rng_u8((H, W))))

    def deny(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(dio.read, "_open_binary", deny)
    with pytest.raises(ImageReadError, match="permission denied") as exc:
        read_image(p)
    assert_one_line(exc.value, "locked.png")


@pytest.mark.skipif(IS_ROOT or sys.platform == "win32", reason="root can read any file")
def test_permission_denied_real(tmp_path):
    """chmod 000 file -> "permission denied"."""
    p = _pil_file(tmp_path, "locked.png", Image.fromarray(rng_u8((H, W))))
    p.chmod(0)
    try:
        with pytest.raises(ImageReadError, match="permission denied"):
            read_image(p)
    finally:
        p.chmod(0o644)


def test_newline_in_file_name_stays_one_line(tmp_path):
    """A file name containing a newline is escaped in the message."""
    p = tmp_path / "bad\nname.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageReadError) as exc:
        read_image(p)
    assert "\n" not in str(exc.value) and "bad\\nname.jpg" in str(exc.value)


def test_errors_pickle():
    """Both error types survive pickling (process pools), message and path intact."""
    for err in (ImageReadError("a/b.jpg", "truncated"), ImageWriteError("o.png", "exists")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err) and back.path == err.path


# --------------------------------------------------------------------------- pixel limit


def test_pixel_limit_checked_before_decoding(tmp_path, monkeypatch):
    """Over max_pixels -> error naming size and limit, raised before any pixel decoding."""
    p = _pil_file(tmp_path, "big.png", Image.fromarray(rng_u8((100, 120))))

    def no_decoding(self, *a, **k):
        raise AssertionError("decoded pixels despite the limit")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageReadError) as exc:
        read_image(p, max_pixels=11_999)
    assert_one_line(exc.value, "big.png")
    assert "120x100" in str(exc.value) and "11,999" in str(exc.value)
    monkeypatch.undo()
    assert read_image(p, max_pixels=12_000).pixels.shape == (100, 120)


def test_pixel_limit_tifffile_path(tmp_path):
    """The tifffile fallback honours max_pixels too."""
    p = tmp_path / "ga.tif"
    tifffile.imwrite(p, rng_u16((20, 30, 2)), photometric="minisblack", extrasamples=("unassalpha",))
    with pytest.raises(ImageReadError, match="over the limit"):
        read_image(p, max_pixels=599)


def test_pillow_bomb_check_replaced_not_leaked(tmp_path, monkeypatch):
    """Pillow's global bomb limit neither warns nor raises inside read_image, and is restored after."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # image is 2x and 200x over Pillow's limit
    small = _pil_file(tmp_path, "s.png", Image.fromarray(rng_u8((8, 10))))
    big = _pil_file(tmp_path, "b.png", Image.fromarray(rng_u8((100, 100))))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(small).pixels.shape == (8, 10)
        assert read_image(big).pixels.shape == (100, 100)
    assert Image.MAX_IMAGE_PIXELS == 50


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_max_pixels_validated(tmp_path, bad):
    """max_pixels must be a positive integer."""
    with pytest.raises(ValueError, match="max_pixels"):
        read_image(tmp_path / "x.png", max_pixels=bad)


def test_concurrent_reads_restore_globals(tmp_path):
    """Threads reading at once all succeed and leave Pillow's globals as they were."""
    paths = [_pil_file(tmp_path, f"{i}.png", Image.fromarray(rng_u8((H, W, 3), i))) for i in range(8)]
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    with ThreadPoolExecutor(4) as pool:
        shapes = list(pool.map(lambda p: read_image(p).pixels.shape, paths * 3))
    assert shapes == [(H, W, 3)] * 24
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


# --------------------------------------------------------------------------- writing


def test_write_rounds_not_truncates(tmp_path):
    """8-bit output rounds to the nearest level; out-of-range values clip."""
    k = np.arange(0, 250, dtype=np.float32)
    x = np.concatenate([(k + 0.49) / 255, (k + 0.51) / 255, [-0.2, 1.3]]).astype(np.float32)[None, :]
    p = write_image(tmp_path / "r.png", x)
    got = np.asarray(Image.open(p))[0].astype(int)
    np.testing.assert_array_equal(got[:250], k.astype(int))
    np.testing.assert_array_equal(got[250:500], k.astype(int) + 1)
    np.testing.assert_array_equal(got[500:], [0, 255])


@pytest.mark.parametrize("ext", [".png", ".tif", ".tiff"])
@pytest.mark.parametrize("gray", [True, False])
@pytest.mark.parametrize("with_alpha", [True, False])
def test_write_16bit_round_trip(tmp_path, ext, gray, with_alpha):
    """16-bit PNG/TIFF output keeps every 16-bit level (values not multiples of 257), alpha included."""
    v = rng_u16((H, W) if gray else (H, W, 3), 23)
    al = rng_u16((H, W), 24) if with_alpha else None
    p = write_image(
        tmp_path / f"o{ext}", v / 65535.0, alpha=None if al is None else al / 65535.0, bit_depth=16
    )
    r = read_image(p)
    assert r.bit_depth == 16 and r.is_gray == gray
    np.testing.assert_array_equal(np.rint(r.pixels * 65535).astype(np.uint16), v)
    if with_alpha:
        np.testing.assert_array_equal(np.rint(r.alpha * 65535).astype(np.uint16), al)
    else:
        assert r.alpha is None


@pytest.mark.parametrize("ext", [".png", ".tif", ".webp"])
def test_write_alpha_8bit(tmp_path, ext):
    """Alpha goes to PNG/TIFF/WebP (WebP lossless at quality 100) and comes back exactly."""
    x = rng_u8((H, W, 3), 25) / 255.0
    al = rng_u8((H, W), 26) / 255.0
    r = read_image(write_image(tmp_path / f"a{ext}", x, alpha=al, quality=100))
    np.testing.assert_allclose(r.alpha, al, atol=1e-6)
    np.testing.assert_allclose(r.pixels, x, atol=1e-6)


@pytest.mark.parametrize("ext", [".jpg", ".bmp"])
def test_alpha_dropped_with_warning(tmp_path, ext, caplog):
    """JPEG/BMP cannot hold alpha: written without it, with a logged warning."""
    x = np.full((H, W, 3), 0.5, np.float32)
    with caplog.at_level(logging.WARNING, logger="deepcolor.io"):
        p = write_image(tmp_path / f"a{ext}", x, alpha=np.zeros((H, W), np.float32))
    assert "alpha" in caplog.text
    assert read_image(p).alpha is None


@pytest.mark.parametrize("ext", [".jpg", ".bmp", ".webp"])
def test_16bit_falls_back_to_8_with_warning(tmp_path, ext, caplog):
    """Formats without 16-bit samples get 8 bits and a logged warning."""
    with caplog.at_level(logging.WARNING, logger="deepcolor.io"):
        p = write_image(tmp_path / f"d{ext}", np.full((H, W, 3), 0.25, np.float32), bit_depth=16)
    assert "8-bit" in caplog.text
    assert read_image(p).bit_depth == 8


def test_jpeg_quality_used(tmp_path):
    """Lower quality gives a smaller JPEG."""
    x = np.random.default_rng(27).random((64, 64, 3)).astype(np.float32)
    lo = write_image(tmp_path / "lo.jpg", x, quality=20).stat().st_size
    hi = write_image(tmp_path / "hi.jpg", x, quality=95).stat().st_size
    assert lo < hi * 0.6


def test_gray_written_as_gray(tmp_path):
    """A 2-D array becomes a single-channel file (mode L)."""
    p = write_image(tmp_path / "g.png", np.full((H, W), 0.5, np.float32))
    with Image.open(p) as im:
        assert im.mode == "L"


def test_overwrite_false_keeps_existing_file(tmp_path):
    """overwrite=False on an existing file: one-line error, file byte-identical, no temp left."""
    p = write_image(tmp_path / "o.png", np.zeros((H, W, 3), np.float32))
    before = p.read_bytes()
    with pytest.raises(ImageWriteError) as exc:
        write_image(p, np.ones((H, W, 3), np.float32), overwrite=False)
    assert_one_line(exc.value, "o.png")
    assert "exists" in str(exc.value) and "--overwrite" in str(exc.value)
    assert p.read_bytes() == before
    assert sorted(q.name for q in tmp_path.iterdir()) == ["o.png"]
    write_image(p, np.ones((H, W, 3), np.float32), overwrite=True)
    assert p.read_bytes() != before


def test_overwrite_false_loses_race_safely(tmp_path, monkeypatch):
    """If the destination appears between the check and the rename, overwrite=False still refuses."""
    dest = tmp_path / "race.png"
    real_link = os.link

    def link_after_competitor(src, dst, *a, **k):
        Path(dst).write_bytes(b"competitor")
        return real_link(src, dst, *a, **k)

    monkeypatch.setattr(os, "link", link_after_competitor)
    with pytest.raises(ImageWriteError, match="exists"):
        write_image(dest, np.zeros((H, W), np.float32), overwrite=False)
    assert dest.read_bytes() == b"competitor"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["race.png"]


@pytest.mark.parametrize("stage", ["encode", "fsync", "replace"])
def test_atomic_write_failure_leaves_nothing(tmp_path, monkeypatch, stage):
    """Encoder/disk/rename failure: one-line ImageWriteError, no temp file, old destination intact."""
    dest = write_image(tmp_path / "keep.png", np.zeros((H, W, 3), np.float32))
    before = dest.read_bytes()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    if stage == "encode":
        monkeypatch.setattr(dio.write, "_encode", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("encoder crashed")))
    else:
        monkeypatch.setattr(os, stage, boom)
    with pytest.raises(ImageWriteError) as exc:
        write_image(dest, np.ones((H, W, 3), np.float32))
    monkeypatch.undo()
    assert_one_line(exc.value, "keep.png")
    assert dest.read_bytes() == before
    assert sorted(q.name for q in tmp_path.iterdir()) == ["keep.png"]
    # a new destination that fails leaves no file at all
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(ImageWriteError):
        write_image(tmp_path / "new.png", np.ones((H, W, 3), np.float32))
    assert sorted(q.name for q in tmp_path.iterdir()) == ["keep.png"]


def test_long_file_name(tmp_path):
    """A 250-character destination name (near NAME_MAX) still writes: the temp name stays short enough."""
    p = write_image(tmp_path / ("x" * 246 + ".png"), np.zeros((H, W), np.float32))
    assert p.is_file() and sorted(q.name for q in tmp_path.iterdir()) == [p.name]


def test_write_creates_only_last_folder_level(tmp_path):
    """A missing output folder is created if its parent exists; a missing deeper tree is an error."""
    p = write_image(tmp_path / "out" / "a.png", np.zeros((H, W), np.float32))
    assert p.is_file()
    with pytest.raises(ImageWriteError) as exc:
        write_image(tmp_path / "x" / "y" / "a.png", np.zeros((H, W), np.float32))
    assert_one_line(exc.value, "a.png")
    assert not (tmp_path / "x").exists()


def test_write_bad_destinations(tmp_path):
    """Destination that is a folder, under a file, or with an unknown extension -> one-line ImageWriteError."""
    (tmp_path / "d.png").mkdir()
    (tmp_path / "file").write_text("x")
    for dest in (tmp_path / "d.png", tmp_path / "file" / "a.png", tmp_path / "a.xyz", tmp_path / "a.gif"):
        with pytest.raises(ImageWriteError) as exc:
            write_image(dest, np.zeros((H, W), np.float32))
        assert_one_line(exc.value, dest.name)


def test_unwritable_folder(tmp_path, monkeypatch):
    """Permission error creating the temp file -> one-line ImageWriteError (simulated; root ignores modes)."""
    real_open = os.open
    target = str(tmp_path / "ro")
    (tmp_path / "ro").mkdir()

    def deny(path, *a, **k):
        if str(path).startswith(target):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(ImageWriteError, match="permission denied") as exc:
        write_image(tmp_path / "ro" / "a.png", np.zeros((H, W), np.float32))
    assert_one_line(exc.value, "a.png")


@pytest.mark.skipif(IS_ROOT or sys.platform == "win32", reason="root can write anywhere")
def test_unwritable_folder_real(tmp_path):
    """chmod 555 folder -> ImageWriteError, nothing written."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ImageWriteError):
            write_image(ro / "a.png", np.zeros((H, W), np.float32))
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_new_file_gets_normal_permissions(tmp_path):
    """Output files get 0o666 minus umask, not the 0o600 of a private temp file."""
    umask = os.umask(0o022)
    os.umask(umask)
    p = write_image(tmp_path / "m.png", np.zeros((H, W), np.float32))
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"rgb": np.zeros((H, W, 3), np.int32)}, "float"),
        ({"rgb": np.zeros((H, W, 4), np.float32)}, "shape"),
        ({"rgb": np.zeros((0, W), np.float32)}, "shape"),
        ({"rgb": np.full((H, W), np.nan, np.float32)}, "NaN"),
        ({"alpha": np.zeros((H + 1, W), np.float32)}, "alpha"),
        ({"bit_depth": 12}, "bit_depth"),
        ({"quality": 0}, "quality"),
        ({"quality": 101}, "quality"),
        ({"overwrite": "yes"}, "overwrite"),
    ],
)
def test_write_argument_checks(tmp_path, kwargs, match):
    """Bad arguments raise ValueError naming the argument, before anything is written."""
    args = {"rgb": np.zeros((H, W, 3), np.float32)} | kwargs
    rgb = args.pop("rgb")
    with pytest.raises(ValueError, match=match):
        write_image(tmp_path / "a.png", rgb, **args)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- ensure_not_input


def test_ensure_not_input(tmp_path):
    """Same file by path, '..', symlink or hard link is refused; other paths pass."""
    src = tmp_path / "in" / "a.jpg"
    src.parent.mkdir()
    src.write_bytes(b"x")
    other = tmp_path / "in" / "b.jpg"
    other.write_bytes(b"y")
    (tmp_path / "link.jpg").symlink_to(src)
    os.link(src, tmp_path / "hard.jpg")
    for out in (src, tmp_path / "in" / ".." / "in" / "a.jpg", tmp_path / "link.jpg", tmp_path / "hard.jpg"):
        with pytest.raises(ImageWriteError) as exc:
            ensure_not_input(out, [other, src])
        assert_one_line(exc.value, out.name)
    ensure_not_input(tmp_path / "out" / "a.jpg", [src, other])  # does not exist yet: fine
    ensure_not_input(other, [src])


# --------------------------------------------------------------------------- batch naming


def _names(outs):
    return [p.name for p in outs]


def test_output_paths_keep_extension(tmp_path):
    """By default the extension is kept, so a.jpg and a.png do not collide."""
    outs = output_paths([tmp_path / "a.jpg", tmp_path / "a.png", tmp_path / "b.tif"], tmp_path / "out")
    assert _names(outs) == ["a.jpg", "a.png", "b.tif"]
    assert all(p.parent == tmp_path / "out" for p in outs)


def test_output_paths_forced_format_tags_all_colliding(tmp_path):
    """With ext forced, a.jpg/a.png both want a.png: ALL colliding files get their source extension."""
    outs = output_paths([tmp_path / "a.jpg", tmp_path / "a.png", tmp_path / "b.jpg"], "out", ext="png")
    assert _names(outs) == ["a_jpg.png", "a_png.png", "b.png"]


def test_output_paths_same_name_different_folders(tmp_path):
    """d1/a.jpg and d2/a.jpg -> a_d1.jpg and a_d2.jpg; more folders when parents share a name."""
    assert _names(output_paths([tmp_path / "d1/a.jpg", tmp_path / "d2/a.jpg"], "out")) == ["a_d1.jpg", "a_d2.jpg"]
    outs = output_paths([tmp_path / "x/scans/a.jpg", tmp_path / "y/scans/a.jpg"], "out")
    assert _names(outs) == ["a_x_scans.jpg", "a_y_scans.jpg"]


def test_output_paths_case_insensitive(tmp_path):
    """a.JPG and a.jpg (different folders) are treated as clashing (Windows/macOS volumes)."""
    outs = output_paths([tmp_path / "d1/a.JPG", tmp_path / "d2/a.jpg"], "out")
    assert len({n.casefold() for n in _names(outs)}) == 2


def test_output_paths_order_independent_and_distinct(tmp_path):
    """Mixed clashes: names are distinct and do not depend on input order."""
    inputs = [
        tmp_path / "d1/a.jpg",
        tmp_path / "d1/a.png",
        tmp_path / "d2/a.jpg",
        tmp_path / "d2/a_d1.png",  # a literal name equal to a tag candidate
        tmp_path / "d1/b.tif",
    ]
    ref = dict(zip(inputs, output_paths(inputs, "out", ext=".png")))
    assert len({p.name.casefold() for p in ref.values()}) == len(inputs)
    assert ref[tmp_path / "d1/b.tif"].name == "b.png"
    for perm in itertools.permutations(inputs):
        assert dict(zip(perm, output_paths(list(perm), "out", ext=".png"))) == ref


def test_output_paths_literal_clash_falls_back_to_hash(tmp_path):
    """A tagged name that equals another input's plain name falls back to a path hash."""
    inputs = [tmp_path / "x/a.jpg", tmp_path / "y/a.jpg", tmp_path / "z/a_x.jpg"]
    names = _names(output_paths(inputs, "out"))
    assert names[2] == "a_x.jpg" and names[1] == "a_y.jpg"
    assert names[0].startswith("a_") and len(names[0]) == len("a_12345678.jpg")


def test_output_paths_suffix_and_checks(tmp_path):
    """suffix goes before the extension; duplicates, bad ext and separators are ValueErrors."""
    assert _names(output_paths([tmp_path / "a.jpg"], "out", suffix="_color")) == ["a_color.jpg"]
    with pytest.raises(ValueError, match="twice"):
        output_paths([tmp_path / "a.jpg", tmp_path / "." / "a.jpg"], "out")
    with pytest.raises(ValueError, match="ext"):
        output_paths([tmp_path / "a.jpg"], "out", ext="gif")
    with pytest.raises(ValueError, match="suffix"):
        output_paths([tmp_path / "a.jpg"], "out", suffix="x/y")


# --------------------------------------------------------------------------- listing


def test_is_image_path():
    """Extension check is case-insensitive and does not touch the disk."""
    assert is_image_path("a/B.JPG") and is_image_path(Path("c.tiff")) and is_image_path("d.WebP")
    assert not is_image_path("notes.txt") and not is_image_path("anim.gif") and not is_image_path("noext")


def test_list_images(tmp_path, caplog):
    """Folders give their supported files (hidden skipped), sorted, deduplicated; recursion is opt-in."""
    for name in ["b.PNG", "a.jpg", "notes.txt", ".hidden.jpg", "._a.jpg", "sub/c.tif", ".cache/d.jpg"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "folder.jpg").mkdir()
    assert list_images(tmp_path) == [tmp_path / "a.jpg", tmp_path / "b.PNG"]
    assert list_images([tmp_path], recursive=True) == [tmp_path / "a.jpg", tmp_path / "b.PNG", tmp_path / "sub/c.tif"]
    with caplog.at_level(logging.WARNING, logger="deepcolor.io"):
        got = list_images([tmp_path / "sub/c.tif", tmp_path / "notes.txt", tmp_path, tmp_path / "a.jpg"])
    assert got == [tmp_path / "a.jpg", tmp_path / "b.PNG", tmp_path / "sub/c.tif"]
    assert "notes.txt" in caplog.text
    with pytest.raises(ImageReadError) as exc:
        list_images([tmp_path / "nope"])
    assert_one_line(exc.value, "nope")


# --------------------------------------------------------------------------- real photographs


@pytest.mark.shared
def test_real_photographs_read_and_round_trip(shared_data, tmp_path):
    """Real CamVid/BSDS JPEGs read as 8-bit colour of the documented sizes and survive a PNG round trip."""
    camvid = sorted((shared_data / "camvid" / "images" / "train").glob("*.jpg"))[0]
    bsds = sorted((shared_data / "bsds500" / "images" / "train").glob("*.jpg"))[0]
    r = read_image(camvid)
    assert r.pixels.shape == (360, 480, 3) and not r.is_gray and r.bit_depth == 8
    assert 0.0 <= r.pixels.min() and r.pixels.max() <= 1.0 and r.pixels.std() > 0.05
    assert sorted(read_image(bsds).pixels.shape[:2]) == [321, 481]
    back = read_image(write_image(tmp_path / "c.png", r.pixels))
    np.testing.assert_array_equal(back.pixels, r.pixels)


def test_png_with_an_oversized_text_chunk_is_read(tmp_path):
    """Valid pixels behind a text chunk that decompresses past Pillow's limit: read (the metadata is never used), not 'corrupt'."""
    import struct
    import zlib
    from io import BytesIO

    from PIL import Image

    from deepcolor.io import read_image

    pixels = np.tile(np.arange(16, dtype=np.uint8) * 16, (8, 1))
    buf = BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    png = buf.getvalue()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    bomb = chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"a" * (64 << 20)))  # 64 MB of text in 64 KB
    for at in (33, len(png) - 12):  # before the pixels, and after them (read at load time)
        path = tmp_path / f"meta{at}.png"
        path.write_bytes(png[:at] + bomb + png[at:])
        image = read_image(path)
        assert np.array_equal(np.rint(image.pixels * 255).astype(np.uint8), pixels)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes((png[:33] + bomb + png[33:])[: 33 + len(bomb) + 20])  # IDAT cut short
    with pytest.raises(ImageReadError, match="truncated or corrupt|not a recognized"):
        read_image(truncated)
