"""EXIF orientation as pure TensorFlow ops: read the tag, apply it.

Cameras and phones store pixels as the sensor saw them and record how to
turn them upright in the EXIF ``Orientation`` tag (0x0112). Keras's legacy
loader ignores it (``PIL.Image.open`` does not apply it), and so does
tfdirpipe by default; with ``exif_orientation=True`` the loaders call
`exif_orientation` and `apply_orientation` here, which reproduce
``PIL.ImageOps.exif_transpose`` before any crop or resize.

Like `tfdirpipe.decode` this is graph-safe (no ``py_function``, so it runs on
tf.data service workers) and every walk over the file is a bounded
``tf.while_loop`` that reads a few bytes per step:

* JPEG: the first ``APP1`` segment that starts with ``Exif\\0\\0`` among the
  APPn and COM segments that follow SOI, before any other segment (the
  Exif and JFIF standards put it there, and libjpeg writes application
  markers there; Pillow would also find one after the tables). The first
  two segments take a straight line; more, or stray bytes between them
  (skipped one at a time, as Pillow does), a loop of at most
  `MAX_JPEG_STEPS` steps.
* PNG: an ``eXIf`` chunk before the image data (where the PNG specification
  puts it and Pillow and libpng write it), at most `MAX_CHUNKS` chunks.
* WebP: an ``EXIF`` chunk of the extended (VP8X) container, at most
  `MAX_CHUNKS` chunks.

The EXIF block is a small TIFF file: byte order (``II`` little-endian or
``MM`` big-endian), the offset of IFD0, then 12-byte entries. The first
`MAX_IFD_ENTRIES` entries of IFD0 are read in one go (no loop), and the
first ``Orientation`` entry of type BYTE, SHORT or LONG with one value wins.
Anything else, a missing, truncated or corrupt block, an offset outside it,
a value outside 1..8, another format (GIF, BMP, PNM, TIFF), gives 1
(upright): never an error. Pillow also reads an orientation from XMP
metadata when EXIF has none; that is not done here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tfdirpipe import decode as decode_lib
from tfdirpipe.decode import _cond, _in, _no_autograph, _read, _scalar_string

__all__ = [
    "MAX_CHUNKS",
    "MAX_IFD_ENTRIES",
    "MAX_JPEG_STEPS",
    "ORIENTATION_TAG",
    "apply_orientation",
    "exif_orientation",
    "oriented_size",
]

ORIENTATION_TAG = 0x0112

MAX_JPEG_STEPS = 1024
"""JPEG segments plus stray bytes followed before giving up (orientation 1)."""

MAX_CHUNKS = 4096
"""PNG or WebP chunks followed before giving up (orientation 1)."""

MAX_IFD_ENTRIES = 64
"""IFD0 entries read (cameras write Orientation among the first ten)."""

# TIFF types whose single value sits in the entry: BYTE, SHORT, LONG.
_BYTE, _SHORT, _LONG = 1, 3, 4
_EXIF_HEADER = b"Exif\0\0"
_EXIF_BYTES = list(_EXIF_HEADER)
_LE16, _BE16 = np.array([1, 256], np.int64), np.array([256, 1], np.int64)
_LE32 = np.array([1, 256, 65536, 1 << 24], np.int64)
_BE32 = _LE32[::-1].copy()


def _tiff_orientation(
    contents: tf.Tensor, size: tf.Tensor, start: tf.Tensor, length: tf.Tensor
) -> tf.Tensor:
    """The Orientation of the EXIF (TIFF) block at ``start`` (``length`` bytes), else 1.

    A leading ``Exif\\0\\0`` is skipped (PNG and WebP writers differ on
    whether they include it; Pillow strips it too). Straight-line: one read
    of the header, one of IFD0's count and first `MAX_IFD_ENTRIES` entries,
    all decoded as 16-bit words in the block's byte order.
    """
    size64 = tf.cast(size, tf.int64)
    start = tf.cast(start, tf.int64)
    end = tf.minimum(start + tf.maximum(tf.cast(length, tf.int64), 0), size64)
    head = tf.cast(_read(contents, size, tf.minimum(start, size64), 14), tf.int64)
    prefixed = tf.reduce_all(tf.equal(head[:6], _EXIF_BYTES))
    start = tf.where(prefixed, start + 6, start)
    head = tf.where(prefixed, head[6:14], head[:8])
    little = tf.reduce_all(tf.equal(head[:4], list(b"II*\0")))
    big = tf.reduce_all(tf.equal(head[:4], list(b"MM\0*")))
    ifd = start + tf.reduce_sum(
        head[4:8] * tf.where(little, _LE32, _BE32)
    )
    raw = _read(contents, size, tf.clip_by_value(ifd, 0, size64), 2 + 12 * MAX_IFD_ENTRIES)
    pairs = tf.reshape(tf.cast(raw, tf.int64), [-1, 2])
    words = tf.reduce_sum(pairs * tf.where(little, _LE16, _BE16), axis=1)
    # Per entry: tag, type, count (2 words), value (2 words).
    tag, kind, c0, c1, v0, v1 = tf.unstack(tf.reshape(words[1:], [-1, 6]), num=6, axis=1)
    lo, hi = tf.where(little, c0, c1), tf.where(little, c1, c0)
    value = tf.where(
        tf.equal(kind, _SHORT),
        v0,
        tf.where(
            tf.equal(kind, _LONG),
            tf.where(little, v0 + v1 * 65536, v0 * 65536 + v1),
            tf.where(little, v0 % 256, v0 // 256),  # BYTE: the first byte
        ),
    )
    index = tf.range(MAX_IFD_ENTRIES, dtype=tf.int64)
    match = tf.reduce_all(
        tf.stack(
            [
                index < words[0],  # IFD0's entry count
                ifd + 14 + 12 * index <= end,  # the entry lies in the block
                tf.equal(tag, ORIENTATION_TAG),
                tf.logical_and(tf.equal(lo, 1), tf.equal(hi, 0)),  # one value
                tf.reduce_any(tf.equal(kind[:, None], [_BYTE, _SHORT, _LONG]), axis=1),
            ]
        ),
        axis=0,
    )
    match = tf.logical_and(match, tf.logical_or(little, big))
    found = tf.gather(value, tf.argmax(tf.cast(match, tf.int32), output_type=tf.int32))
    ok = tf.logical_and(tf.reduce_any(match), tf.logical_and(found >= 1, found <= 8))
    return tf.where(ok, tf.cast(found, tf.int32), 1)


# JPEG walk outcomes, and the class of each byte after an FF: APPn and COM
# segments are stepped over, APP1 is checked for Exif, fill bytes and
# standalone markers are unusual (the loop skips them), anything else ends
# the search.
_NEXT, _FOUND, _NONE, _UNUSUAL, _APP1 = 0, 1, 2, 3, 4
_MARKER_CLASS = tuple(
    _APP1 if m == 0xE1
    else _NEXT if 0xE0 <= m <= 0xEF or m == 0xFE
    else _UNUSUAL if m in (0x00, 0x01, 0xFF) or 0xD0 <= m <= 0xD7
    else _NONE
    for m in range(256)
)
# Bytes of a JPEG read once for the straight-line steps.
_JPEG_WINDOW = 1024


def _jpeg_step(b: tf.Tensor, pos: tf.Tensor, size: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(outcome, segment_length)`` of the 10 int32 bytes ``b`` at ``pos``."""
    length = b[2] * 256 + b[3]
    cls = tf.where(tf.equal(b[0], 0xFF), tf.gather(_MARKER_CLASS, b[1]), _UNUSUAL)
    exif = tf.logical_and(tf.reduce_all(tf.equal(b[4:], _EXIF_BYTES)), length >= 8)
    outcome = tf.where(tf.equal(cls, _APP1), tf.where(exif, _FOUND, _NEXT), cls)
    bad = tf.logical_or(
        pos + 4 > size, tf.logical_and(tf.not_equal(outcome, _UNUSUAL), length < 2)
    )
    return tf.where(bad, _NONE, outcome), length


