"""Image bytes -> uint8 pixels as pure TensorFlow ops, matching Pillow bit for bit.

Keras's legacy loader opens every file with Pillow and converts it with
``img.convert("RGB" | "RGBA" | "L")``. This module reproduces those pixels
inside a ``tf.data`` graph (no ``py_function``, no numpy at run time, so it
also runs on tf.data service workers):

* The format is sniffed from the leading bytes, never from the file name.
* Headers are parsed with string ops that read only the bytes they need, so
  a decompression bomb is refused before any pixel memory is allocated.
* Each format is decoded with TensorFlow's own decoder where that matches
  Pillow (JPEG, PNG, GIF, WebP) and with small tensor programs where it does
  not (BMP, PNM); TIFF goes through tensorflow-io when its ops work.
* Conversions to ``"rgb"``, ``"rgba"`` and ``"grayscale"`` follow Pillow's
  ``convert``; grayscale uses Pillow's integer luma
  ``L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16``
  (``src/libImaging/Convert.c``), never libjpeg's or libpng's own formulas.

Exactness against Pillow 13 (``np.asarray(Image.open(f).convert(mode))``),
measured by ``tests/test_decode.py``:

=====================  ============================================================
JPEG                   exact: baseline/progressive, 4:4:4, 4:2:2, 4:2:0, grayscale,
                       with ``dct_method="INTEGER_ACCURATE"`` (libjpeg's ISLOW,
                       as Pillow). CMYK/YCCK: TensorFlow's CMYK->RGB floors where
                       Pillow rounds: differences of at most 1 (none when K=0).
PNG                    exact: 1/2/4/8-bit gray, gray+alpha, RGB, RGBA, palette
                       (with tRNS), gray/RGB with a tRNS colour key, interlaced.
                       16-bit: 8-bit high byte, as Pillow does for RGB(A); for
                       16-bit gray Pillow keeps ``I;16`` (Keras returns raw
                       values, ``convert`` saturates at 255): we return the high
                       byte instead (a deliberate, documented difference).
GIF                    exact for the first frame, transparency included (Pillow
                       shows the transparent index's palette colour, alpha 0).
                       A first frame smaller than the logical screen is refused.
BMP                    exact: 1/4/8-bit palette, 16-bit (555/565), 24-bit, 32-bit
                       (BI_RGB ignores the 4th byte as Pillow does; BITFIELDS with
                       byte-aligned masks, alpha when masked). RLE is refused.
WebP                   exact (TensorFlow's and Pillow's libwebp agree), lossy,
                       lossless, with and without alpha; first frame.
PNM                    exact for binary P4, P5 and P6 with maxval 255 and any
                       maxval < 255, and P6 with maxval > 255 (Pillow rounds
                       ``v / maxval * 255``). P5 with maxval > 255 is Pillow mode
                       ``I``; we scale it to 8 bits with that same rounding.
TIFF                   via tensorflow-io (RGBA from libtiff): RGB/gray exact;
                       libtiff premultiplies unassociated alpha.
=====================  ============================================================

Pillow raises ``DecompressionBombError`` only above twice
``MAX_IMAGE_PIXELS``; here any image declaring more than ``max_pixels``
(default ``MAX_IMAGE_PIXELS``) is refused.

Cost. A JPEG that ends with its end-of-image marker and whose frame header
is among its first eight segments inside its first 4 KiB takes a path with
no function call and no loop: a 3-byte signature test, a 2-byte EOI test,
the vectorised segment walk of `_jpeg_window_walk` (about 25 ops), the size
checks, then ``tf.io.decode_jpeg`` (about 60 small ops in all, ~50 us on 2
cores). (``tf.io.extract_jpeg_shape`` would be cheaper but raises, unnamed,
on files without a frame header.) Anything else goes through one
functional dispatch on the sniffed format, with full checks.
`decode_batch` runs the hot path's checks for a whole batch of
files as vectors (~10 ops per file fewer) and sends only the files that fail
them through the checked path. The public functions are excluded from
autograph.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import attr_value_pb2

from tfdirpipe import _tfio, _validate

__all__ = [
    "COLOR_MODES",
    "DCT_METHODS",
    "FORMATS",
    "MAX_IMAGE_PIXELS",
    "check_image",
    "decode_image",
    "decode_batch",
    "image_info",
    "sniff_format",
    "validate_color_mode",
]

ColorMode = Literal["rgb", "rgba", "grayscale"]

FORMATS: tuple[str, ...] = ("unknown", "jpeg", "png", "gif", "bmp", "webp", "pnm", "tiff")
"""Format names; a format code is an index into this tuple."""

UNKNOWN, JPEG, PNG, GIF, BMP, WEBP, PNM, TIFF = range(len(FORMATS))

MAX_IMAGE_PIXELS: int = 89_478_485
"""Pillow's ``Image.MAX_IMAGE_PIXELS``: the default decompression-bomb limit."""

COLOR_MODES: tuple[str, ...] = ("rgb", "rgba", "grayscale")
DCT_METHODS: tuple[str, ...] = ("INTEGER_ACCURATE", "INTEGER_FAST", "")
JPEG_RATIOS: tuple[int, ...] = (1, 2, 4, 8)
_CHANNELS = _validate.COLOR_CHANNELS

# Bytes read from the end of a file when looking for its end marker.
_TAIL_WINDOW = 1024
_MAX_WALK_STEPS = 1 << 16
# Byte-at-a-time JPEG steps (stray bytes between segments) before giving up.
_MAX_ROBUST_STEPS = 4096


# --------------------------------------------------------------------------
# Status codes: why an image cannot be decoded (index into _STATUS_TEXT).

_OK = 0
_NOT_IMAGE = 1
_TOO_LARGE = 2
_BAD_SIZE = 3
_JPEG_HEADER = 4
_JPEG_TRUNCATED = 5
_PNG_HEADER = 6
_PNG_TRUNCATED = 7
_GIF_HEADER = 8
_GIF_TRUNCATED = 9
_GIF_LAYOUT = 10
_BMP_HEADER = 11
_BMP_DEPTH = 12
_BMP_COMPRESSION = 13
_BMP_BITFIELDS = 14
_BMP_TRUNCATED = 15
_WEBP_HEADER = 16
_WEBP_TRUNCATED = 17
_PNM_HEADER = 18
_PNM_VARIANT = 19
_PNM_TRUNCATED = 20
_TIFF_HEADER = 21
_TIFF_UNAVAILABLE = 22

_STATUS_TEXT: tuple[str, ...] = (
    "",
    "not an image (the leading bytes match none of JPEG, PNG, GIF, BMP, WebP, PNM, TIFF)",
    "image too large",
    "corrupt header (zero or negative width or height)",
    "corrupt JPEG header (no frame header before the image data)",
    "truncated JPEG (no end-of-image marker)",
    "corrupt PNG header (no IHDR chunk)",
    "truncated PNG (no complete IEND chunk)",
    "corrupt GIF (no image descriptor)",
    "truncated GIF (no trailer after the last block)",
    "unsupported GIF layout (the first frame does not cover the logical screen)",
    "unsupported BMP header size",
    "unsupported BMP pixel depth",
    "unsupported BMP compression (RLE, JPEG and PNG compressed BMPs are not decoded)",
    "unsupported BMP bitfields layout",
    "truncated BMP (pixel data shorter than the header declares)",
    "corrupt WebP header",
    "truncated WebP (the RIFF size exceeds the file)",
    "corrupt PNM header",
    "unsupported PNM variant (only binary P4, P5 and P6 are decoded)",
    "truncated PNM (pixel data shorter than the header declares)",
    "corrupt TIFF header",
    "unsupported format TIFF",
)


class _Parsed(NamedTuple):
    """A parsed header: sizes (-1 when unknown), a status, format extras."""

    height: tf.Tensor
    width: tf.Tensor
    status: tf.Tensor
    extra: dict[str, tf.Tensor]


# --------------------------------------------------------------------------
# Argument validation (Python, before any graph is built).


def validate_color_mode(color_mode: Any) -> str:
    """Returns ``color_mode`` if it is one of ``"rgb"``, ``"rgba"``, ``"grayscale"``.

    Args:
        color_mode: The requested colour mode.

    Returns:
        The validated colour mode.

    Raises:
        ValueError: With Keras's message, followed by ``Received: color_mode=...``.
    """
    if not isinstance(color_mode, str) or color_mode not in COLOR_MODES:
        raise ValueError(
            f'Invalid color mode: {color_mode}; expected "rgb", "rgba", or "grayscale". '
            f"Received: color_mode={color_mode!r}"
        )
    return color_mode


def _validate_max_pixels(max_pixels: Any) -> int | None:
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral):
        raise TypeError(
            f"`max_pixels` must be None or a positive int. Received: max_pixels={max_pixels!r}"
        )
    if max_pixels <= 0:
        raise ValueError(
            f"`max_pixels` must be None or a positive int. Received: max_pixels={max_pixels!r}"
        )
    return int(max_pixels)


def _validate_dct_method(dct_method: Any) -> str:
    if not isinstance(dct_method, str) or dct_method not in DCT_METHODS:
        raise ValueError(
            '`dct_method` must be one of "INTEGER_ACCURATE", "INTEGER_FAST", "". '
            f"Received: dct_method={dct_method!r}"
        )
    return dct_method


def _validate_jpeg_ratio(jpeg_ratio: Any) -> int | tf.Tensor | Callable:
    if callable(jpeg_ratio) and not isinstance(jpeg_ratio, (tf.Tensor, tf.Variable)):
        return jpeg_ratio  # fn(height, width) -> ratio, called on the parsed header
    if isinstance(jpeg_ratio, (tf.Tensor, tf.Variable)):
        if not jpeg_ratio.dtype.is_integer or jpeg_ratio.shape.rank not in (None, 0):
            raise TypeError(
                "`jpeg_ratio` must be an int or a scalar integer tensor. "
                f"Received: jpeg_ratio={jpeg_ratio!r}"
            )
        return tf.cast(jpeg_ratio, tf.int32)
    if isinstance(jpeg_ratio, bool) or not isinstance(jpeg_ratio, numbers.Integral):
        raise TypeError(
            "`jpeg_ratio` must be an int or a scalar integer tensor. "
            f"Received: jpeg_ratio={jpeg_ratio!r}"
        )
    if jpeg_ratio not in JPEG_RATIOS:
        raise ValueError(
            f"`jpeg_ratio` must be one of 1, 2, 4, 8. Received: jpeg_ratio={jpeg_ratio!r}"
        )
    return int(jpeg_ratio)


