"""Tests for `tfdirpipe.decode`: Pillow's pixels, headers, and refusal of bad files.

Every image is a real file written into a temporary directory (by Pillow, or
by the small writers below for variants Pillow cannot write: interlaced and
2/4-bit PNGs, BMP bitfields/OS2/top-down, 16-bit PNM). The reference is what
Keras's ``load_img`` does: ``np.asarray(Image.open(path).convert(mode))``.
"""

from __future__ import annotations

import ast
import io
import re
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from numpy.testing import assert_array_equal
from PIL import Image

from tfdirpipe import _tfio
from tfdirpipe.decode import (
    FORMATS,
    MAX_IMAGE_PIXELS,
    check_image,
    decode_batch,
    decode_image,
    image_info,
    sniff_format,
    validate_color_mode,
)

PIL_MODES = {"rgb": "RGB", "rgba": "RGBA", "grayscale": "L"}
COLOR_MODES = tuple(PIL_MODES)


# --------------------------------------------------------------------------
# Content and writers.


def _content(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Photo-like RGB: gradients, noise, a flat rectangle and a disc."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 128 / (h + w)], -1)
    img = img + rng.normal(0, 12, (h, w, 3))
    img[h // 4 : h // 2, w // 4 : w // 2] = [200, 30, 60]
    img[(y - 2 * h // 3) ** 2 + (x - 2 * w // 3) ** 2 < (min(h, w) // 5) ** 2] = [20, 220, 90]
    return np.clip(img, 0, 255).astype(np.uint8)


def _alpha(h: int, w: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 1), dtype=np.uint8)


def _pil_bytes(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def _png_bytes(
    samples, bit_depth, color_type, *, interlace=False, palette=None, trns=None
) -> bytes:
    """A PNG from integer samples ``[H, W, C]`` (filter 0; Adam7 when asked)."""
    h, w = samples.shape[:2]

    def scanlines(img: np.ndarray) -> bytes:
        out = []
        for row in img:
            flat = row.reshape(-1)
            if bit_depth < 8:
                bits = np.unpackbits(flat.astype(np.uint8)[:, None], axis=1)[:, 8 - bit_depth :]
                packed = np.packbits(bits.reshape(-1)).tobytes()
            elif bit_depth == 16:
                packed = flat.astype(">u2").tobytes()
            else:
                packed = flat.astype(np.uint8).tobytes()
            out.append(b"\0" + packed)
        return b"".join(out)

    if interlace:
        passes = [samples[ys::dy, xs::dx] for xs, ys, dx, dy in _ADAM7]
        raw = b"".join(scanlines(p) for p in passes if p.size)
    else:
        raw = scanlines(samples)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(
        b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, int(interlace))
    )
    if palette is not None:
        out += _chunk(b"PLTE", np.asarray(palette, np.uint8).tobytes())
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    return out + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def _bmp_bytes(
    rows, w, h, bits, *, header=40, compression=0, colors=0, palette=b"", masks=(), top_down=False
) -> bytes:
    """A BMP from unpadded pixel rows given top to bottom."""
    stride = (w * bits + 31) // 32 * 4
    data_rows = [r.ljust(stride, b"\0") for r in rows]
    data = b"".join(data_rows if top_down else data_rows[::-1])
    if header == 12:
        info = struct.pack("<IHHHH", 12, w, h, 1, bits)
    else:
        info = struct.pack(
            "<IiiHHIIiiII",
            header,
            w,
            -h if top_down else h,
            1,
            bits,
            compression,
            len(data),
            2835,
            2835,
            colors,
            0,
        )
        info += b"".join(struct.pack("<I", m) for m in masks)
        if header > 40:
            info = info.ljust(header, b"\0")
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset) + info + palette + data


def _bgrx(rgb: np.ndarray) -> bytes:
    return (
        np.concatenate([rgb[:, ::-1], np.zeros((len(rgb), 1), np.uint8)], 1)
        .astype(np.uint8)
        .tobytes()
    )


# --------------------------------------------------------------------------
# The cases: name -> (bytes, format, expected-pixels override or None, tolerance).

H, W = 23, 17  # odd sizes exercise padding and chroma subsampling edges
BH, BW = 48, 64


def _expected_high_byte(v16: np.ndarray) -> Callable[[str], np.ndarray]:
    """16-bit gray: we take the high byte (Pillow keeps "I;16"; convert saturates)."""

    def expected(color_mode: str) -> np.ndarray:
        g = (v16 >> 8).astype(np.uint8)[..., None]
        if color_mode == "grayscale":
            return g
        rgb = np.repeat(g, 3, -1)
        return rgb if color_mode == "rgb" else np.concatenate([rgb, np.full_like(g, 255)], -1)

    return expected


def _expected_scaled_gray(v: np.ndarray, maxval: int) -> Callable[[str], np.ndarray]:
    """PGM maxval > 255: Pillow's P6 rule, min(255, round(v / maxval * 255))."""
    g = np.minimum(np.round(v.astype(np.float64) / maxval * 255), 255).astype(np.uint8)
    return _expected_high_byte(g.astype(np.uint16) << 8)


def _cases() -> dict[str, tuple[bytes, str, Callable[[str], np.ndarray] | None, int]]:
    a = _content(H, W)
    big = _content(BH, BW, seed=3)
    rgba = np.concatenate([a, _alpha(H, W)], -1)
    big_rgba = np.concatenate([big, _alpha(BH, BW)], -1)
    pal_img = Image.fromarray(a).quantize(40)
    rng = np.random.default_rng(7)
    c: dict[str, tuple[bytes, str, Callable[[str], np.ndarray] | None, int]] = {}

    def add(name, data, fmt, expected=None, tol=0):
        c[name] = (data, fmt, expected, tol)

    # JPEG: TensorFlow's libjpeg with ISLOW and Pillow's agree exactly.
    add(
        "jpeg_q75_420.jpg",
        _pil_bytes(Image.fromarray(big), "JPEG", quality=75, subsampling=2),
        "jpeg",
    )
    add(
        "jpeg_q90_444.jpg",
        _pil_bytes(Image.fromarray(big), "JPEG", quality=90, subsampling=0),
        "jpeg",
    )
    add(
        "jpeg_q95_422_progressive.jpg",
        _pil_bytes(Image.fromarray(big), "JPEG", quality=95, subsampling=1, progressive=True),
        "jpeg",
    )
    add(
        "jpeg_q85_420_progressive.jpg",
        _pil_bytes(Image.fromarray(big), "JPEG", quality=85, progressive=True),
        "jpeg",
    )
    add("jpeg_odd_size_420.jpg", _pil_bytes(Image.fromarray(a), "JPEG", quality=80), "jpeg")
    add("jpeg_gray.jpg", _pil_bytes(Image.fromarray(big[..., 1]), "JPEG", quality=90), "jpeg")
    exif = Image.Exif()
    exif[0x010F] = "tfdirpipe-test-camera" * 40  # a long APP1 segment before the frame header
    add(
        "jpeg_exif_icc.jpg",
        _pil_bytes(
            Image.fromarray(big), "JPEG", quality=88, exif=exif.tobytes(), icc_profile=b"\0" * 3000
        ),
        "jpeg",
    )
    add(
        "jpeg_restart_markers.jpg",
        _pil_bytes(Image.fromarray(big), "JPEG", quality=90, restart_marker_blocks=1),
        "jpeg",
    )
    add(
        "jpeg_trailing_bytes.jpg",
        _pil_bytes(Image.fromarray(big), "JPEG", quality=90) + b"\0trailer" * 400,
        "jpeg",
    )
    # Frame header past the unrolled fast walk, and fill bytes before a marker:
    # both take the looping (libjpeg-tolerant) walk.
    plain = _pil_bytes(Image.fromarray(big), "JPEG", quality=85)
    comments = b"".join(b"\xff\xfe" + struct.pack(">H", 2 + 5) + b"note%d" % i for i in range(8))
    add("jpeg_many_segments.jpg", plain[:2] + comments + plain[2:], "jpeg")
    dqt = plain.index(b"\xff\xdb")
    add("jpeg_fill_bytes.jpg", plain[:dqt] + b"\xff\xff" + plain[dqt:], "jpeg")
    # CMYK: TensorFlow floors k*c/255 where Pillow rounds: measured max 1.
    cmyk = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
    add(
        "jpeg_cmyk.jpg",
        _pil_bytes(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=95),
        "jpeg",
        tol=1,
    )

    # PNG.
    add("png_rgb.png", _pil_bytes(Image.fromarray(a), "PNG"), "png")
    add("png_rgba.png", _pil_bytes(Image.fromarray(rgba), "PNG"), "png")
    add("png_gray.png", _pil_bytes(Image.fromarray(a[..., 0]), "PNG"), "png")
    add("png_gray_alpha.png", _pil_bytes(Image.fromarray(rgba[..., [0, 3]], "LA"), "PNG"), "png")
    add("png_palette.png", _pil_bytes(pal_img, "PNG"), "png")
    add(
        "png_palette_trns.png",
        _pil_bytes(pal_img, "PNG", transparency=bytes(range(0, 240, 6))),
        "png",
    )
    add("png_palette_2bit.png", _pil_bytes(Image.fromarray(a).quantize(4), "PNG", bits=2), "png")
    add(
        "png_palette_2bit_trns.png",
        _pil_bytes(Image.fromarray(a).quantize(4), "PNG", bits=2, transparency=1),
        "png",
    )
    add("png_1bit.png", _pil_bytes(Image.fromarray(a[..., 0] > 128), "PNG"), "png")
    add("png_gray_2bit.png", _png_bytes(a[..., :1] >> 6, 2, 0), "png")
    add(
        "png_gray_4bit_trns.png",
        _png_bytes(a[..., :1] >> 4, 4, 0, trns=struct.pack(">H", int(a[0, 0, 0] >> 4))),
        "png",
    )
    add(
        "png_gray_colour_key.png",
        _pil_bytes(Image.fromarray(a[..., 0]), "PNG", transparency=int(a[0, 0, 0])),
        "png",
    )
    add(
        "png_rgb_colour_key.png",
        _pil_bytes(Image.fromarray(a), "PNG", transparency=tuple(int(v) for v in a[0, 0])),
        "png",
    )
    add("png_rgb_interlaced.png", _png_bytes(a, 8, 2, interlace=True), "png")
    pal = np.asarray(pal_img.getpalette()[: 3 * 40]).reshape(-1, 3)
    add(
        "png_palette_interlaced.png",
        _png_bytes(np.asarray(pal_img)[..., None], 8, 3, interlace=True, palette=pal),
        "png",
    )
    a16 = a.astype(np.uint16) * 257 + rng.integers(0, 257, a.shape).astype(np.uint16)
    add("png_rgb16.png", _png_bytes(a16, 16, 2), "png")
    add("png_rgba16.png", _png_bytes(np.concatenate([a16, a16[..., :1]], -1), 16, 6), "png")
    add("png_gray_alpha16.png", _png_bytes(a16[..., :2], 16, 4), "png")
    add("png_gray16.png", _png_bytes(a16[..., :1], 16, 0), "png", _expected_high_byte(a16[..., 0]))

    # GIF: first frame; transparency as Pillow (palette colour, alpha 0).
    add("gif_palette.gif", _pil_bytes(pal_img, "GIF"), "gif")
    add("gif_gray.gif", _pil_bytes(Image.fromarray(a[..., 0]), "GIF"), "gif")
    add(
        "gif_transparent.gif",
        _pil_bytes(pal_img, "GIF", transparency=int(np.asarray(pal_img)[0, 0])),
        "gif",
    )
    frames = [Image.fromarray(np.roll(a, 3 * i, 0)).quantize(32) for i in range(3)]
    add(
        "gif_animated_transparent.gif",
        _pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], transparency=2),
        "gif",
    )

    # BMP.
    add("bmp_rgb24.bmp", _pil_bytes(Image.fromarray(a), "BMP"), "bmp")
    add(
        "bmp_rgba_as_bgrx32.bmp", _pil_bytes(Image.fromarray(rgba), "BMP"), "bmp"
    )  # Pillow ignores the 4th byte
    add("bmp_gray8.bmp", _pil_bytes(Image.fromarray(a[..., 0]), "BMP"), "bmp")
    add("bmp_palette8.bmp", _pil_bytes(pal_img, "BMP"), "bmp")
    add("bmp_1bit.bmp", _pil_bytes(Image.fromarray(a[..., 0] > 128), "BMP"), "bmp")
    p16 = Image.fromarray(a).quantize(16)
    idx16 = np.asarray(p16)
    rows4 = [
        bytes((np.pad(r, (0, len(r) % 2)).reshape(-1, 2) * [16, 1]).sum(1).astype(np.uint8))
        for r in idx16
    ]
    pal16 = _bgrx(np.asarray(p16.getpalette()[:48]).reshape(16, 3))
    add("bmp_palette4.bmp", _bmp_bytes(rows4, W, H, 4, colors=16, palette=pal16), "bmp")
    idx = (a[..., 0] // 26).astype(np.uint8)  # indices 0..9 with a 4-colour palette
    pal4 = _bgrx(np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]))
    add(
        "bmp_short_palette8.bmp",
        _bmp_bytes([r.tobytes() for r in idx], W, H, 8, colors=4, palette=pal4),
        "bmp",
    )
    ramp16 = _bgrx(np.repeat(np.arange(16)[:, None], 3, 1))  # gray ramp: Pillow makes it "L"
    add(
        "bmp_gray_ramp_short_palette8.bmp",
        _bmp_bytes([r.tobytes() for r in a[..., 0]], W, H, 8, colors=16, palette=ramp16),
        "bmp",
    )
    r5, g6, b5 = (
        a[..., 0].astype(np.uint16) >> 3,
        a[..., 1].astype(np.uint16) >> 2,
        a[..., 2].astype(np.uint16) >> 3,
    )
    rows565 = [r.astype("<u2").tobytes() for r in (r5 << 11) | (g6 << 5) | b5]
    add(
        "bmp_rgb565_bitfields.bmp",
        _bmp_bytes(rows565, W, H, 16, compression=3, masks=(0xF800, 0x7E0, 0x1F)),
        "bmp",
    )
    rows555 = [r.astype("<u2").tobytes() for r in (r5 << 10) | ((g6 >> 1) << 5) | b5]
    add("bmp_rgb555.bmp", _bmp_bytes(rows555, W, H, 16), "bmp")
    bgra = np.concatenate([a[..., ::-1], _alpha(H, W)], -1)
    masks_a = (0xFF0000, 0xFF00, 0xFF, 0xFF000000)
    add(
        "bmp_bgra32_v5_header.bmp",
        _bmp_bytes([r.tobytes() for r in bgra], W, H, 32, header=124, compression=3, masks=masks_a),
        "bmp",
    )
    xbgr = np.concatenate([_alpha(H, W), a[..., ::-1]], -1)
    masks_x = (0xFF000000, 0xFF0000, 0xFF00)
    add(
        "bmp_xbgr32_bitfields.bmp",
        _bmp_bytes([r.tobytes() for r in xbgr], W, H, 32, compression=3, masks=masks_x),
        "bmp",
    )
    add(
        "bmp_top_down24.bmp",
        _bmp_bytes([r[:, ::-1].tobytes() for r in a], W, H, 24, top_down=True),
        "bmp",
    )
    pal256 = (
        np.asarray(pal_img.getpalette()[:768]).reshape(-1, 3)[:, ::-1].astype(np.uint8).tobytes()
    )
    pal256 = pal256.ljust(768, b"\0")
    add(
        "bmp_os2_palette8.bmp",
        _bmp_bytes([r.tobytes() for r in np.asarray(pal_img)], W, H, 8, header=12, palette=pal256),
        "bmp",
    )

    # WebP (TensorFlow's libwebp and Pillow's agree).
    add("webp_lossy.webp", _pil_bytes(Image.fromarray(big), "WEBP", quality=80), "webp")
    add("webp_lossless.webp", _pil_bytes(Image.fromarray(big), "WEBP", lossless=True), "webp")
    add("webp_lossy_alpha.webp", _pil_bytes(Image.fromarray(big_rgba), "WEBP", quality=80), "webp")
    add(
        "webp_lossless_alpha.webp",
        _pil_bytes(Image.fromarray(big_rgba), "WEBP", lossless=True),
        "webp",
    )

    # PNM (binary).
    add("pnm_p6.ppm", _pil_bytes(Image.fromarray(a), "PPM"), "pnm")
    add("pnm_p5.pgm", _pil_bytes(Image.fromarray(a[..., 0]), "PPM"), "pnm")
    add("pnm_p4.pbm", _pil_bytes(Image.fromarray(a[..., 0] > 128), "PPM"), "pnm")
    add(
        "pnm_p6_maxval100_comments.ppm",
        b"P6\n# made by a test\n17 # width\n23\n100\n"
        + (a.astype(int) * 100 // 255).astype(np.uint8).tobytes(),
        "pnm",
    )
    add("pnm_p6_16bit.ppm", b"P6 17 23 65535\n" + a16.astype(">u2").tobytes(), "pnm")
    v1000 = (a[..., 0].astype(np.uint32) * 1000 // 255).astype(np.uint16)
    add(
        "pnm_p5_maxval1000.pgm",
        b"P5\n17 23\n1000\n" + v1000.astype(">u2").tobytes(),
        "pnm",
        _expected_scaled_gray(v1000, 1000),
    )
    return c


CASES = _cases()


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("decode")
    for name, (data, _, _, _) in CASES.items():
        (root / name).write_bytes(data)
    return root


def _pillow(path: Path, color_mode: str) -> np.ndarray:
    with Image.open(path) as im:
        out = np.asarray(im.convert(PIL_MODES[color_mode]))
    return out[..., None] if out.ndim == 2 else out


def _expected(image_dir: Path, name: str, color_mode: str) -> np.ndarray:
    override = CASES[name][2]
    return override(color_mode) if override else _pillow(image_dir / name, color_mode)


def _assert_close(actual: np.ndarray, expected: np.ndarray, tol: int, name: str) -> None:
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    if tol == 0:
        assert_array_equal(actual, expected, err_msg=name)
    else:
        diff = np.abs(actual.astype(int) - expected.astype(int))
        assert diff.max() <= tol, f"{name}: max difference {diff.max()} > {tol}"


# --------------------------------------------------------------------------
# Pixels.


@pytest.mark.parametrize("color_mode", COLOR_MODES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_pixels_match_pillow(image_dir, name, color_mode):
    contents = tf.io.read_file(str(image_dir / name))
    out = decode_image(contents, color_mode)
    assert (
        out.dtype == tf.uint8
        and out.shape.rank == 3
        and out.shape[-1] == len(PIL_MODES[color_mode])
    )
    _assert_close(out.numpy(), _expected(image_dir, name, color_mode), CASES[name][3], name)


# One case per decoder path; every case is decoded eagerly above (same ops).
GRAPH_CASES = (
    "jpeg_q75_420.jpg",
    "jpeg_gray.jpg",
    "jpeg_exif_icc.jpg",
    "jpeg_many_segments.jpg",
    "png_palette_trns.png",
    "png_palette_2bit.png",
    "png_gray16.png",
    "gif_transparent.gif",
    "bmp_palette4.bmp",
    "bmp_bgra32_v5_header.bmp",
    "webp_lossy_alpha.webp",
    "pnm_p4.pbm",
    "pnm_p5_maxval1000.pgm",
)


def test_pixels_match_pillow_inside_tf_data(image_dir):
    """The graph (tf.data) path, all colour modes in one map function."""
    paths = [str(image_dir / n) for n in GRAPH_CASES]

    def load(path):
        contents = tf.io.read_file(path)
        return tuple(decode_image(contents, mode, filename=path) for mode in COLOR_MODES)

    ds = tf.data.Dataset.from_tensor_slices(paths).map(load)
    # Static rank 3 and static channels, whatever the format.
    assert [spec.shape.as_list() for spec in ds.element_spec] == [
        [None, None, 3],
        [None, None, 4],
        [None, None, 1],
    ]
    for name, outputs in zip(GRAPH_CASES, ds):
        for mode, out in zip(COLOR_MODES, outputs):
            _assert_close(
                out.numpy(), _expected(image_dir, name, mode), CASES[name][3], f"{name} {mode}"
            )


def test_cmyk_jpeg_difference_is_at_most_one(image_dir):
    """The one inexact case: measured, and it is not zero (so the bound is tight)."""
    out = decode_image(tf.io.read_file(str(image_dir / "jpeg_cmyk.jpg"))).numpy()
    diff = np.abs(out.astype(int) - _pillow(image_dir / "jpeg_cmyk.jpg", "rgb").astype(int))
    assert diff.max() == 1


def test_grayscale_is_pillow_luma_for_a_million_colours(tmp_path):
    """RGB -> L with Pillow's integer formula, not libpng's or libjpeg's."""
    rng = np.random.default_rng(11)
    rgb = rng.integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    rgb[0, :8] = [
        [0, 0, 0],
        [255, 255, 255],
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [1, 2, 3],
        [128, 128, 127],
        [254, 1, 254],
    ]
    path = tmp_path / "colours.png"
    Image.fromarray(rgb).save(path)
    out = decode_image(tf.io.read_file(str(path)), "grayscale").numpy()[..., 0]
    assert_array_equal(out, np.asarray(Image.fromarray(rgb).convert("L")))


def test_jpeg_ratio_as_tensor_matches_tf_decode(image_dir):
    contents = tf.io.read_file(str(image_dir / "jpeg_q90_444.jpg"))
    for ratio in (2, 4, 8):
        out = decode_image(contents, jpeg_ratio=tf.constant(ratio))
        ref = tf.io.decode_jpeg(contents, channels=3, ratio=ratio, dct_method="INTEGER_ACCURATE")
        assert out.shape == (-(-BH // ratio), -(-BW // ratio), 3)
        assert_array_equal(out.numpy(), ref.numpy())
    # Other formats ignore the ratio.
    png = tf.io.read_file(str(image_dir / "png_rgb.png"))
    assert decode_image(png, jpeg_ratio=4).shape == (H, W, 3)


def test_jpeg_ratio_as_function_of_the_header_size(image_dir):
    contents = tf.io.read_file(str(image_dir / "jpeg_q90_444.jpg"))
    seen = []

    def ratio(height, width):
        seen.append((height, width))
        return tf.where(height >= 40, 4, 1)  # BH = 48: the header says 48 x 64

    out = tf.function(lambda c: decode_image(c, jpeg_ratio=ratio))(contents)
    ref = tf.io.decode_jpeg(contents, channels=3, ratio=4, dct_method="INTEGER_ACCURATE")
    assert seen, "the ratio function was never called"
    assert out.shape == (BH // 4, BW // 4, 3)
    assert_array_equal(out.numpy(), ref.numpy())


def test_fast_load_picks_the_largest_dct_scale_that_still_covers_the_target(tmp_path):
    from tfdirpipe import pipeline

    rgb = np.random.default_rng(3).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    path = str(tmp_path / "x.jpg")
    Image.fromarray(rgb).save(path, quality=95)
    contents = tf.io.read_file(path)
    for target, ratio in (((24, 32), 4), ((25, 32), 2), ((48, 64), 2), ((49, 64), 1)):
        spec = pipeline.LoadSpec(target, fast=True, interpolation="nearest")
        got = pipeline.load_image(tf.constant(path), spec).numpy()
        decoded = tf.io.decode_jpeg(contents, channels=3, ratio=ratio, dct_method="INTEGER_FAST")
        want = tf.image.resize(decoded, target, method="nearest").numpy()
        assert_array_equal(got, want, err_msg=f"target {target}: expected DCT ratio {ratio}")


def test_fast_bilinear_antialiases_only_steps_of_two_or_more(tmp_path):
    """Fast mode's bilinear: TF's plain bilinear after the DCT scaling (the
    step left is below 2), the antialiased kernel when the image is still at
    least twice the target (here 1/8 cannot reach a 10 x 14 target)."""
    from tfdirpipe import pipeline

    rgb = np.random.default_rng(4).integers(0, 256, (200, 256, 3), dtype=np.uint8)
    path = str(tmp_path / "x.jpg")
    Image.fromarray(rgb).save(path, quality=95)
    contents = tf.io.read_file(path)
    for target, ratio, antialias in (((60, 80), 2, False), ((10, 14), 8, True)):
        spec = pipeline.LoadSpec(target, fast=True, interpolation="bilinear")
        got = pipeline.load_image(tf.constant(path), spec).numpy()
        decoded = tf.io.decode_jpeg(contents, channels=3, ratio=ratio, dct_method="INTEGER_FAST")
        resized = tf.image.resize(decoded, target, method="bilinear", antialias=antialias)
        want = tf.cast(tf.round(resized), tf.uint8).numpy()
        assert_array_equal(got, want, err_msg=f"target {target}")


# --------------------------------------------------------------------------
# Sniffing and headers.


def test_formats_tuple():
    assert FORMATS == ("unknown", "jpeg", "png", "gif", "bmp", "webp", "pnm", "tiff")


@pytest.mark.parametrize("name", sorted(CASES))
def test_image_info_matches_pillow_size(image_dir, name):
    contents = tf.io.read_file(str(image_dir / name))
    code, h, w = (int(v) for v in image_info(contents))
    with Image.open(image_dir / name) as im:
        assert (FORMATS[code], h, w) == (CASES[name][1], im.height, im.width)
    assert FORMATS[int(sniff_format(contents))] == CASES[name][1]
    ok, reason = check_image(contents)
    assert bool(ok) and reason.numpy() == b""


def test_sniffing_ignores_misleading_extensions(image_dir, tmp_path):
    png_named_jpg = tmp_path / "photo.jpg"
    png_named_jpg.write_bytes((image_dir / "png_rgba.png").read_bytes())
    contents = tf.io.read_file(str(png_named_jpg))
    assert FORMATS[int(sniff_format(contents))] == "png"
    assert_array_equal(decode_image(contents, "rgba").numpy(), _pillow(png_named_jpg, "rgba"))
    jpeg_named_png = tmp_path / "scan.png"
    jpeg_named_png.write_bytes((image_dir / "jpeg_gray.jpg").read_bytes())
    assert FORMATS[int(sniff_format(tf.io.read_file(str(jpeg_named_png))))] == "jpeg"


def test_tiff_header_is_read_without_tensorflow_io(tmp_path):
    path = tmp_path / "scan.tif"
    Image.fromarray(_content(H, W)).save(path)
    code, h, w = (int(v) for v in image_info(tf.io.read_file(str(path))))
    assert (FORMATS[code], h, w) == ("tiff", H, W)


def test_unknown_bytes_have_no_size():
    code, h, w = (int(v) for v in image_info(b"hello, not an image"))
    assert (code, h, w) == (0, -1, -1)


# --------------------------------------------------------------------------
# Bad files: refused from the header, with the reason and the file name.


def _png_declaring(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )


def test_decompression_bomb_png_is_refused_from_the_header():
    bomb = _png_declaring(100000, 100000)
    assert len(bomb) < 200
    code, h, w = (int(v) for v in image_info(bomb))
    assert (FORMATS[code], h, w) == ("png", 100000, 100000)
    ok, reason = check_image(bomb)
    assert not bool(ok)
    assert (
        reason.numpy().decode() == "image too large: 100000 x 100000 pixels > max_pixels=89478485"
    )
    start = time.perf_counter()
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"cannot decode bomb\.png: image too large: 100000 x 100000 pixels",
    ):
        decode_image(bomb, filename="bomb.png")
    assert time.perf_counter() - start < 5  # no 30 GB allocation was attempted


def test_jpeg_bomb_and_custom_limit_are_refused(image_dir):
    data = bytearray((image_dir / "jpeg_q90_444.jpg").read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match="image too large: 60000 x 60000 pixels > max_pixels=89478485",
    ):
        decode_image(bytes(data))
    small = tf.io.read_file(str(image_dir / "jpeg_q90_444.jpg"))
    ok, reason = check_image(small, max_pixels=BH * BW - 1)
    assert not bool(ok) and b"image too large: 64 x 48 pixels" in reason.numpy()
    assert bool(check_image(small, max_pixels=BH * BW)[0]) and bool(
        check_image(small, max_pixels=None)[0]
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="too large"):
        decode_image(small, max_pixels=100)
    assert decode_image(small, max_pixels=None).shape == (BH, BW, 3)
    assert MAX_IMAGE_PIXELS == 89_478_485


@pytest.mark.parametrize(
    ("name", "cut", "reason"),
    [
        ("jpeg_q90_444.jpg", 0.5, "truncated JPEG (no end-of-image marker)"),
        ("jpeg_q85_420_progressive.jpg", 0.9, "truncated JPEG (no end-of-image marker)"),
        ("png_rgb.png", 0.6, "truncated PNG (no complete IEND chunk)"),
        ("png_rgb.png", -3, "truncated PNG (no complete IEND chunk)"),
        ("gif_palette.gif", -2, "truncated GIF (no trailer after the last block)"),
        ("bmp_rgb24.bmp", -5, "truncated BMP (pixel data shorter than the header declares)"),
        ("webp_lossy.webp", 0.5, "truncated WebP (the RIFF size exceeds the file)"),
        ("pnm_p6.ppm", -1, "truncated PNM (pixel data shorter than the header declares)"),
    ],
)
def test_truncated_files_are_reported(image_dir, tmp_path, name, cut, reason):
    data = (image_dir / name).read_bytes()
    end = int(len(data) * cut) if isinstance(cut, float) else len(data) + cut
    path = tmp_path / name
    path.write_bytes(data[:end])
    contents = tf.io.read_file(str(path))
    ok, got = check_image(contents)
    assert not bool(ok) and got.numpy().decode() == reason
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=rf"cannot decode .*{name}: {reason.split(' (')[0]}"
    ):
        decode_image(contents, filename=str(path))


def test_jpeg_without_frame_header_is_named(tmp_path):
    """SOI, APP0, junk, EOI: looks complete, yet has no frame header."""
    data = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    data += b"\x13" * 200 + b"\xff\xd9"
    ok, reason = check_image(data)
    assert not bool(ok)
    assert reason.numpy() == b"corrupt JPEG header (no frame header before the image data)"
    with pytest.raises(tf.errors.InvalidArgumentError, match="cannot decode x.jpg: corrupt JPEG"):
        decode_image(data, filename="x.jpg")
    ds = tf.data.Dataset.from_tensors(data).map(lambda c: decode_image(c, filename="y.jpg"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="cannot decode y.jpg: corrupt JPEG"):
        next(iter(ds))


@pytest.mark.parametrize(
    "data",
    [b"\xff\xd8\xff", b"\xff\xd8\xff\xd9", b"\xff\xd8\xff\xe0\x00\x02\xff\xd9"],
    ids=["soi-only", "soi-eoi", "app0-eoi"],
)
def test_tiny_jpeg_like_files_fail_with_their_name(data):
    """Shorter than any frame header: the straight-line header walk reads
    clamped, zero-padded bytes, and the file is refused with its name."""
    with pytest.raises(tf.errors.InvalidArgumentError, match="cannot decode tiny.jpg: "):
        decode_image(data, filename="tiny.jpg")
    ds = tf.data.Dataset.from_tensors(data).map(lambda c: decode_image(c, filename="tiny.jpg"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="cannot decode tiny.jpg: "):
        next(iter(ds))


def test_random_bytes_are_not_an_image():
    junk = np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    ok, reason = check_image(junk)
    assert not bool(ok) and reason.numpy().startswith(b"not an image")
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="cannot decode noise.jpg: not an image"
    ):
        decode_image(junk, filename="noise.jpg")
    with pytest.raises(tf.errors.InvalidArgumentError, match="cannot decode image: not an image"):
        decode_image(b"")


def test_unsupported_variants_are_refused(image_dir):
    rle8 = bytearray((image_dir / "bmp_palette8.bmp").read_bytes())
    rle8[30:34] = struct.pack("<I", 1)
    ok, reason = check_image(bytes(rle8))
    assert not bool(ok) and reason.numpy().startswith(b"unsupported BMP compression")
    ok, reason = check_image(b"P3\n2 1\n255\n0 0 0 255 255 255\n")
    assert not bool(ok) and reason.numpy().startswith(b"unsupported PNM variant")
    # A first GIF frame smaller than the logical screen: TensorFlow's GIF
    # decoder mishandles it, so it is refused rather than decoded wrongly.
    gif = bytearray((image_dir / "gif_palette.gif").read_bytes())
    gif[6:10] = struct.pack("<HH", W + 3, H + 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="unsupported GIF layout"):
        decode_image(bytes(gif))


def test_errors_inside_tf_data_name_the_file(image_dir, tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_declaring(50000, 50000))
    good = str(image_dir / "jpeg_q75_420.jpg")
    ds = tf.data.Dataset.from_tensor_slices([good, str(bomb)]).map(
        lambda p: decode_image(tf.io.read_file(p), filename=p)
    )
    it = iter(ds)
    assert next(it).shape == (BH, BW, 3)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"cannot decode /.*/bomb\.png: image too large: 50000 x 50000 pixels",
    ):
        next(it)


def test_check_image_filters_inside_tf_data(image_dir, tmp_path):
    (tmp_path / "noise.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"x" * 100)
    paths = [
        str(image_dir / "png_rgb.png"),
        str(tmp_path / "noise.jpg"),
        str(image_dir / "gif_palette.gif"),
    ]
    ds = tf.data.Dataset.from_tensor_slices(paths).map(
        lambda p: (p, *check_image(tf.io.read_file(p)))
    )
    got = [(Path(p.decode()).name, bool(ok), r.decode()) for p, ok, r in ds.as_numpy_iterator()]
    assert got == [
        ("png_rgb.png", True, ""),
        ("noise.jpg", False, "corrupt JPEG header (no frame header before the image data)"),
        ("gif_palette.gif", True, ""),
    ]


# --------------------------------------------------------------------------
# TIFF and tensorflow-io.


def test_tiff_without_tensorflow_io_names_the_reason(tmp_path):
    ok, why = _tfio.tfio_status()
    if ok:
        pytest.skip("tensorflow-io works here; see test_tiff_decodes_with_tensorflow_io")
    path = tmp_path / "scan.tif"
    Image.fromarray(_content(H, W)).save(path)
    contents = tf.io.read_file(str(path))
    ok_img, reason = check_image(contents)
    assert not bool(ok_img)
    assert (
        reason.numpy()
        .decode()
        .startswith(f"unsupported format TIFF (tensorflow-io not available: {why}")
    )
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"scan\.tif: unsupported format TIFF \(tensorflow-io not available",
    ):
        decode_image(contents, filename=str(path))
    with pytest.raises(_tfio.TfioUnavailableError, match=r'pip install "tfdirpipe\[io\]"') as info:
        _tfio.require_tfio("TIFF decoding")
    assert isinstance(info.value, ImportError) and "TIFF decoding" in str(info.value)


@pytest.mark.needs_tfio
@pytest.mark.parametrize("color_mode", COLOR_MODES)
def test_tiff_decodes_with_tensorflow_io(tmp_path, color_mode):
    path = tmp_path / "scan.tif"
    Image.fromarray(_content(H, W)).save(path)
    out = decode_image(tf.io.read_file(str(path)), color_mode).numpy()
    assert_array_equal(out, _pillow(path, color_mode))


def test_tiny_probe_tiff_is_valid():
    with Image.open(io.BytesIO(_tfio._tiny_tiff())) as im:
        assert im.size == (2, 1) and np.asarray(im).tolist() == [[7, 200]]


def test_no_module_imports_tensorflow_io_at_import_time():
    """``import tfdirpipe`` must not load tensorflow-io (only function bodies may)."""
    import tfdirpipe

    def module_level(node: ast.AST):
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield child
                yield from module_level(child)

    for path in sorted(Path(tfdirpipe.__file__).parent.glob("*.py")):
        for node in module_level(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(
                n.split(".")[0] == "tensorflow_io" for n in names
            ), f"{path.name}:{node.lineno}"


# --------------------------------------------------------------------------
# Argument validation.


def test_invalid_color_mode_message():
    msg = (
        'Invalid color mode: hsv; expected "rgb", "rgba", or "grayscale". '
        "Received: color_mode='hsv'"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        validate_color_mode("hsv")
    with pytest.raises(ValueError, match="Invalid color mode"):
        decode_image(b"", "RGB")
    assert validate_color_mode("grayscale") == "grayscale"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"jpeg_ratio": 3}, ValueError, "Received: jpeg_ratio=3"),
        ({"jpeg_ratio": 2.0}, TypeError, "Received: jpeg_ratio=2.0"),
        ({"dct_method": "FLOAT"}, ValueError, "Received: dct_method='FLOAT'"),
        ({"max_pixels": 0}, ValueError, "Received: max_pixels=0"),
        ({"max_pixels": "big"}, TypeError, "Received: max_pixels='big'"),
    ],
)
def test_invalid_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        decode_image(b"", **kwargs)


def test_invalid_jpeg_ratio_tensor_fails_at_run_time(image_dir):
    contents = tf.io.read_file(str(image_dir / "jpeg_q90_444.jpg"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="jpeg_ratio"):
        decode_image(contents, jpeg_ratio=tf.constant(3))


# --------------------------------------------------------------------------
# The JPEG hot path's header walk (`_jpeg_window_walk`) against the robust one.


def _walks(data: bytes):
    from tfdirpipe import decode as decode_lib

    contents = tf.constant(data)
    size = tf.strings.length(contents)
    window = {k: v.numpy() for k, v in decode_lib._jpeg_window_walk(contents, size).items()}
    sof, found = decode_lib._jpeg_walk_robust(contents, size)
    return window, int(sof), bool(found)


def _mutations(data: bytes, seed: int) -> list[bytes]:
    """Truncations and single-byte changes inside the headers."""
    rng = np.random.default_rng(seed)
    out = [data[:n] for n in (0, 1, 2, 3, 4, 5, 20, 100, 200, 400)]
    for pos in rng.integers(0, min(len(data), 700), 40):
        for value in (0x00, 0xFF, int(rng.integers(0, 256))):
            out.append(data[:pos] + bytes([value]) + data[pos + 1 :])
    return out


def test_window_walk_finds_what_the_robust_walk_finds(image_dir):
    """Whenever the straight-line walk reports a frame header, it is the one
    libjpeg's marker-by-marker walk reaches (same position), on every JPEG
    fixture and on truncated and corrupted variants of them; on unmodified
    libjpeg-written files it does report one (the hot path is taken)."""
    checked = found_by_window = 0
    for k, name in enumerate(sorted(n for n, c in CASES.items() if c[1] == "jpeg")):
        data = (image_dir / name).read_bytes()
        window, sof, found = _walks(data)
        if name.startswith("jpeg_q"):
            assert window["found"], name
            with Image.open(image_dir / name) as im:
                assert (int(window["height"]), int(window["width"])) == (im.height, im.width)
        for variant in [data, *_mutations(data, k)]:
            window, sof, found = _walks(variant)
            checked += 1
            if window["found"]:
                found_by_window += 1
                assert found and int(window["sof"]) == sof, name
    assert checked > 500 and found_by_window > checked // 4


def test_frame_header_past_the_window_takes_the_robust_walk(tmp_path):
    """A 6 KB ICC profile pushes the frame header out of the 4 KiB window:
    the file is still decoded exactly (through the checked path)."""
    data = _pil_bytes(Image.fromarray(_content(40, 56)), "JPEG", quality=90, icc_profile=b"\0" * 6000)
    window, sof, found = _walks(data)
    assert not window["found"] and found and sof > 6000
    path = tmp_path / "icc.jpg"
    path.write_bytes(data)
    assert_array_equal(decode_image(data, filename=str(path)).numpy(), _pillow(path, "rgb"))


def test_jpeg_with_zero_height_is_named():
    """A frame header declaring height 0 (DNL, which neither Pillow nor
    TensorFlow supports) is refused with the file's name and the reason."""
    data = bytearray(_pil_bytes(Image.fromarray(_content(16, 16)), "JPEG", quality=90))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 7] = b"\x00\x00"
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="cannot decode dnl.jpg: corrupt header"
    ):
        decode_image(bytes(data), filename="dnl.jpg")


def test_window_walk_does_not_read_stray_bytes_as_a_segment():
    """libjpeg skips stray bytes before a marker one at a time. Read as a
    segment length, ``00 0C`` would jump from byte 2 to byte 16, where this
    crafted header has an SOF-looking pair inside the real frame header at
    byte 6: the straight-line walk must give up instead (the robust walk
    then finds the real one)."""
    sof = b"\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03"  # real frame header at byte 6 ...
    fake = b"\xff\xc1\x00\x11\x08\x7f\xff\x7f\xff\x03"  # ... an SOF-looking pair at byte 16
    data = b"\xff\xd8" + b"\x00\x00\x00\x0c" + sof + fake + b"\x00" * 64 + b"\xff\xd9"
    assert data.index(fake) == 16
    window, sof_at, found = _walks(data)
    assert found and sof_at == 6
    assert not window["found"] or int(window["sof"]) == 6


def test_batch_walk_equals_the_window_walk(image_dir):
    """`_jpeg_window_walk_batch` (stepping, for batches) gives exactly what
    `_jpeg_window_walk` (tabulated, for one file) gives, every field, on
    every JPEG fixture and its truncated and corrupted variants at once."""
    from tfdirpipe import decode as decode_lib

    variants = []
    for k, name in enumerate(sorted(n for n, c in CASES.items() if c[1] == "jpeg")):
        data = (image_dir / name).read_bytes()
        variants += [data, *_mutations(data, k)]
        sof = data.find(b"\xff\xc0")
        if sof > 0:  # cut inside or just after the frame header's fields
            variants += [data[: sof + n] for n in range(7, 13)]
    # The frame header as the 1st .. 10th segment followed: around the
    # walk's last step (comment segments inserted after SOI).
    small = _pil_bytes(Image.fromarray(_content(8, 8)), "JPEG", quality=90)
    for n in range(10):
        variants.append(small[:2] + b"\xff\xfe\x00\x04ab" * n + small[2:])
    contents = tf.constant(variants)
    sizes = tf.strings.length(contents)
    heads = tf.strings.substr(contents, 0, decode_lib._JPEG_WINDOW)
    batch = {k: v.numpy() for k, v in decode_lib._jpeg_window_walk_batch(heads, sizes).items()}
    assert batch["found"].sum() > len(variants) // 4
    for i, data in enumerate(variants):
        one = decode_lib._jpeg_window_walk(tf.constant(data), tf.constant(len(data)))
        for key, value in one.items():
            assert batch[key][i] == value.numpy(), (i, key)


# --------------------------------------------------------------------------
# decode_batch: decode_image over a batch of files.


BATCH_SIZE = (5, 6)


def _finish(image, contents):
    """A fixed-shape finish that also uses the file: its length (mod 256) as
    the first value, so a file paired with another's image shows."""
    resized = tf.image.resize(image, BATCH_SIZE, method="nearest")
    length = tf.cast(tf.strings.length(contents) % 256, tf.uint8)
    return tf.tensor_scatter_nd_update(resized, [[0, 0, 0]], length[None])


def _batch_cases():
    return sorted(n for n, c in CASES.items() if c[1] != "tiff")


def _decode_batch_in_tf_data(datas, color_mode="rgb", names=None, **kwargs):
    """decode_batch inside a tf.data map, as image_dataset_from_directory runs it."""
    k = len(datas)
    names = names or [f"file{i}" for i in range(k)]
    ds = tf.data.Dataset.from_tensors((tf.constant(datas), tf.constant(names))).map(
        lambda c, n: decode_batch(
            tf.unstack(c, num=k), _finish, color_mode, filenames=n, **kwargs
        )
    )
    return next(iter(ds)).numpy()


def _fast_ratio(h, w):
    return tf.where(tf.minimum(h, w) >= 32, 2, 1)


@pytest.mark.parametrize("color_mode", COLOR_MODES)
@pytest.mark.parametrize(
    "options", [{}, {"jpeg_ratio": _fast_ratio, "dct_method": "INTEGER_FAST"}], ids=["exact", "fast"]
)
def test_decode_batch_equals_decode_image_file_by_file(image_dir, color_mode, options):
    """Every format and JPEG variant in one batch, the last two slots padding
    (``count``): file for file what `decode_image` and the finish give, and
    the padding is a finished black image of ``pad_size``."""
    names = _batch_cases()
    datas = [(image_dir / n).read_bytes() for n in names]
    datas += [datas[0], b"not an image, never read"]
    got = _decode_batch_in_tf_data(datas, color_mode, count=len(names), pad_size=(3, 2), **options)
    assert got.shape == (len(datas), *BATCH_SIZE, len(PIL_MODES[color_mode]))
    expect = tf.function(lambda data: _finish(decode_image(data, color_mode, **options), data))
    for name, data, image in zip(names, datas, got):
        assert_array_equal(image, expect(tf.constant(data)).numpy(), err_msg=name)
    blank = tf.zeros([3, 2, got.shape[-1]], tf.uint8)
    assert_array_equal(got[-2], _finish(blank, datas[-2]).numpy())
    assert_array_equal(got[-1], _finish(blank, datas[-1]).numpy())


def test_decode_batch_eagerly_and_without_names(image_dir):
    datas = [(image_dir / n).read_bytes() for n in ("jpeg_q75_420.jpg", "png_rgb.png")]
    got = decode_batch([tf.constant(d) for d in datas], _finish).numpy()
    for data, image in zip(datas, got):
        assert_array_equal(image, _finish(decode_image(data), data).numpy())


def _jpeg_bomb(image_dir) -> bytes:
    data = bytearray((image_dir / "jpeg_q90_444.jpg").read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    return bytes(data)


_BAD_IN_A_BATCH = [
    ("truncated", "truncated JPEG"),
    ("noise", "corrupt JPEG header"),
    ("text", "not an image"),
    ("bomb", "image too large: 60000 x 60000 pixels"),
]


def test_decode_batch_names_the_bad_file(image_dir):
    """A bad file first or last in a batch of good JPEGs fails with its name
    and the reason; beyond ``count`` (padding) it is never decoded."""
    good = (image_dir / "jpeg_q75_420.jpg").read_bytes()
    bad_files = {
        "truncated": good[: len(good) // 2],
        "noise": b"\xff\xd8\xff\xe0" + b"x" * 100 + b"\xff\xd9",
        "text": b"<html>not found</html>",
        "bomb": _jpeg_bomb(image_dir),
    }
    names = tf.constant(["a.jpg", "b.jpg", "c.jpg"])
    run = tf.function(
        lambda c, count: decode_batch(tf.unstack(c, num=3), _finish, filenames=names, count=count)
    )
    for bad, reason in _BAD_IN_A_BATCH:
        for position in (0, 2):
            datas = [good, good, good]
            datas[position] = bad_files[bad]
            name = names[position].numpy().decode()
            with pytest.raises(
                tf.errors.InvalidArgumentError, match=rf"cannot decode {name}: {reason}"
            ):
                run(tf.constant(datas), tf.constant(3))
        assert run(tf.constant(datas), tf.constant(2)).shape[0] == 3


def test_decode_batch_arguments():
    one = [tf.constant(b"")]
    with pytest.raises(ValueError, match=r"at least one file. Received: contents=\[\]"):
        decode_batch([], _finish)
    with pytest.raises(ValueError, match="`filenames` must name each of the 1 files"):
        decode_batch(one, _finish, filenames=["a", "b"])
    with pytest.raises(TypeError, match="not a tensor. Received: jpeg_ratio="):
        decode_batch(one, _finish, jpeg_ratio=tf.constant(2))
    with pytest.raises(ValueError, match="Invalid color mode"):
        decode_batch(one, _finish, "RGB")

    @tf.function
    def dynamic(c):
        return decode_batch([c], lambda image, contents: image)

    with pytest.raises(ValueError, match="`finish` must return one fully static shape"):
        dynamic(tf.constant(b""))