def _jpeg_exif_block(contents: tf.Tensor, size: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(start, length)`` of the first ``APP1 Exif`` payload's TIFF block (length -1: none).

    Looks among the APPn and COM segments that follow SOI, before the first
    other segment (where the JFIF and Exif standards put them and libjpeg
    writes them). Two segments are followed in a straight line inside the
    first `_JPEG_WINDOW` bytes (SOI, then APP1 as cameras write, or APP0 then
    APP1 or tables, as JFIF writers do); more APPn segments, or stray bytes,
    fill bytes and standalone markers between them (skipped one byte or
    marker at a time, as Pillow does), continue in a ``tf.while_loop`` of at
    most `MAX_JPEG_STEPS` steps.
    """
    window = _read(contents, size, 0, _JPEG_WINDOW + 10)

    def at(pos: tf.Tensor) -> tf.Tensor:
        return tf.slice(window, [tf.minimum(pos, _JPEG_WINDOW)], [10])

    o1, n1 = _jpeg_step(at(2), tf.constant(2), size)
    p2 = 4 + n1
    o2, n2 = _jpeg_step(at(p2), p2, size)
    o2 = tf.where(tf.logical_and(tf.equal(o2, _NONE), p2 > _JPEG_WINDOW), _UNUSUAL, o2)
    first = tf.not_equal(o1, _NEXT)
    outcome = tf.where(first, o1, tf.where(tf.equal(o2, _NEXT), _UNUSUAL, o2))
    pos, length = tf.where(first, 2, p2), tf.where(first, n1, n2)

    def walk() -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        def body(pos, state, found):
            o, n = _jpeg_step(_read(contents, size, pos, 10), pos, size)
            # Stray or fill byte: 1; standalone marker: 2; segment: its length.
            b0, b1 = tf.unstack(_read(contents, size, pos, 2), num=2)
            odd = tf.where(tf.logical_and(tf.equal(b0, 0xFF), tf.not_equal(b1, 0xFF)), 2, 1)
            step = tf.where(tf.equal(o, _UNUSUAL), odd, 2 + n)
            o = tf.where(tf.equal(o, _UNUSUAL), _NEXT, o)
            return tf.where(tf.equal(o, _NEXT), pos + step, pos), o, n

        return tf.while_loop(
            lambda pos, state, found: tf.equal(state, _NEXT),
            body,
            (tf.constant(2), tf.constant(_NEXT), tf.constant(0)),
            maximum_iterations=MAX_JPEG_STEPS,
            parallel_iterations=1,
        )

    pos, outcome, length = _cond(
        tf.equal(outcome, _UNUSUAL), walk, lambda: (pos, outcome, length)
    )
    # Payload after FF E1 LL LL "Exif\0\0": the TIFF block.
    found = tf.equal(outcome, _FOUND)
    return tf.where(found, pos + 10, 0), tf.where(found, length - 8, -1)


def _chunk_walk(
    contents: tf.Tensor,
    size: tf.Tensor,
    first: tf.Tensor,
    wanted: bytes,
    stops: tuple[bytes, ...],
    little: bool,
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(start, length)`` of the first ``wanted`` chunk's data (length -1: none).

    PNG chunks are ``length(4, big-endian) type(4) data CRC(4)``; RIFF chunks
    ``type(4) length(4, little-endian) data`` padded to an even length. A
    ``first`` of -1 walks nothing.
    """
    wanted_id = int.from_bytes(wanted, "big")
    stop_ids = tuple(int.from_bytes(s, "big") for s in stops)

    def body(pos, state, found):
        b = tf.cast(_read(contents, size, pos, 8), tf.int64)
        word0 = b[0] * 16777216 + b[1] * 65536 + b[2] * 256 + b[3]
        word1 = b[4] * 16777216 + b[5] * 65536 + b[6] * 256 + b[7]
        if little:  # RIFF: type, then a little-endian length
            kind, length = word0, b[4] + b[5] * 256 + b[6] * 65536 + b[7] * 16777216
            step = 8 + length + length % 2
        else:  # PNG: a big-endian length, then the type
            kind, length = word1, word0
            step = 12 + length
        hit = tf.equal(kind, wanted_id)
        stop = tf.logical_or(
            _in(kind, stop_ids) if stop_ids else tf.constant(False),
            tf.cast(pos, tf.int64) + 8 > tf.cast(size, tf.int64),
        )
        state = tf.where(hit, 1, tf.where(stop, 2, 0))
        found = tf.where(hit, length, found)
        nxt = tf.minimum(tf.cast(pos, tf.int64) + step, tf.cast(size, tf.int64))
        return tf.where(tf.equal(state, 0), tf.cast(nxt, tf.int32), pos), state, found

    pos, state, length = tf.while_loop(
        lambda pos, state, found: tf.equal(state, 0),
        body,
        (tf.maximum(first, 0), tf.where(first < 0, 2, 0), tf.constant(0, tf.int64)),
        maximum_iterations=MAX_CHUNKS,
        parallel_iterations=1,
    )
    found = tf.equal(state, 1)
    return tf.where(found, pos + 8, 0), tf.where(found, length, -1)


@_no_autograph
def exif_orientation(contents: Any) -> tf.Tensor:
    """The EXIF Orientation of an encoded image: 1 (upright) to 8.

    Reads the EXIF block of a JPEG (``APP1``), PNG (``eXIf``) or WebP
    (``EXIF``) file; see the module docstring for the limits. Never raises
    on bad bytes: anything missing or malformed gives 1. A JPEG whose Exif
    segment (or first table) is among its first two segments runs no loop.

    Args:
        contents: Scalar string tensor: the encoded file.

    Returns:
        int32 scalar in 1..8, the value ``PIL.ImageOps.exif_transpose``
        acts on.
    """
    contents = _scalar_string(contents)
    with tf.name_scope("exif_orientation"):
        size = tf.strings.length(contents)

        def jpeg() -> tuple[tf.Tensor, tf.Tensor]:
            start, length = _jpeg_exif_block(contents, size)
            return start, tf.cast(length, tf.int64)

        def other() -> tuple[tf.Tensor, tf.Tensor]:
            head = tf.strings.join([tf.strings.substr(contents, 0, 12), b"\0" * 12])
            is_png = tf.equal(tf.strings.substr(head, 0, 8), b"\x89PNG\r\n\x1a\n")
            is_webp = tf.logical_and(
                tf.equal(tf.strings.substr(head, 0, 4), b"RIFF"),
                tf.equal(tf.strings.substr(head, 8, 4), b"WEBP"),
            )
            png = _chunk_walk(
                contents, size, tf.where(is_png, 8, -1), b"eXIf", (b"IDAT", b"IEND"), little=False
            )
            webp = _chunk_walk(contents, size, tf.where(is_webp, 12, -1), b"EXIF", (), little=True)
            return tf.where(is_png, png[0], webp[0]), tf.where(is_png, png[1], webp[1])

        start, length = _cond(decode_lib._is_jpeg(contents), jpeg, other)
        return _cond(
            length >= 8,
            lambda: _tiff_orientation(contents, size, start, length),
            lambda: tf.constant(1),
        )


def oriented_size(
    height: tf.Tensor, width: tf.Tensor, orientation: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(height, width)`` after `apply_orientation`: swapped for orientations 5 to 8."""
    swap = orientation >= 5
    return tf.where(swap, width, height), tf.where(swap, height, width)


def apply_orientation(image: tf.Tensor, orientation: Any) -> tf.Tensor:
    """Turns ``[H, W, C]`` pixels upright as ``PIL.ImageOps.exif_transpose`` does.

    ===========  ============================  =========================
    orientation  Pillow                        here
    ===========  ============================  =========================
    1            nothing                       nothing
    2            FLIP_LEFT_RIGHT               flip columns
    3            ROTATE_180                    flip rows and columns
    4            FLIP_TOP_BOTTOM               flip rows
    5            TRANSPOSE                     transpose
    6            ROTATE_270 (90 clockwise)     transpose, flip columns
    7            TRANSVERSE                    transpose, flip both
    8            ROTATE_90 (90 anticlockwise)  transpose, flip rows
    ===========  ============================  =========================

    No branches: one ``Transpose`` and one ``ReverseV2`` whose permutation and
    axes are computed (identity and no axes for 1), so it also batches well
    on a GPU.

    Args:
        image: ``[H, W, C]`` tensor of any dtype.
        orientation: int scalar (tensor) in 1..8; other values act as 1.

    Returns:
        ``[H, W, C]`` (``[W, H, C]`` for 5 to 8), same dtype.
    """
    image = tf.convert_to_tensor(image)
    o = tf.cast(orientation, tf.int32)
    transpose = tf.logical_and(o >= 5, o <= 8)
    flip_cols = _in(o, (2, 3, 6, 7))
    flip_rows = _in(o, (3, 4, 7, 8))
    perm = tf.where(transpose, tf.constant([1, 0, 2]), tf.constant([0, 1, 2]))
    out = tf.transpose(image, perm)
    out = tf.reverse(out, tf.boolean_mask(tf.constant([0, 1]), tf.stack([flip_rows, flip_cols])))
    channels = image.shape[-1] if image.shape.rank == 3 else None
    return tf.ensure_shape(out, [None, None, channels])