def _scalar_string(contents: Any) -> tf.Tensor:
    contents = tf.convert_to_tensor(contents, dtype=tf.string, name="contents")
    if contents.shape.rank not in (None, 0):
        raise ValueError(
            "`contents` must be a scalar string tensor (one encoded image). "
            f"Received: contents with shape {contents.shape}"
        )
    return contents


# --------------------------------------------------------------------------
# Byte access helpers (int32 values; u32 fields as int64).


def _read_string(contents: tf.Tensor, size: tf.Tensor, pos: Any, n: int) -> tf.Tensor:
    """Exactly ``n`` bytes at ``pos`` as a string, zero-padded past the end."""
    pos = tf.clip_by_value(tf.cast(pos, tf.int32), 0, size)
    padded = tf.strings.join([tf.strings.substr(contents, pos, n), b"\0" * n])
    return tf.strings.substr(padded, 0, n)


def _read(contents: tf.Tensor, size: tf.Tensor, pos: Any, n: int) -> tf.Tensor:
    """``n`` bytes at ``pos`` as int32 ``[n]``, zero-padded past the end."""
    raw = tf.io.decode_raw(_read_string(contents, size, pos, n), tf.uint8)
    return tf.reshape(tf.cast(raw, tf.int32), [n])


def _read_words(
    contents: tf.Tensor, size: tf.Tensor, pos: Any, dtype: tf.DType, n: int, little: bool
) -> tf.Tensor:
    """``n`` integers of ``dtype`` at ``pos`` (zero-padded past the end)."""
    nbytes = n * dtype.size
    raw = tf.io.decode_raw(_read_string(contents, size, pos, nbytes), dtype, little_endian=little)
    return tf.reshape(raw, [n])


def _fields(b: tf.Tensor, spec: list[tuple[int, int, bool]]) -> list[tf.Tensor]:
    """Unsigned integer fields of int32 bytes ``b``, as int64 scalars.

    Args:
        b: int32 ``[n]`` byte values.
        spec: One ``(offset, width_in_bytes, little_endian)`` per field (width <= 4).

    Returns:
        One int64 scalar per field (one gather, whatever the number of fields).
    """
    index, weight = [], []
    for pos, width, little in spec:
        index.append([pos + k for k in range(width)] + [pos] * (4 - width))
        weight.append(
            [256 ** (k if little else width - 1 - k) for k in range(width)] + [0] * (4 - width)
        )
    values = tf.cast(tf.gather(b, index), tf.int64) * tf.constant(weight, tf.int64)
    return tf.unstack(tf.reduce_sum(values, axis=1), num=len(spec))


def _signed32(v: tf.Tensor) -> tf.Tensor:
    return tf.where(v >= 2**31, v - 2**32, v)


def _to_int32(v: tf.Tensor) -> tf.Tensor:
    """int64 size -> int32; values outside int32 become -1."""
    return tf.cast(tf.where(tf.abs(v) > 2**31 - 1, tf.constant(-1, tf.int64), v), tf.int32)


def _byte_table() -> tf.Tensor:
    return tf.constant([bytes([i]) for i in range(256)])


def _bytes_to_string(values: tf.Tensor) -> tf.Tensor:
    """int32 ``[n]`` byte values -> scalar string of those bytes."""
    return tf.strings.reduce_join(tf.gather(_byte_table(), values))


def _find_pair(data: tf.Tensor, a: int, b: int) -> tf.Tensor:
    """Whether uint8 ``data`` contains the byte pair ``a, b``."""
    return tf.reduce_any(tf.logical_and(tf.equal(data[:-1], a), tf.equal(data[1:], b)))


def _find_iend(data: tf.Tensor) -> tf.Tensor:
    """Whether uint8 ``data`` contains ``IEND`` followed by its 4 CRC bytes."""
    m = tf.maximum(tf.shape(data)[0] - 7, 0)
    hit = tf.ones([m], tf.bool)
    for k, ch in enumerate(b"IEND"):
        hit = tf.logical_and(hit, tf.equal(data[k : k + m], ch))
    return tf.reduce_any(hit)


def _tail(contents: tf.Tensor, size: tf.Tensor, n: int) -> tf.Tensor:
    return tf.io.decode_raw(tf.strings.substr(contents, tf.maximum(size - n, 0), n), tf.uint8)


def _from(contents: tf.Tensor, size: tf.Tensor, start: tf.Tensor) -> tf.Tensor:
    start = tf.clip_by_value(tf.cast(start, tf.int32), 0, size)
    return tf.io.decode_raw(tf.strings.substr(contents, start, size - start), tf.uint8)


def _status(*pairs: tuple[Any, int]) -> tf.Tensor:
    """The code of the first condition that holds, else ``_OK``."""
    out = tf.constant(_OK, tf.int32)
    for cond, code in reversed(pairs):
        out = tf.where(cond, tf.constant(code, tf.int32), out)
    return out


def _in(x: tf.Tensor, values: tuple[int, ...]) -> tf.Tensor:
    return tf.reduce_any(tf.equal(x, tf.constant(values, x.dtype)))


# Autograph would re-convert every nested branch function on each trace
# (seconds per call); nothing here needs it: control flow is explicit.
_no_autograph = tf.autograph.experimental.do_not_convert


# --------------------------------------------------------------------------
# Control flow that stays functional.
#
# In graphs TensorFlow lowers `If`/`Case` to Switch/Merge, and tf.data's
# executor then visits every node of the branches *not* taken, on every
# element (measured: ~1 us per node; one branch per format is thousands of
# nodes). The dispatch points keep the functional op instead, a function
# call that runs only the taken branch. The JPEG hot path in `decode_image`
# uses a lowered cond whose other branch is a single functional op, so it
# pays neither a function call nor dead nodes.


def _keep_functional(outputs: Any) -> None:
    if tf.executing_eagerly():
        return
    for t in tf.nest.flatten(outputs):
        op = t.op
        while op.type == "Identity" and op.inputs:
            op = op.inputs[0].op
        if op.type in ("If", "StatelessIf", "Case", "StatelessCase"):
            try:
                op._set_attr(
                    "_lower_using_switch_merge", attr_value_pb2.AttrValue(b=False)
                )  # noqa: SLF001
            except (AttributeError, ValueError):  # private API moved: only slower
                pass
            return


def _cond(pred: tf.Tensor, true_fn: Callable[[], Any], false_fn: Callable[[], Any]) -> Any:
    """``tf.cond`` that runs only the taken branch (see `_keep_functional`)."""
    out = tf.cond(pred, true_fn, false_fn)
    _keep_functional(out)
    return out


def _switch(index: tf.Tensor, branches: list[Callable[[], Any]]) -> Any:
    """``tf.switch_case`` that runs only the taken branch."""
    out = tf.switch_case(index, branches)
    _keep_functional(out)
    return out


# --------------------------------------------------------------------------
# Sniffing.


def _signatures() -> list[tuple[int, bytes]]:
    sigs = [
        (JPEG, b"\xff\xd8\xff"),
        (PNG, b"\x89PNG\r\n\x1a\n"),
        (GIF, b"GIF87a"),
        (GIF, b"GIF89a"),
        (BMP, b"BM"),
        (WEBP, b"RIFF????WEBP"),
        (TIFF, b"II*\x00"),
        (TIFF, b"MM\x00*"),
        (TIFF, b"II+\x00"),
        (TIFF, b"MM\x00+"),
    ]
    for digit in b"123456":
        for space in b" \t\n\x0b\x0c\r":
            sigs.append((PNM, bytes([ord("P"), digit, space])))
    return sigs


_SNIFF_BYTES = 12


def _is_jpeg(contents: tf.Tensor) -> tf.Tensor:
    """The JPEG signature test alone: two ops, for the hot path."""
    return tf.equal(tf.strings.substr(contents, 0, 3), b"\xff\xd8\xff")


@_no_autograph
def sniff_format(contents: Any) -> tf.Tensor:
    """The image format of encoded bytes, from their signature.

    The file name and extension play no part: a PNG named ``x.jpg`` is a PNG.

    Args:
        contents: Scalar string tensor: the encoded file.

    Returns:
        int32 scalar: an index into `FORMATS` (0, ``"unknown"``, when no
        signature matches).
    """
    contents = _scalar_string(contents)
    sigs = _signatures()
    table = [
        [sig[k] if k < len(sig) and sig[k] != ord("?") else -1 for k in range(_SNIFF_BYTES)]
        for _, sig in sigs
    ]
    codes = [code for code, _ in sigs]
    raw = tf.io.decode_raw(tf.strings.substr(contents, 0, _SNIFF_BYTES), tf.uint8)
    head = tf.pad(
        tf.cast(raw, tf.int32), [[0, _SNIFF_BYTES - tf.shape(raw)[0]]], constant_values=-2
    )
    table_t = tf.constant(table, tf.int32)
    match = tf.reduce_all(
        tf.logical_or(tf.equal(table_t, -1), tf.equal(table_t, head[None, :])), axis=1
    )
    return tf.reduce_max(tf.where(match, tf.constant(codes, tf.int32), 0))


# --------------------------------------------------------------------------
# Header parsers: (contents, size, truncation) -> _Parsed.


def _parse_unknown(contents: tf.Tensor, size: tf.Tensor, truncation: bool) -> _Parsed:
    del contents, size, truncation
    minus = tf.constant(-1, tf.int32)
    return _Parsed(minus, minus, tf.constant(_NOT_IMAGE, tf.int32), {})


_SOF_MARKERS = tuple(m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC))


# Indexed by the big-endian word at a segment start minus 0xFEFF (0 for any
# word not starting with 0xFF): 0 a segment to skip, 1 a frame header (SOF),
# 2 anything unusual (no marker, fill or stray bytes, RST, SOI, EOI, SOS),
# which sends the file to `_jpeg_walk_robust`.
_JPEG_ACTIONS = tuple(
    (
        1
        if m in _SOF_MARKERS
        else 2 if m in (-1, 0x00, 0x01, 0xD8, 0xD9, 0xDA, 0xFF) or 0xD0 <= m <= 0xD7 else 0
    )
    for m in range(-1, 256)
)
# The window the hot path walks: libjpeg's own files put the frame header
# near byte 160; an sRGB ICC profile (APP2, ~3 KB) or a small Exif block
# still fits. Frame headers further in take the robust walk.
_JPEG_WINDOW = 4096
# Segments followed (SOI, APP0, APP1, APP2, DQT, DQT, DHT, SOF ...).
_JPEG_WINDOW_STEPS = 8
# Positions from here on are not followed: the frame header's fields
# (up to 10 bytes after its marker) must lie inside the window.
_JPEG_SINK = _JPEG_WINDOW - 12
# Positions 2 .. window - 1 (a constant, not a Range op run per image).
_FROM_TWO = np.arange(2, _JPEG_WINDOW, dtype=np.int32)
# A word's two byte offsets and weights (big-endian).
_WORD = np.array([0, 1], dtype=np.int32)
_WORD_WEIGHTS = np.array([256, 1], dtype=np.int32)


def _jpeg_window_walk(contents: tf.Tensor, size: tf.Tensor) -> dict[str, tf.Tensor]:
    """The frame header among the first segments inside the first 4 KiB.

    Vectorised, with no loop and no branch (about 25 ops, against 60 for
    reading segment by segment): the big-endian word at every byte position
    of the window, each position's next segment (``pos + 2 + length``) as a
    table, then `_JPEG_WINDOW_STEPS` lookups in it. Safe on any input
    (zero-padded window, positions clamped to `_JPEG_SINK`). Anything
    unusual, or a frame header beyond the window or the steps, gives
    ``found`` False and the caller takes `_jpeg_walk_robust`.

    Returns:
        ``{"found", "sof", "height", "width", "components"}``, int32 / bool
        scalars; the sizes mean something only when ``found``.
    """
    n = _JPEG_WINDOW
    # Words at even and at odd offsets, interleaved: word[p] = b[p] << 8 | b[p + 1].
    even = tf.io.decode_raw(
        tf.strings.substr(contents, 0, n), tf.uint16, little_endian=False, fixed_length=n
    )
    odd = tf.io.decode_raw(
        tf.strings.substr(contents, tf.minimum(size, 1), n),
        tf.uint16, little_endian=False, fixed_length=n,
    )
    words = tf.cast(tf.reshape(tf.stack([even, odd], axis=1), [n]), tf.int32)
    # nxt[p]: where the segment starting at p ends (its length word is at p + 2).
    nxt = tf.minimum(words[2:] + _FROM_TWO, _JPEG_SINK)
    positions = [tf.constant(2)]
    for _ in range(_JPEG_WINDOW_STEPS - 1):
        positions.append(tf.gather(nxt, positions[-1]))
    positions = tf.stack(positions)
    action = tf.gather(
        tf.constant(_JPEG_ACTIONS), tf.maximum(tf.gather(words, positions) - 0xFEFF, 0)
    )
    first = tf.argmax(tf.not_equal(action, 0), output_type=tf.int32)
    sof = tf.gather(positions, first)
    fields = tf.gather(words, sof + tf.constant([5, 7, 8]))  # height, width, (x, components)
    found = tf.logical_and(
        tf.equal(tf.gather(action, first), 1),
        tf.logical_and(sof < _JPEG_SINK, sof + 10 <= size),
    )
    return {
        "found": found,
        "sof": sof,
        "height": fields[0],
        "width": fields[1],
        "components": tf.bitwise.bitwise_and(fields[2], 0xFF),
    }


def _jpeg_window_walk_batch(heads: tf.Tensor, sizes: tf.Tensor) -> dict[str, tf.Tensor]:
    """`_jpeg_window_walk` for ``K`` files at once: the same results, per file.

    ``heads`` ``[K]`` holds each file's first `_JPEG_WINDOW` bytes (or all
    of a shorter file) and ``sizes`` ``[K]`` the files' sizes. Stepping
    from segment to segment by gathers, rather than tabulating every
    position's next segment: on a batch the table's ``[K, 4096]`` int32
    arithmetic costs more than its op count saves (on one file the
    trade-off goes the other way, hence two walks; tests hold them equal).

    Returns:
        The dict of `_jpeg_window_walk`, each value ``[K]``.
    """
    n = _JPEG_WINDOW
    data = tf.io.decode_raw(heads, tf.uint8, fixed_length=n)  # zero-padded [K, n]

    def words_at(positions: tf.Tensor) -> tf.Tensor:
        """Big-endian word at each of ``positions`` ``[K, m]``."""
        pair = tf.cast(tf.gather(data, positions[..., None] + _WORD, batch_dims=1), tf.int32)
        return tf.reduce_sum(pair * _WORD_WEIGHTS, axis=-1)

    pos = tf.fill(tf.shape(sizes), 2)
    positions = [pos]
    for _ in range(_JPEG_WINDOW_STEPS - 1):
        pos = tf.minimum(pos + 2 + words_at(pos[:, None] + 2)[:, 0], _JPEG_SINK)
        positions.append(pos)
    positions = tf.stack(positions, axis=1)  # [K, steps]
    action = tf.gather(tf.constant(_JPEG_ACTIONS), tf.maximum(words_at(positions) - 0xFEFF, 0))
    first = tf.argmax(tf.not_equal(action, 0), axis=1, output_type=tf.int32)
    sof = tf.gather(positions, first, batch_dims=1)
    fields = words_at(sof[:, None] + tf.constant([5, 7, 8]))  # height, width, (x, components)
    found = tf.logical_and(
        tf.equal(tf.gather(action, first, batch_dims=1), 1),
        tf.logical_and(sof < _JPEG_SINK, sof + 10 <= sizes),
    )
    return {
        "found": found,
        "sof": sof,
        "height": fields[:, 0],
        "width": fields[:, 1],
        "components": tf.bitwise.bitwise_and(fields[:, 2], 0xFF),
    }


def _jpeg_walk_robust(contents: tf.Tensor, size: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Follows JPEG segments from SOI to the first SOF as libjpeg does.

    Fill bytes (``FF FF``) and stray bytes between segments are skipped one
    at a time, as libjpeg tolerates them.

    Returns:
        ``(sof_position, found)``.
    """

    def body(pos, state):
        b0, marker, hi, lo = tf.unstack(_read(contents, size, pos, 4), num=4)
        is_ff = tf.equal(b0, 0xFF)
        fill = tf.logical_and(is_ff, tf.equal(marker, 0xFF))
        standalone = tf.logical_and(
            is_ff,
            tf.logical_or(tf.logical_and(marker >= 0xD0, marker <= 0xD7), marker <= 0x01),
        )
        segment = tf.logical_and(is_ff, tf.logical_not(tf.logical_or(fill, standalone)))
        is_sof = tf.logical_and(is_ff, _in(marker, _SOF_MARKERS))
        length = hi * 256 + lo
        fatal = tf.logical_or(
            tf.logical_and(is_ff, _in(marker, (0xD8, 0xD9, 0xDA))),
            tf.logical_or(pos + 4 > size, tf.logical_and(segment, length < 2)),
        )
        step = tf.where(segment, 2 + length, tf.where(standalone, 2, 1))
        state = tf.where(
            tf.logical_and(is_sof, pos + 10 <= size),
            1,
            tf.where(tf.logical_or(fatal, is_sof), 2, 0),
        )
        return tf.where(tf.equal(state, 0), pos + step, pos), state

    sof, state = tf.while_loop(
        lambda pos, state: tf.equal(state, 0),
        body,
        (tf.constant(2), tf.constant(0)),
        maximum_iterations=_MAX_ROBUST_STEPS,
        parallel_iterations=1,
    )
    return sof, tf.equal(state, 1)


def _jpeg_has_eoi(contents: tf.Tensor, size: tf.Tensor, sof: tf.Tensor) -> tf.Tensor:
    """EOI near the end (bytes after it are common and harmless); else, and
    only then, anywhere after the frame header (e.g. motion-photo trailers)."""
    near_end = _find_pair(_tail(contents, size, _TAIL_WINDOW), 0xFF, 0xD9)
    return tf.cond(
        near_end,
        lambda: tf.constant(True),
        lambda: _find_pair(_from(contents, size, sof), 0xFF, 0xD9),
    )


def _parse_jpeg(contents: tf.Tensor, size: tf.Tensor, truncation: bool) -> _Parsed:
    walk = _jpeg_window_walk(contents, size)
    sof, found = _cond(
        walk["found"],
        lambda: (walk["sof"], walk["found"]),
        lambda: _jpeg_walk_robust(contents, size),
    )
    h, w, components = _fields(
        _read(contents, size, sof + 5, 5), [(0, 2, False), (2, 2, False), (4, 1, False)]
    )
    h = tf.where(found, tf.cast(h, tf.int32), -1)
    w = tf.where(found, tf.cast(w, tf.int32), -1)
    pairs = [(tf.logical_not(found), _JPEG_HEADER)]
    if truncation:
        pairs.append((tf.logical_not(_jpeg_has_eoi(contents, size, sof)), _JPEG_TRUNCATED))
    return _Parsed(h, w, _status(*pairs), {"components": tf.cast(components, tf.int32)})


_IEND_CHUNK = b"\0\0\0\0IEND\xaeB`\x82"


def _png_ihdr(contents: tf.Tensor, size: tf.Tensor) -> tuple[tf.Tensor, ...]:
    """``(ok, height, width, bit_depth, color_type)`` from the IHDR chunk."""
    tag, w, h, flags = tf.unstack(_read_words(contents, size, 12, tf.int32, 4, little=False), num=4)
    # Sizes above 2**31 - 1 read as negative: invalid in PNG.
    ok = tf.logical_and(
        tf.logical_and(tf.equal(tag, int.from_bytes(b"IHDR", "big")), size >= 33),
        tf.logical_and(h > 0, w > 0),
    )
    bit_depth = tf.bitwise.right_shift(flags, 24)
    color_type = tf.bitwise.bitwise_and(tf.bitwise.right_shift(flags, 16), 0xFF)
    return ok, h, w, bit_depth, color_type


def _png_has_iend(contents: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """A complete IEND chunk at the very end, or (checked only then) anywhere."""
    exact = tf.equal(tf.strings.substr(contents, tf.maximum(size - 12, 0), 12), _IEND_CHUNK)
    return tf.cond(exact, lambda: tf.constant(True), lambda: _find_iend(_from(contents, size, 33)))


def _parse_png(contents: tf.Tensor, size: tf.Tensor, truncation: bool) -> _Parsed:
    ok, h, w, bit_depth, color_type = _png_ihdr(contents, size)
    pairs = [(tf.logical_not(ok), _PNG_HEADER)]
    if truncation:
        pairs.append((tf.logical_not(_png_has_iend(contents, size)), _PNG_TRUNCATED))
    extra = {"bit_depth": bit_depth, "color_type": color_type}
    return _Parsed(tf.where(ok, h, -1), tf.where(ok, w, -1), _status(*pairs), extra)


def _gif_walk(
    contents: tf.Tensor, size: tf.Tensor, start: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Follows GIF blocks to the first image descriptor.

    Returns:
        ``(gce_position, descriptor_position)``: the graphic control extension
        before the first image (-1 if none) and that image's descriptor (-1
        if there is none).
    """

    def body(pos, in_sub_blocks, gce, desc):
        b0, b1 = tf.unstack(_read(contents, size, pos, 2), num=2)
        at_block = tf.logical_not(in_sub_blocks)
        is_ext = tf.logical_and(at_block, tf.equal(b0, 0x21))
        is_desc = tf.logical_and(at_block, tf.equal(b0, 0x2C))
        bad = tf.logical_or(
            tf.logical_and(at_block, tf.logical_not(tf.logical_or(is_ext, is_desc))), pos >= size
        )
        gce = tf.where(tf.logical_and(is_ext, tf.equal(b1, 0xF9)), pos, gce)
        desc = tf.where(is_desc, pos, tf.where(bad, -2, desc))
        new_pos = tf.where(is_ext, pos + 2, tf.where(at_block, pos, pos + 1 + b0))
        in_sub_blocks = tf.logical_or(is_ext, tf.logical_and(in_sub_blocks, tf.not_equal(b0, 0)))
        return new_pos, in_sub_blocks, gce, desc

    _, _, gce, desc = tf.while_loop(
        lambda pos, sub, gce, desc: tf.equal(desc, -1),
        body,
        (start, tf.constant(False), tf.constant(-1), tf.constant(-1)),
        maximum_iterations=_MAX_WALK_STEPS,
        parallel_iterations=1,
    )
    return gce, tf.maximum(desc, -1)


def _parse_gif(contents: tf.Tensor, size: tf.Tensor, truncation: bool) -> _Parsed:
    screen = _fields(_read(contents, size, 0, 13), [(6, 2, True), (8, 2, True), (10, 1, True)])
    width, height, flags = (tf.cast(v, tf.int32) for v in screen)
    if not truncation:  # image_info: the logical screen is Pillow's size
        return _Parsed(height, width, _status((size < 13, _GIF_HEADER)), {})
    has_gct = flags >= 0x80
    gct_size = 3 * tf.bitwise.left_shift(2, tf.bitwise.bitwise_and(flags, 7))
    gce, desc = _gif_walk(contents, size, 13 + tf.where(has_gct, gct_size, 0))
    frame = _fields(
        _read(contents, size, desc, 10),
        [(1, 2, True), (3, 2, True), (5, 2, True), (7, 2, True), (9, 1, True)],
    )
    frame = tf.cast(tf.stack(frame), tf.int32)
    covers = tf.reduce_all(tf.equal(frame[:4], tf.stack([0, 0, width, height])))
    control, index = _fields(_read(contents, size, gce, 7), [(3, 1, True), (6, 1, True)])
    table = tf.where(frame[4] >= 0x80, desc + 10, tf.where(has_gct, 13, -1))
    transparent = tf.logical_and(tf.logical_and(gce >= 0, table >= 0), tf.equal(control % 2, 1))
    trailer = _find_pair(_tail(contents, size, _TAIL_WINDOW), 0x00, 0x3B)
    status = _status(
        (desc < 0, _GIF_HEADER),
        (tf.logical_not(covers), _GIF_LAYOUT),
        (tf.logical_not(trailer), _GIF_TRUNCATED),
    )
    extra = {
        "gce": gce,
        "transparent": transparent,
        "index": tf.cast(index, tf.int32),
        "table": table,
    }
    return _Parsed(height, width, status, extra)


_BMP_HEADER_SIZES = (12, 40, 52, 56, 64, 108, 124)


def _parse_bmp(contents: tf.Tensor, size: tf.Tensor, truncation: bool) -> _Parsed:
    """Pillow's ``BmpImagePlugin._bitmap`` header rules, as tensors."""
    spec = [
        (10, 4),
        (14, 4),
        (18, 4),
        (22, 4),
        (18, 2),
        (20, 2),
        (28, 2),
        (24, 2),
        (30, 4),
        (46, 4),
    ]
    spec += [(54, 4), (58, 4), (62, 4), (66, 4), (25, 1)]
    values = _fields(_read(contents, size, 0, 70), [(pos, n, True) for pos, n in spec])
    offset, header, width, height, width16, height16, bits, bits16, compression, colors = values[
        :10
    ]
    *masks, flip = values[10:]
    core = tf.equal(header, 12)  # OS/2 1.x: 16-bit sizes, always bottom-up, 3-byte palette
    top_down = tf.logical_and(tf.logical_not(core), tf.equal(flip, 0xFF))
    width = tf.where(core, width16, _signed32(width))
    height = tf.where(core, height16, _signed32(height))
    height = tf.where(top_down, -height, height)
    bits = tf.where(core, bits16, bits)
    compression = tf.where(core, tf.constant(0, tf.int64), compression)
    colors = tf.where(
        tf.logical_or(core, tf.equal(colors, 0)),
        tf.bitwise.left_shift(tf.constant(1, tf.int64), tf.minimum(bits, 32)),
        colors,
    )
    masks[3] = tf.where(header >= 56, masks[3], 0)
    masks = tf.stack(masks)

    # Bitfields: 32-bit masks each one whole byte (Pillow's list of layouts
    # is a subset), 24-bit BGR, 16-bit 565 or 555.
    is_byte = tf.equal(masks[:, None], tf.constant([0xFF, 0xFF00, 0xFF0000, 0xFF000000], tf.int64))
    uses = tf.reduce_sum(tf.cast(is_byte, tf.int32), axis=0)
    all_zero = tf.reduce_all(tf.equal(masks, 0))
    fields32 = tf.logical_or(
        all_zero,
        tf.reduce_all(
            tf.stack(
                [
                    tf.reduce_all(tf.reduce_any(is_byte[:3], axis=1)),
                    tf.logical_or(tf.equal(masks[3], 0), tf.reduce_any(is_byte[3])),
                    tf.reduce_max(uses) <= 1,
                ]
            )
        ),
    )

    def masks_are(values: tuple[int, int, int]) -> tf.Tensor:
        return tf.reduce_all(tf.equal(masks[:3], tf.constant(values, tf.int64)))

    is565 = masks_are((0xF800, 0x7E0, 0x1F))
    fields_ok = tf.where(
        tf.equal(bits, 32),
        fields32,
        tf.where(
            tf.equal(bits, 24),
            masks_are((0xFF0000, 0xFF00, 0xFF)),
            tf.logical_and(
                tf.equal(bits, 16), tf.logical_or(is565, masks_are((0x7C00, 0x3E0, 0x1F)))
            ),
        ),
    )
    bitfields = tf.equal(compression, 3)

    palette_bytes = tf.where(bits <= 8, tf.where(core, tf.constant(3, tf.int64), 4) * colors, 0)
    offset = tf.where(
        tf.logical_and(tf.equal(offset, 14 + header), bits <= 8), offset + palette_bytes, offset
    )
    after_header = (
        14
        + header
        + tf.where(tf.logical_and(tf.equal(header, 40), bitfields), tf.constant(12, tf.int64), 0)
    )
    offset = tf.where(tf.equal(offset, 0), after_header + palette_bytes, offset)
    stride = tf.bitwise.bitwise_and(tf.bitwise.right_shift(width * bits + 31, 3), ~3)

    pairs = [
        (tf.logical_or(size < 30, tf.logical_not(_in(header, _BMP_HEADER_SIZES))), _BMP_HEADER),
        (tf.logical_not(_in(bits, (1, 4, 8, 16, 24, 32))), _BMP_DEPTH),
        (tf.logical_not(_in(compression, (0, 3))), _BMP_COMPRESSION),
        (tf.logical_and(bitfields, tf.logical_not(fields_ok)), _BMP_BITFIELDS),
        (tf.logical_and(bits <= 8, colors > 65536), _BMP_HEADER),
    ]
    if truncation:
        end = offset + stride * tf.maximum(height, 0)
        pairs.append((end > tf.cast(size, tf.int64), _BMP_TRUNCATED))
    byte_index = tf.argmax(tf.cast(is_byte, tf.int32), axis=1, output_type=tf.int32)
    extra = {
        "bits": tf.cast(bits, tf.int32),
        "palette_at": tf.cast(14 + tf.minimum(header, 1 << 20), tf.int32),
        "core": core,
        "colors": tf.cast(tf.minimum(colors, 256), tf.int32),
        "offset": _to_int32(offset),
        "stride": _to_int32(stride),
        "top_down": top_down,
        "is565": tf.logical_and(bitfields, is565),
        "channel_index": tf.where(
            tf.logical_or(tf.logical_not(bitfields), all_zero),
            tf.constant([2, 1, 0, 3]),
            byte_index,
        ),
        "alpha": tf.logical_and(
            tf.logical_and(tf.equal(bits, 32), bitfields),
            tf.logical_or(all_zero, tf.not_equal(masks[3], 0)),
        ),
    }
    return _Parsed(_to_int32(height), _to_int32(width), _status(*pairs), extra)


def _parse_webp(contents: tf.Tensor, size: tf.Tensor, truncation: bool) -> _Parsed:
    spec = [(4, 4, True), (12, 4, False), (20, 1, True), (21, 4, True), (23, 3, False)]
    spec += [(26, 2, True), (28, 2, True), (24, 3, True), (27, 3, True)]
    riff, chunk, signature, bits, start_code, w14, h14, w24, h24 = _fields(
        _read(contents, size, 0, 30), spec
    )
    lossy = tf.logical_and(
        tf.equal(chunk, int.from_bytes(b"VP8 ", "big")), tf.equal(start_code, 0x9D012A)
    )
    lossless = tf.logical_and(
        tf.equal(chunk, int.from_bytes(b"VP8L", "big")), tf.equal(signature, 0x2F)
    )
    extended = tf.equal(chunk, int.from_bytes(b"VP8X", "big"))
    w = tf.where(lossy, w14 % 16384, tf.where(lossless, bits % 16384 + 1, w24 + 1))
    h = tf.where(lossy, h14 % 16384, tf.where(lossless, bits // 16384 % 16384 + 1, h24 + 1))
    known = tf.logical_and(tf.logical_or(lossy, tf.logical_or(lossless, extended)), size >= 30)
    pairs = [(tf.logical_not(known), _WEBP_HEADER)]
    if truncation:
        pairs.append((riff + 8 > tf.cast(size, tf.int64), _WEBP_TRUNCATED))
    h = tf.where(known, tf.cast(h, tf.int32), -1)
    w = tf.where(known, tf.cast(w, tf.int32), -1)
    return _Parsed(h, w, _status(*pairs), {})


_WS = r"[ \t\n\x0b\f\r]"
_SEP = rf"(?:{_WS}|#[^\r\n]*[\r\n])+"
_NUM = r"([0-9]{1,10})"
# P4 has no maxval; the others do. Groups: P4 -> 1, 2; P2/P3/P5/P6 -> 3, 4, 5.
_PNM_HEADER_RE = (
    rf"P(?:[14]{_SEP}{_NUM}{_SEP}{_NUM}|[2356]{_SEP}{_NUM}{_SEP}{_NUM}{_SEP}{_NUM}){_WS}"
)
_PNM_HEAD = 1024


def _parse_pnm(contents: tf.Tensor, size: tf.Tensor, truncation: bool) -> _Parsed:
    """Pillow's PPM header tokens (comments allowed between them)."""
    head = tf.strings.substr(contents, 0, _PNM_HEAD)
    rest = tf.strings.regex_replace(head, "^" + _PNM_HEADER_RE, "", replace_global=False)
    length = tf.strings.length(head) - tf.strings.length(rest)
    text = tf.strings.regex_replace(
        tf.strings.substr(head, 0, length), "^" + _PNM_HEADER_RE + "$", r"\1\3 \2\4 \5"
    )
    # "w h maxval" (P4: "w h "); the appended 1 is P4's maxval.
    tokens = tf.strings.split(tf.strings.join([text, " 1 0 0"]))[:3]
    w, h, maxval = tf.unstack(tf.strings.to_number(tokens, tf.int64), num=3)
    magic = tf.strings.to_number(tf.strings.substr(contents, 1, 1), tf.int32)
    matched = length > 0
    channels = tf.where(tf.equal(magic, 6), 3, 1)
    sample_bytes = tf.where(maxval > 255, 2, 1)
    row_bytes = tf.where(
        tf.equal(magic, 4), (w + 7) // 8, w * tf.cast(channels * sample_bytes, tf.int64)
    )
    pairs = [
        (_in(magic, (1, 2, 3)), _PNM_VARIANT),
        (tf.logical_not(matched), _PNM_HEADER),
        (tf.logical_or(maxval < 1, maxval > 65535), _PNM_HEADER),
    ]
    if truncation:
        end = tf.cast(length, tf.int64) + row_bytes * h
        pairs.append((end > tf.cast(size, tf.int64), _PNM_TRUNCATED))
    extra = {"magic": magic, "offset": length, "maxval": maxval, "channels": channels}
    h = tf.where(matched, _to_int32(h), -1)
    w = tf.where(matched, _to_int32(w), -1)
    return _Parsed(h, w, _status(*pairs), extra)


_TIFF_MAX_TAGS = 64


def _parse_tiff(contents: tf.Tensor, size: tf.Tensor, truncation: bool) -> _Parsed:
    """Width and height from the first IFD (BigTIFF: unknown, -1)."""
    del truncation  # libtiff reports truncation itself
    b = _read(contents, size, 0, 8)
    little = tf.equal(b[0], ord("I"))

    def both(spec: list[tuple[int, int]], data: tf.Tensor) -> list[tf.Tensor]:
        le = _fields(data, [(pos, n, True) for pos, n in spec])
        be = _fields(data, [(pos, n, False) for pos, n in spec])
        return [tf.where(little, x, y) for x, y in zip(le, be)]

    version, ifd_at = both([(2, 2), (4, 4)], b)
    ifd = _read(
        contents, size, tf.minimum(ifd_at, tf.cast(size, tf.int64)), 2 + 12 * _TIFF_MAX_TAGS
    )
    (count,) = both([(0, 2)], ifd)
    entries = tf.reshape(ifd[2:], [_TIFF_MAX_TAGS, 12])
    e = tf.cast(entries, tf.int64)
    le = e[:, :4] * [1, 256, 1, 256]
    be = e[:, :4] * [256, 1, 256, 1]
    tag_kind = tf.where(little, le[:, 0::2] + le[:, 1::2], be[:, 0::2] + be[:, 1::2])
    tag, kind = tag_kind[:, 0], tag_kind[:, 1]
    v = e[:, 8:12]
    short = tf.where(little, v[:, 0] + v[:, 1] * 256, v[:, 0] * 256 + v[:, 1])
    long_ = tf.where(
        little,
        tf.reduce_sum(v * [1, 256, 65536, 16777216], 1),
        tf.reduce_sum(v * [16777216, 65536, 256, 1], 1),
    )
    value = tf.where(tf.equal(kind, 3), short, long_)
    valid = tf.range(_TIFF_MAX_TAGS, dtype=tf.int64) < count
    w = tf.reduce_max(tf.where(tf.logical_and(valid, tf.equal(tag, 256)), value, -1))
    h = tf.reduce_max(tf.where(tf.logical_and(valid, tf.equal(tag, 257)), value, -1))
    ok = tf.logical_and(ifd_at + 2 <= tf.cast(size, tf.int64), tf.logical_and(w > 0, h > 0))
    status = _status((tf.logical_and(tf.not_equal(version, 43), tf.logical_not(ok)), _TIFF_HEADER))
    return _Parsed(tf.where(ok, _to_int32(h), -1), tf.where(ok, _to_int32(w), -1), status, {})


_PARSERS: tuple[Callable[[tf.Tensor, tf.Tensor, bool], _Parsed], ...] = (
    _parse_unknown,
    _parse_jpeg,
    _parse_png,
    _parse_gif,
    _parse_bmp,
    _parse_webp,
    _parse_pnm,
    _parse_tiff,
)


def _limit(parsed: _Parsed, max_pixels: int | None) -> tf.Tensor:
    """The parse status, with the size checks (unknown sizes, -1, pass)."""
    h, w, status = parsed.height, parsed.width, parsed.status
    known = tf.logical_and(tf.not_equal(h, -1), tf.not_equal(w, -1))
    bad = tf.logical_and(known, tf.logical_or(h <= 0, w <= 0))
    status = tf.where(tf.logical_and(tf.equal(status, _OK), bad), _BAD_SIZE, status)
    if max_pixels is not None:
        large = tf.logical_and(known, tf.cast(h, tf.int64) * tf.cast(w, tf.int64) > max_pixels)
        status = tf.where(tf.logical_and(tf.equal(status, _OK), large), _TOO_LARGE, status)
    return status


def _tiff_note() -> str:
    """Empty when TIFF decoding works, else why not and how to fix it."""
    ok, message = _tfio.tfio_status()
    if ok:
        return ""
    return f"tensorflow-io not available: {message}; {_tfio.INSTALL_HINT}"


def _reason(
    status: tf.Tensor, h: tf.Tensor, w: tf.Tensor, max_pixels: int | None, tiff_note: str
) -> tf.Tensor:
    """Human-readable reason for a non-OK status (built only on failure)."""
    texts = list(_STATUS_TEXT)
    texts[_TIFF_UNAVAILABLE] = f"unsupported format TIFF ({tiff_note})"
    large = tf.strings.join(
        [
            "image too large: ",
            tf.strings.as_string(w),
            " x ",
            tf.strings.as_string(h),
            f" pixels > max_pixels={max_pixels}",
        ]
    )
    return tf.where(tf.equal(status, _TOO_LARGE), large, tf.gather(tf.constant(texts), status))


# --------------------------------------------------------------------------
# Public header API.


@_no_autograph
def image_info(contents: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Format and size from the header alone, without decoding pixels.

    Reads the JPEG frame header (SOF), PNG IHDR, GIF logical screen, BMP info
    header, WebP VP8/VP8L/VP8X header, PNM header or the first TIFF IFD. Only
    the bytes on the way are read (for JPEG, one 4-byte read per segment
    before the frame header).

    Args:
        contents: Scalar string tensor: the encoded file.

    Returns:
        ``(format_code, height, width)``, int32 scalars. ``format_code``
        indexes `FORMATS`; ``height`` and ``width`` are -1 when the format is
        unknown or its header cannot be parsed. Never raises on bad bytes.
    """
    contents = _scalar_string(contents)
    with tf.name_scope("image_info"):
        size = tf.strings.length(contents)

        def branch(fmt: int) -> Callable[[], tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
            def fn():
                p = _PARSERS[fmt](contents, size, False)
                ok = tf.equal(p.status, _OK)
                return tf.constant(fmt), tf.where(ok, p.height, -1), tf.where(ok, p.width, -1)

            return fn

        def other():
            branches = [branch(f) for f in range(len(FORMATS))]
            branches[JPEG] = branch(UNKNOWN)  # unreachable: JPEG is tested first
            return _switch(sniff_format(contents), branches)

        return _cond(_is_jpeg(contents), branch(JPEG), other)


@_no_autograph
def check_image(
    contents: Any, max_pixels: int | None = MAX_IMAGE_PIXELS
) -> tuple[tf.Tensor, tf.Tensor]:
    """Cheap validity checks that predict whether `decode_image` will succeed.

    Checks that the format is known (and, for TIFF, that tensorflow-io
    works), that the header parses, that the declared size is within
    ``max_pixels``, and that the file is not truncated where that is cheap to
    see: JPEG without an end-of-image marker, PNG without IEND, GIF without
    trailer, BMP or PNM pixel data or WebP RIFF chunk shorter than declared.
    Corruption inside compressed data is found only by decoding.

    Args:
        contents: Scalar string tensor: the encoded file.
        max_pixels: Largest accepted ``height * width``; None for no limit.

    Returns:
        ``(ok, reason)``: a bool scalar, and a string scalar that is empty when
        ``ok`` and otherwise says what is wrong (the text `decode_image` puts
        in its error).
    """
    max_pixels = _validate_max_pixels(max_pixels)
    contents = _scalar_string(contents)
    tiff_note = _tiff_note()
    with tf.name_scope("check_image"):
        size = tf.strings.length(contents)

        def branch(fmt: int) -> Callable[[], tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
            def fn():
                p = _PARSERS[fmt](contents, size, True)
                status = _limit(p, max_pixels)
                if fmt == TIFF and tiff_note:
                    status = tf.where(tf.equal(status, _OK), _TIFF_UNAVAILABLE, status)
                return status, p.height, p.width

            return fn

        def other():
            branches = [branch(f) for f in range(len(FORMATS))]
            branches[JPEG] = branch(UNKNOWN)  # unreachable: JPEG is tested first
            return _switch(sniff_format(contents), branches)

        status, h, w = _cond(_is_jpeg(contents), branch(JPEG), other)
        ok = tf.equal(status, _OK)
        reason = _cond(
            ok, lambda: tf.constant(""), lambda: _reason(status, h, w, max_pixels, tiff_note)
        )
        return ok, reason


# --------------------------------------------------------------------------
# Pixel conversions (Pillow's convert).


def _opaque_like(image: tf.Tensor) -> tf.Tensor:
    return tf.fill(tf.concat([tf.shape(image)[:2], [1]], 0), tf.constant(255, tf.uint8))


def _luma(rgb: tf.Tensor) -> tf.Tensor:
    """Pillow's RGB -> L: ``(R*19595 + G*38470 + B*7471 + 0x8000) >> 16``."""
    x = tf.cast(rgb[..., :3], tf.int32)
    y = x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471 + 0x8000
    return tf.cast(tf.bitwise.right_shift(y, 16), tf.uint8)[..., None]


def _from_rgb(rgb: tf.Tensor, channels: int) -> tf.Tensor:
    """RGB -> RGB (as is), RGBA (alpha 255) or L (Pillow's luma)."""
    if channels == 3:
        return rgb
    if channels == 4:
        return tf.concat([rgb, _opaque_like(rgb)], axis=-1)
    return _luma(rgb)


def _from_rgba(rgba: tf.Tensor, channels: int) -> tf.Tensor:
    """RGBA -> RGB (alpha dropped), RGBA or L (luma of RGB, alpha ignored)."""
    if channels == 4:
        return rgba
    if channels == 3:
        return rgba[..., :3]
    return _luma(rgba)


def _from_gray(gray: tf.Tensor, channels: int) -> tf.Tensor:
    """L -> L, RGB (replicated) or RGBA (replicated, alpha 255)."""
    if channels == 1:
        return gray
    return _from_rgb(tf.concat([gray, gray, gray], axis=-1), channels)


# --------------------------------------------------------------------------
# Decoders: (contents, size, channels, parsed, options) -> uint8 [H, W, C].


class _Options(NamedTuple):
    ratio: int | tf.Tensor | Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    dct_method: str


# Ratio -> index into JPEG_RATIOS (-1: not a valid ratio), for ratios 0..8.
_RATIO_INDEX = tuple(JPEG_RATIOS.index(r) if r in JPEG_RATIOS else -1 for r in range(9))


def _jpeg_cases(contents: tf.Tensor, channels: int, opts: _Options) -> list[Callable[[], tf.Tensor]]:
    """One decode branch per case in play (see `_jpeg_case`)."""
    ratio = opts.ratio
    ratios = [ratio] if isinstance(ratio, int) else list(JPEG_RATIOS)

    def case(r: int, gray: bool) -> Callable[[], tf.Tensor]:
        def fn() -> tf.Tensor:
            if gray:  # a 1-component JPEG is Pillow's L already
                image = tf.io.decode_jpeg(contents, channels=1, ratio=r, dct_method=opts.dct_method)
            else:
                rgb = tf.io.decode_jpeg(contents, channels=3, ratio=r, dct_method=opts.dct_method)
                image = _luma(rgb) if channels == 1 else _from_rgb(rgb, channels)
            return tf.ensure_shape(image, [None, None, channels])

        return fn

    cases = [case(r, False) for r in ratios]
    if channels == 1:
        cases += [case(r, True) for r in ratios]
    return cases


def _jpeg_case(p: _Parsed, channels: int, opts: _Options, valid: Any = True) -> Any:
    """Which of `_jpeg_cases` decodes the parsed JPEG.

    A case is a DCT ratio (the fixed one, or each of 1, 2, 4, 8 for a ratio
    tensor or a callable ``fn(height, width)`` on the parsed frame header),
    and, for ``channels == 1``, whether the JPEG has one component (decoded
    as is) or three (Pillow's luma). A Python int when there is one case;
    otherwise an int32 tensor, the ratio checked to be one of 1, 2, 4, 8
    where ``valid`` holds.
    """
    ratio = opts.ratio
    if isinstance(ratio, int):
        index, count = 0, 1
    else:
        count = len(JPEG_RATIOS)
        if callable(ratio):  # chosen from the frame header this path has parsed already
            ratio = tf.cast(ratio(p.height, p.width), tf.int32)
        index = tf.gather(tf.constant(_RATIO_INDEX), tf.clip_by_value(ratio, 0, 8))
        check = tf.debugging.Assert(
            tf.logical_or(index >= 0, tf.logical_not(valid)),
            ["`jpeg_ratio` must be one of 1, 2, 4, 8. Received: jpeg_ratio=", ratio],
        )
        with tf.control_dependencies([check]):
            index = tf.identity(index)
    if channels == 1:
        index = index + count * tf.cast(tf.equal(p.extra["components"], 1), tf.int32)
    return index


def _decode_jpeg(contents, size, channels, p: _Parsed, opts: _Options) -> tf.Tensor:
    """libjpeg RGB (ISLOW IDCT, fancy upsampling: Pillow's settings)."""
    del size
    index, cases = _jpeg_case(p, channels, opts), _jpeg_cases(contents, channels, opts)
    if isinstance(index, int):
        return cases[index]()
    return tf.switch_case(index, cases)  # small: lowered


def _png_has_trns(contents: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """Whether a tRNS chunk comes before the image data (a walk over chunks)."""
    trns, idat, iend = (int.from_bytes(n, "big") for n in (b"tRNS", b"IDAT", b"IEND"))

    def body(pos, state):
        length, kind = tf.unstack(
            _read_words(contents, size, pos, tf.int32, 2, little=False), num=2
        )
        stop = tf.logical_or(tf.logical_or(_in(kind, (idat, iend)), length < 0), pos + 8 > size)
        state = tf.where(tf.equal(kind, trns), 1, tf.where(stop, 2, 0))
        return pos + tf.minimum(length, 2**30) + 12, state

    _, state = tf.while_loop(
        lambda pos, state: tf.equal(state, 0),
        body,
        (tf.constant(8), tf.constant(0)),
        maximum_iterations=_MAX_WALK_STEPS,
        parallel_iterations=1,
    )
    return tf.equal(state, 1)


def _decode_png(contents, size, channels, p: _Parsed, opts: _Options) -> tf.Tensor:
    """libpng, whose expansions match Pillow's (16-bit: high byte)."""
    del opts
    if channels == 3:
        return tf.io.decode_png(contents, channels=3)
    if channels == 1:  # gray PNGs are L already; libpng's own RGB->gray is not Pillow's
        return tf.cond(
            _in(p.extra["color_type"], (0, 4)),
            lambda: tf.io.decode_png(contents, channels=1),
            lambda: _luma(tf.io.decode_png(contents, channels=3)),
        )
    rgba = tf.io.decode_png(contents, channels=4)

    # libpng's filler alpha is not scaled for 1/2/4-bit images without tRNS
    # (alpha 1, 3 or 15 instead of 255).
    def opaque_unless_trns() -> tf.Tensor:
        return tf.cond(
            _png_has_trns(contents, size),
            lambda: rgba,
            lambda: tf.concat([rgba[..., :3], _opaque_like(rgba)], -1),
        )

    return tf.cond(p.extra["bit_depth"] < 8, opaque_unless_trns, lambda: rgba)


def _replace_bytes(
    contents: tf.Tensor, size: tf.Tensor, pos: tf.Tensor, values: tf.Tensor, n: int
) -> tf.Tensor:
    """``contents`` with the ``n`` bytes at ``pos`` replaced by ``values``."""
    return tf.strings.join(
        [
            tf.strings.substr(contents, 0, pos),
            _bytes_to_string(values),
            tf.strings.substr(contents, pos + n, size - pos - n),
        ]
    )


def _decode_gif(contents, size, channels, p: _Parsed, opts: _Options) -> tf.Tensor:
    """First frame of giflib's decode, with Pillow's transparency semantics."""
    del opts
    x = p.extra

    def first_frame(data: tf.Tensor) -> tf.Tensor:
        return tf.io.decode_gif(data)[0]

    def transparent() -> tf.Tensor:
        # TensorFlow paints the transparent index black; Pillow shows that
        # index's palette colour (alpha 0). With the transparency flag
        # cleared, TensorFlow paints the palette colour too.
        flags_at = x["gce"] + 3
        flags = _read(contents, size, flags_at, 1)
        cleared = _replace_bytes(contents, size, flags_at, tf.bitwise.bitwise_and(flags, 0xFE), 1)
        rgb = first_frame(cleared)
        if channels != 4:
            return _from_rgb(rgb, channels)
        # Alpha: decode again with that palette entry inverted; the pixels
        # that change are the transparent ones.
        entry_at = x["table"] + 3 * x["index"]
        inverted = 255 - _read(contents, size, entry_at, 3)
        marked = first_frame(_replace_bytes(cleared, size, entry_at, inverted, 3))
        changed = tf.reduce_any(tf.not_equal(rgb, marked), axis=-1, keepdims=True)
        alpha = tf.where(changed, tf.constant(0, tf.uint8), tf.constant(255, tf.uint8))
        return tf.concat([rgb, alpha], -1)

    return tf.cond(
        x["transparent"], transparent, lambda: _from_rgb(first_frame(contents), channels)
    )


def _decode_bmp(contents, size, channels, p: _Parsed, opts: _Options) -> tf.Tensor:
    """Uncompressed and bitfields BMP pixel data, decoded as Pillow's unpackers do."""
    del opts
    x = p.extra
    h, w, stride, bits = p.height, p.width, x["stride"], x["bits"]
    raw = tf.io.decode_raw(tf.strings.substr(contents, x["offset"], stride * h), tf.uint8)
    rows = tf.reshape(raw, [h, stride])
    rows = tf.cond(x["top_down"], lambda: rows, lambda: tf.reverse(rows, [0]))

    def palette() -> tf.Tensor:
        # Pillow: a palette that is the gray ramp 0, 1, 2, ... makes an "L"
        # image (every index is its own value); otherwise entries past the
        # file's palette are black.
        raw = _read(contents, size, x["palette_at"], 1024)
        entries = tf.where(
            x["core"], tf.reshape(raw[:768], [256, 3]), tf.reshape(raw, [256, 4])[:, :3]
        )[:, ::-1]
        in_file = (tf.range(256) < x["colors"])[:, None]
        ramp = tf.tile(tf.range(256)[:, None], [1, 3])
        gray = tf.logical_and(
            x["colors"] > 2,
            tf.reduce_all(tf.logical_or(tf.logical_not(in_file), tf.equal(entries, ramp))),
        )
        entries = tf.where(gray, ramp, tf.where(in_file, entries, 0))
        return tf.cast(tf.concat([entries, tf.fill([256, 1], 255)], -1), tf.uint8)

    def indexed() -> tf.Tensor:  # 1, 4 or 8 bits per pixel, most significant first
        shifts = tf.range(8 - bits, -1, -bits)
        v = tf.bitwise.right_shift(tf.cast(rows, tf.int32)[:, :, None], shifts)
        v = tf.reshape(tf.bitwise.bitwise_and(v, tf.bitwise.left_shift(1, bits) - 1), [h, -1])
        return tf.gather(palette(), v[:, :w])

    def bgr16() -> tf.Tensor:  # Pillow's BGR;15 / BGR;16: value * 255 // max
        px = tf.cast(tf.reshape(rows[:, : 2 * w], [h, w, 2]), tf.int32)
        v = px[..., 0] + px[..., 1] * 256
        green_max = tf.where(x["is565"], 63, 31)
        r = tf.bitwise.bitwise_and(tf.bitwise.right_shift(v, tf.where(x["is565"], 11, 10)), 31)
        g = tf.bitwise.bitwise_and(tf.bitwise.right_shift(v, 5), green_max)
        b = tf.bitwise.bitwise_and(v, 31)
        rgb = tf.cast(tf.stack([r * 255 // 31, g * 255 // green_max, b * 255 // 31], -1), tf.uint8)
        return tf.concat([rgb, _opaque_like(rgb)], -1)

    def bgr24() -> tf.Tensor:
        rgb = tf.reshape(rows[:, : 3 * w], [h, w, 3])[..., ::-1]
        return tf.concat([rgb, _opaque_like(rgb)], -1)

    def bgrx32() -> tf.Tensor:  # BI_RGB ignores the 4th byte; bitfields may carry alpha
        rgba = tf.gather(tf.reshape(rows[:, : 4 * w], [h, w, 4]), x["channel_index"], axis=-1)
        alpha = tf.where(x["alpha"], rgba[..., 3:], tf.constant(255, tf.uint8))
        return tf.concat([rgba[..., :3], alpha], -1)

    index = tf.where(bits <= 8, 0, bits // 8 - 1)  # 16 -> 1, 24 -> 2, 32 -> 3
    return _from_rgba(tf.switch_case(index, [indexed, bgr16, bgr24, bgrx32]), channels)


def _webp_decoder():
    """``tf.io.decode_webp`` (TF >= 2.18), else tensorflow-io's, else a clear error."""
    if hasattr(tf.io, "decode_webp"):
        return lambda contents: tf.io.decode_webp(contents)[0]
    from tfdirpipe import _tfio

    ok, why = _tfio.tfio_status()
    if ok:
        return _tfio.require_tfio("WebP decoding").image.decode_webp  # RGBA

    def unavailable(contents):
        message = f"unsupported format WebP (needs TensorFlow >= 2.18 or tensorflow-io: {why})"
        with tf.control_dependencies([tf.debugging.Assert(False, [message])]):
            return tf.zeros([1, 1, 4], tf.uint8)

    return unavailable


def _decode_webp(contents, size, channels, p: _Parsed, opts: _Options) -> tf.Tensor:
    """libwebp's RGB, or RGBA when the file has alpha (first frame)."""
    del size, p, opts
    image = _webp_decoder()(contents)
    if channels == 4:
        return tf.cond(
            tf.equal(tf.shape(image)[-1], 4),
            lambda: image,
            lambda: tf.concat([image, _opaque_like(image)], -1),
        )
    return _from_rgb(image[..., :3], channels)


def _decode_pnm(contents, size, channels, p: _Parsed, opts: _Options) -> tf.Tensor:
    """Binary PBM/PGM/PPM, scaled as Pillow's PPM decoder does."""
    del size, opts
    x = p.extra
    h, w = p.height, p.width
    c, maxval, offset = x["channels"], x["maxval"], x["offset"]

    def samples() -> tf.Tensor:  # int32 [h, w, c]
        wide = maxval > 255
        count = h * w * c
        raw = tf.io.decode_raw(
            tf.strings.substr(contents, offset, tf.where(wide, 2, 1) * count), tf.uint8
        )
        v = tf.cast(raw, tf.int32)
        v = tf.cond(
            wide,
            lambda: tf.reshape(v, [-1, 2])[:, 0] * 256 + tf.reshape(v, [-1, 2])[:, 1],
            lambda: v,
        )
        return tf.reshape(v, [h, w, c])

    def scaled() -> tf.Tensor:
        v = samples()
        # Pillow: min(255, round(value / maxval * 255)), rounding half to even.
        y = tf.cast(v, tf.float64) / tf.cast(maxval, tf.float64) * 255.0
        return tf.cast(tf.minimum(tf.round(y), 255.0), tf.uint8)

    def bitmap() -> tf.Tensor:  # P4: 1 is black
        row_bytes = (w + 7) // 8
        raw = tf.io.decode_raw(tf.strings.substr(contents, offset, row_bytes * h), tf.uint8)
        v = tf.bitwise.right_shift(
            tf.reshape(tf.cast(raw, tf.int32), [h, row_bytes, 1]), tf.range(7, -1, -1)
        )
        v = tf.reshape(tf.bitwise.bitwise_and(v, 1), [h, row_bytes * 8])[:, :w]
        return tf.cast((1 - v) * 255, tf.uint8)[..., None]

    def gray_or_rgb(image: tf.Tensor) -> tf.Tensor:
        return tf.cond(
            tf.equal(c, 3),
            lambda: _from_rgb(image, channels),
            lambda: _from_gray(image[..., :1], channels),
        )

    def samples8() -> tf.Tensor:
        return gray_or_rgb(tf.cast(samples(), tf.uint8))

    index = tf.where(tf.equal(x["magic"], 4), 0, tf.where(tf.equal(maxval, 255), 1, 2))
    image = tf.switch_case(
        index, [lambda: _from_gray(bitmap(), channels), samples8, lambda: gray_or_rgb(scaled())]
    )
    return tf.ensure_shape(image, [None, None, channels])


def _decode_tiff(contents, size, channels, p: _Parsed, opts: _Options) -> tf.Tensor:
    """libtiff's RGBA via tensorflow-io."""
    del size, p, opts
    tfio = _tfio.require_tfio("TIFF decoding")
    rgba = tf.ensure_shape(tfio.experimental.image.decode_tiff(contents), [None, None, 4])
    return _from_rgba(rgba, channels)


_DECODERS: tuple[Callable[..., tf.Tensor] | None, ...] = (
    None,
    _decode_jpeg,
    _decode_png,
    _decode_gif,
    _decode_bmp,
    _decode_webp,
    _decode_pnm,
    _decode_tiff,
)


def _fail(status, h, w, channels, max_pixels, tiff_note, filename) -> tf.Tensor:
    """Raises InvalidArgumentError (at run time) naming the file and the reason."""
    reason = _reason(status, h, w, max_pixels, tiff_note)
    if filename is None:
        message = tf.strings.join(["tfdirpipe.decode_image: cannot decode image: ", reason])
    else:
        message = tf.strings.join(
            ["tfdirpipe.decode_image: cannot decode ", filename, ": ", reason]
        )
    failed = tf.debugging.Assert(tf.constant(False), [message], summarize=1)
    with tf.control_dependencies([failed]):
        return tf.zeros([0, 0, channels], tf.uint8)


@_no_autograph
def decode_image(
    contents: Any,
    color_mode: ColorMode = "rgb",
    *,
    filename: Any = None,
    max_pixels: int | None = MAX_IMAGE_PIXELS,
    jpeg_ratio: int | tf.Tensor = 1,
    dct_method: str = "INTEGER_ACCURATE",
) -> tf.Tensor:
    """Decodes one encoded image to Pillow's pixels for ``color_mode``.

    The format is sniffed from the bytes; the header is checked (known
    format, sane size, ``height * width <= max_pixels``, not truncated)
    before any pixel memory is allocated; then the format's decoder runs and
    the result is converted as Pillow's ``convert("RGB" | "RGBA" | "L")``
    would.

    ```
    contents --sniff--> JPEG | PNG | GIF | BMP | WebP | PNM | TIFF | unknown
             --header--> refuse: not an image / too large / truncated / unsupported
             --decode, convert--> uint8 [H, W, C]
    ```

    Args:
        contents: Scalar string tensor: the encoded file.
        color_mode: ``"rgb"``, ``"rgba"`` or ``"grayscale"``.
        filename: Optional scalar string (tensor) named in error messages.
        max_pixels: Largest accepted ``height * width`` declared by the
            header; None for no limit. Defaults to Pillow's
            ``MAX_IMAGE_PIXELS``.
        jpeg_ratio: JPEG DCT downscale, 1, 2, 4 or 8 (an int, an int
            tensor checked at run time, or ``fn(height, width) -> ratio``
            called with the size from the JPEG frame header, which saves
            parsing the header twice): the JPEG is decoded at
            ``ceil(size / ratio)``; other formats ignore it. Only 1 gives
            Pillow's pixels.
        dct_method: libjpeg IDCT: ``"INTEGER_ACCURATE"`` (Pillow's, exact),
            ``"INTEGER_FAST"`` or ``""`` (TensorFlow's default).

    Returns:
        uint8 tensor of static rank 3, ``[height, width, C]`` with ``C`` 3
        for ``"rgb"``, 4 for ``"rgba"`` and 1 for ``"grayscale"``.

    Raises:
        ValueError: Bad ``color_mode``, ``max_pixels``, ``jpeg_ratio`` or
            ``dct_method`` (while tracing).
        TypeError: ``max_pixels`` or ``jpeg_ratio`` of the wrong type.
        tf.errors.InvalidArgumentError: At run time, when the bytes are not an
            image, the header is corrupt, the image is larger than
            ``max_pixels``, the file is truncated, the variant is unsupported
            or it is a TIFF and tensorflow-io is not usable; the message names
            ``filename`` and the reason. Corruption that only decoding can
            find (inside JPEG tables or compressed data) fails in
            TensorFlow's decoder, with TensorFlow's message.
    """
    return _decode(contents, color_mode, filename, max_pixels, jpeg_ratio, dct_method)


@_no_autograph
def decode_batch(
    contents: Sequence[Any],
    finish: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    color_mode: ColorMode = "rgb",
    *,
    filenames: Any = None,
    count: Any = None,
    pad_size: tuple[int, int] = (1, 1),
    max_pixels: int | None = MAX_IMAGE_PIXELS,
    jpeg_ratio: int | Callable[[tf.Tensor, tf.Tensor], tf.Tensor] = 1,
    dct_method: str = "INTEGER_ACCURATE",
) -> tf.Tensor:
    """`decode_image` and ``finish`` over a batch of files, stacked.

    For a tf.data map over batches of files (see
    `tfdirpipe.image_dataset_from_directory`): the same images and errors
    as ``finish(decode_image(c), c)`` file by file, for less. The JPEG hot
    path's header checks run once for the batch, on ``[K]`` vectors; the
    files that pass are decoded at once, and the others (other formats,
    unusual JPEGs, bad files) by `decode_image` with every check, in a loop
    that runs only when there is such a file.

    Args:
        contents: ``K`` scalar string tensors (``K`` known while tracing),
            the encoded files.
        finish: ``fn(image, contents) -> tensor`` applied to each decoded
            image (uint8 ``[height, width, C]``) and its file, returning the
            same static shape and dtype for every image, e.g. a resize.
        color_mode, max_pixels, dct_method: As for `decode_image`.
        filenames: Optional ``K`` scalar strings, or a ``[K]`` string
            tensor, named in error messages.
        count: Optional int32 scalar: only the first ``count`` files are
            read as images; the rest (the padding of a short last batch)
            are ``finish``-ed black images of ``pad_size``, to be cut off by
            the caller.
        pad_size: ``(height, width)`` of those black stand-ins: one that
            ``finish`` accepts (e.g. the target size when it crops).
        jpeg_ratio: As for `decode_image`, an int or a callable (no tensor).

    Returns:
        ``[K, *shape]``: the ``finish``-ed images, stacked.

    Raises:
        ValueError: No contents, ``filenames`` of another length, a
            ``finish`` without a fully static output shape, or the bad
            arguments `decode_image` refuses (while tracing).
        tf.errors.InvalidArgumentError: At run time, as `decode_image`.
    """
    channels, max_pixels, opts = _arguments(color_mode, max_pixels, jpeg_ratio, dct_method)
    if isinstance(opts.ratio, tf.Tensor):
        raise TypeError(
            "decode_batch takes `jpeg_ratio` as an int or a callable, not a tensor. "
            + _validate.received("jpeg_ratio", jpeg_ratio)
        )
    contents = [_scalar_string(c) for c in contents]
    k = len(contents)
    if not k:
        raise ValueError("decode_batch needs at least one file. Received: contents=[]")
    names = _batch_names(filenames, k)
    with tf.name_scope("decode_batch"):
        sizes = [tf.strings.length(c) for c in contents]
        heads = tf.stack([tf.strings.substr(c, 0, _JPEG_WINDOW) for c in contents])
        tails = tf.stack(
            [tf.strings.substr(c, tf.maximum(n - 2, 0), 2) for c, n in zip(contents, sizes)]
        )
        walk = _jpeg_window_walk_batch(heads, tf.stack(sizes))
        is_jpeg = tf.equal(tf.strings.substr(heads, 0, 3), b"\xff\xd8\xff")
        ok = _hot_ok(is_jpeg, tf.equal(tails, b"\xff\xd9"), walk, max_pixels)
        present = tf.ones([k], tf.bool)
        if count is not None:
            present = tf.range(k) < tf.cast(count, tf.int32)
        hot = tf.logical_and(ok, present)
        # The hot path, file by file: decode (a black stand-in where the
        # file is not hot), then finish. Traced once as a function and
        # called per file (TensorFlow inlines the calls), so tracing does
        # not grow with the batch size.
        blank = lambda: tf.zeros([*pad_size, channels], tf.uint8)  # noqa: E731

        def hot_one(data, is_hot, height, width, components):
            parsed = _hot_parsed({"height": height, "width": width, "components": components})
            return finish(_hot_dispatch(data, channels, opts, is_hot, parsed, blank), data)

        scalar = lambda dtype: tf.TensorSpec([], dtype)  # noqa: E731
        hot_one = tf.function(hot_one, autograph=False).get_concrete_function(
            scalar(tf.string), scalar(tf.bool), scalar(tf.int32), scalar(tf.int32), scalar(tf.int32)
        )
        per_file = zip(
            contents,
            *(tf.unstack(v, num=k) for v in (hot, walk["height"], walk["width"], walk["components"])),
        )
        batch = tf.stack([hot_one(*args) for args in per_file])
        if not batch.shape.is_fully_defined():
            raise ValueError(
                "`finish` must return one fully static shape for every image. "
                f"Received: a result of shape {batch.shape[1:]}"
            )

        def others() -> tf.Tensor:
            """The files that are present but not hot, one by one with every check."""
            where = tf.cast(tf.where(tf.logical_and(present, tf.logical_not(ok)))[:, 0], tf.int32)
            all_contents, all_sizes = tf.stack(contents), tf.stack(sizes)
            all_names = None if names is None else tf.stack(names)

            def one(i: tf.Tensor) -> tf.Tensor:
                data, name = all_contents[i], None if all_names is None else all_names[i]
                image = _checked(
                    data, all_sizes[i], is_jpeg[i], channels, opts, name, max_pixels
                )
                return finish(image, data)

            done = tf.map_fn(
                one, where, fn_output_signature=tf.TensorSpec(batch.shape[1:], batch.dtype)
            )
            return tf.tensor_scatter_nd_update(batch, where[:, None], done)

        return _cond(tf.reduce_all(tf.equal(hot, present)), lambda: batch, others)


def _batch_names(filenames: Any, k: int) -> list[tf.Tensor] | None:
    if filenames is None:
        return None
    if isinstance(filenames, (list, tuple)):
        names = [tf.convert_to_tensor(f, tf.string) for f in filenames]
    else:
        names = tf.unstack(tf.convert_to_tensor(filenames, tf.string), num=k)
    if len(names) != k:
        raise ValueError(
            f"`filenames` must name each of the {k} files. "
            + _validate.received("filenames", filenames)
        )
    return names


def _within(h: tf.Tensor, w: tf.Tensor, max_pixels: int | None) -> tf.Tensor:
    if max_pixels is None:
        return tf.ones_like(h, tf.bool)
    return tf.cast(h, tf.int64) * tf.cast(w, tf.int64) <= max_pixels


def _hot_ok(
    is_jpeg: tf.Tensor, ends: tf.Tensor, walk: dict[str, tf.Tensor], max_pixels: int | None
) -> tf.Tensor:
    """Whether JPEGs (a scalar, or ``[K]`` for a batch) may take the hot path:
    JPEG signature, EOI last, frame header in the window, sane size."""
    h, w = walk["height"], walk["width"]
    checks = [is_jpeg, ends, walk["found"], tf.minimum(h, w) > 0, _within(h, w, max_pixels)]
    return tf.reduce_all(tf.stack(checks), axis=0)


def _hot_parsed(walk: dict[str, tf.Tensor]) -> _Parsed:
    return _Parsed(
        walk["height"], walk["width"], tf.constant(_OK), {"components": walk["components"]}
    )


def _hot_dispatch(
    contents: tf.Tensor,
    channels: int,
    opts: _Options,
    ok: tf.Tensor,
    p: _Parsed,
    other: Callable[[], tf.Tensor],
) -> tf.Tensor:
    """One lowered switch over the JPEG decode cases in play where ``ok``,
    else ``other`` (keep it one op: it is a dead node when not taken)."""
    cases = _jpeg_cases(contents, channels, opts)
    case = _jpeg_case(p, channels, opts, valid=ok)
    image = tf.switch_case(tf.where(ok, case, len(cases)), [*cases, other])
    image.set_shape([None, None, channels])
    return image


def _arguments(color_mode, max_pixels, jpeg_ratio, dct_method) -> tuple[int, int | None, _Options]:
    """``(channels, max_pixels, options)``, each argument checked."""
    channels = _CHANNELS[validate_color_mode(color_mode)]
    opts = _Options(_validate_jpeg_ratio(jpeg_ratio), _validate_dct_method(dct_method))
    return channels, _validate_max_pixels(max_pixels), opts


def _decode(contents, color_mode, filename, max_pixels, jpeg_ratio, dct_method):
    channels, max_pixels, opts = _arguments(color_mode, max_pixels, jpeg_ratio, dct_method)
    contents = _scalar_string(contents)
    with tf.name_scope("decode_image"):
        name = None if filename is None else tf.convert_to_tensor(filename, tf.string)
        size = tf.strings.length(contents)
        # The hot path, with no function call: the signature, the 2-byte
        # EOI test, the frame header found by `_jpeg_window_walk` (no loop),
        # the size checks, then one lowered switch over the decode cases in
        # play and everything else (other formats, unusual JPEGs, refusals),
        # which is one functional op, so the hot path skips it for one dead
        # node.
        ends = tf.equal(tf.strings.substr(contents, tf.maximum(size - 2, 0), 2), b"\xff\xd9")
        walk = _jpeg_window_walk(contents, size)
        is_jpeg = _is_jpeg(contents)
        ok = _hot_ok(is_jpeg, ends, walk, max_pixels)

        def slow() -> tf.Tensor:
            return _checked(contents, size, is_jpeg, channels, opts, name, max_pixels)

        return _hot_dispatch(contents, channels, opts, ok, _hot_parsed(walk), slow)


def _checked(contents, size, is_jpeg, channels, opts: _Options, name, max_pixels) -> tf.Tensor:
    """A file off the JPEG hot path: every header check of its format (from
    its bytes), then its decoder, or an error naming the file and the reason."""
    tiff_note = _tiff_note()

    def fail(status: tf.Tensor, h: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
        return _fail(status, h, w, channels, max_pixels, tiff_note, name)

    def checked(fmt: int) -> Callable[[], tf.Tensor]:
        """All header checks, then decode or fail with the reason."""

        def fn() -> tf.Tensor:
            if fmt == TIFF and tiff_note:  # no decoder: say why, parse nothing
                return fail(tf.constant(_TIFF_UNAVAILABLE), tf.constant(-1), tf.constant(-1))
            p = _PARSERS[fmt](contents, size, True)
            status = _limit(p, max_pixels)
            decoder = _DECODERS[fmt]
            if decoder is None:
                return fail(status, p.height, p.width)
            return _cond(
                tf.equal(status, _OK),
                lambda: tf.ensure_shape(
                    decoder(contents, size, channels, p, opts), [None, None, channels]
                ),
                lambda: fail(status, p.height, p.width),
            )

        return fn

    def png() -> tf.Tensor:
        ok, h, w, bit_depth, color_type = _png_ihdr(contents, size)
        ends = tf.equal(tf.strings.substr(contents, tf.maximum(size - 12, 0), 12), _IEND_CHUNK)
        p = _Parsed(h, w, tf.constant(_OK), {"bit_depth": bit_depth, "color_type": color_type})
        return _cond(
            tf.logical_and(tf.logical_and(ok, ends), _within(h, w, max_pixels)),
            lambda: _decode_png(contents, size, channels, p, opts),
            checked(PNG),
        )

    def other() -> tf.Tensor:
        branches = [checked(f) for f in range(len(FORMATS))]
        branches[JPEG] = branches[UNKNOWN]  # unreachable: JPEG is routed first
        branches[PNG] = png
        return _switch(sniff_format(contents), branches)

    image = _cond(is_jpeg, checked(JPEG), other)
    image.set_shape([None, None, channels])
    return image
