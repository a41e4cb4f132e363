"""EXIF orientation (`tfdirpipe.exif`, ``exif_orientation=True``) against Pillow.

Every image is a real file. The trees hold one upright, non-square scene
(48 x 80, a white block in the top-left corner) stored eight times, each turned
by the inverse of orientation ``k`` and tagged ``k``, so that a correct
reader shows the same scene for every file and a rotation the wrong way
round is a different picture (even the shape changes for 5 to 8). The JPEG
tags are made by hand in both byte orders (``II`` little-endian, ``MM``
big-endian), with an ASCII ``Make`` entry before the orientation; PNG and
WebP tags are Pillow's own (``MM`` in Pillow 13).

The references:

* option off: the real Keras legacy iterator and
  ``keras.utils.image_dataset_from_directory`` (no orientation);
* option on: ``PIL.ImageOps.exif_transpose`` of the file, then Keras's own
  ``load_img`` resize / crop (``flow_from_directory``) or Keras's TF resize
  ops (``image_dataset_from_directory``). Both are bit-exact (tolerance 0):
  the decode is Pillow's and the transposition is lossless;
* ``fast=True``: exact against TensorFlow's DCT-scaled decode turned by
  hand (which also pins the DCT ratio computed on the *upright* size), and
  against Pillow with a measured tolerance (bilinear, 30 x 24, quality 90):
  mean absolute difference at most 0.963 and largest 3 without
  keep_aspect_ratio, 2.114 and 15 with it; asserted as mean <= 0.97 / 2.12
  and max <= 3 / 15, while leaving the orientation out is off by a mean > 20;
* the parser: Pillow's ``Image.getexif()`` Orientation, for well-formed and
  malformed EXIF blocks alike.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from numpy.testing import assert_array_equal
from PIL import Image, ImageOps

import tfdirpipe
from tfdirpipe import cache as cache_lib
from tfdirpipe import exif as exif_lib
from tfdirpipe import pipeline

T = Image.Transpose
# PIL.ImageOps.exif_transpose's table.
PIL_METHOD = {
    2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE,
    6: T.ROTATE_270, 7: T.TRANSVERSE, 8: T.ROTATE_90,
}
INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
ORIENTATIONS = tuple(range(1, 9))
SCENE_HW = (48, 80)


# --------------------------------------------------------------------------
# Content and writers.


def _scene(h: int = SCENE_HW[0], w: int = SCENE_HW[1], seed: int = 0) -> np.ndarray:
    """Upright RGB: gradients, noise, a white block in the top-left corner."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 / (w - 1), y * 255 / (h - 1), (x + y) * 128 / (h + w)], -1)
    img = img + rng.normal(0, 10, (h, w, 3))
    img[: h // 3, : w // 4] = [250, 250, 250]
    return np.clip(img, 0, 255).astype(np.uint8)


def _stored(k: int, scene: np.ndarray | None = None) -> Image.Image:
    """The scene as a camera tagging ``k`` would store it."""
    image = Image.fromarray(_scene() if scene is None else scene)
    return image if k == 1 else image.transpose(PIL_METHOD[INVERSE[k]])


def _tiff(entries: list[tuple[int, int, int, bytes]], order: str, extra: bytes = b"") -> bytes:
    """A TIFF block with one IFD: ``(tag, type, count, 4-byte value field)`` entries."""
    e = "<" if order == "II" else ">"
    head = (b"II*\0" if order == "II" else b"MM\0*") + struct.pack(e + "I", 8)
    body = struct.pack(e + "H", len(entries))
    for tag, kind, count, value in entries:
        body += struct.pack(e + "HHI", tag, kind, count) + value
    return head + body + struct.pack(e + "I", 0) + extra


def _short(value: int, order: str) -> bytes:
    return struct.pack("<HH" if order == "II" else ">HH", value, 0)


def _exif_bytes(k: int, order: str) -> bytes:
    """Hand-made EXIF: ``Make`` (ASCII, stored after the IFD), then Orientation."""
    make_at = 8 + 2 + 2 * 12 + 4
    return b"Exif\0\0" + _tiff(
        [
            (0x010F, 2, 6, struct.pack("<I" if order == "II" else ">I", make_at)),
            (0x0112, 3, 1, _short(k, order)),
        ],
        order,
        extra=b"Canon\0",
    )


def _exif_pillow(k: int) -> Image.Exif:
    """Pillow's own writer (big-endian ``MM`` in Pillow 13)."""
    exif = Image.Exif()
    exif[0x0112] = k
    return exif


def _jpeg(image: Image.Image, exif=None) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90, **({} if exif is None else {"exif": exif}))
    return buf.getvalue()


def _splice(jpeg: bytes, *segments: bytes) -> bytes:
    """``jpeg`` with raw segments inserted right after SOI."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _pillow_orientation(data: bytes) -> int:
    """What ``exif_transpose`` acts on (1 when Pillow finds none or fails)."""
    try:
        value = Image.open(io.BytesIO(data)).getexif().get(0x0112, 1)
    except Exception:  # Pillow refuses some malformed blocks: upright then
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _transposed(path) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(path)).convert("RGB")


def _keras_load_img(image: Image.Image, **kwargs) -> np.ndarray:
    """Keras's own ``load_img`` resize/crop of an (already upright) image."""
    buf = io.BytesIO()
    image.save(buf, "PNG")
    buf.seek(0)
    return np.asarray(keras.utils.load_img(buf, **kwargs))


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """``ii/`` and ``mm/`` JPEGs (hand-made tags in each byte order), orientations 1-8."""
    root = tmp_path_factory.mktemp("exif")
    for order in ("ii", "mm"):
        (root / order).mkdir()
        for k in ORIENTATIONS:
            exif = _exif_bytes(k, order.upper())
            (root / order / f"o{k}.jpg").write_bytes(_jpeg(_stored(k), exif))
    return root


def _by_path(it) -> dict[str, np.ndarray]:
    """Every image of a ``class_mode=None``, unshuffled iterator, by path."""
    images = np.concatenate([np.asarray(b) for b in it], axis=0)
    assert len(images) == len(it.filepaths)
    return dict(zip(it.filepaths, images))


# --------------------------------------------------------------------------
# The parser and the transform.


def test_tree_files_carry_the_tags_pillow_reads(tree):
    """The fixtures themselves: Pillow reads k from both byte orders."""
    for order in ("ii", "mm"):
        for k in ORIENTATIONS:
            data = (tree / order / f"o{k}.jpg").read_bytes()
            assert _pillow_orientation(data) == k
            assert b"Exif\0\0" + order.upper().encode() in data


@pytest.mark.parametrize("order", ["ii", "mm"])
def test_orientation_read_from_jpeg_both_byte_orders(tree, order):
    files = [(tree / order / f"o{k}.jpg").read_bytes() for k in ORIENTATIONS]
    got = [int(exif_lib.exif_orientation(data)) for data in files]
    assert got == list(ORIENTATIONS)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_orientation_read_from_png_and_webp(fmt):
    for k in ORIENTATIONS:
        buf = io.BytesIO()
        lossless = {"lossless": True} if fmt == "WEBP" else {}
        _stored(k).save(buf, fmt, exif=_exif_pillow(k), **lossless)
        data = buf.getvalue()
        assert _pillow_orientation(data) == k
        assert int(exif_lib.exif_orientation(data)) == k, (fmt, k)


def test_apply_orientation_is_pillow_exif_transpose():
    """Exact on every orientation, for a non-square image and each dtype path."""
    pixels = np.random.default_rng(3).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    for k in ORIENTATIONS:
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "PNG", exif=_exif_pillow(k))
        expected = np.asarray(ImageOps.exif_transpose(Image.open(buf)))
        got = exif_lib.apply_orientation(pixels, k).numpy()
        assert got.shape == expected.shape, k
        assert_array_equal(got, expected, err_msg=f"orientation {k}")
        assert exif_lib.oriented_size(tf.constant(5), tf.constant(7), tf.constant(k)) == (
            expected.shape[0], expected.shape[1],
        )
    for bad in (0, 9, -1, 65535):  # not an orientation: left as is, like Pillow
        assert_array_equal(exif_lib.apply_orientation(pixels, bad).numpy(), pixels)


def _malformed_cases() -> dict[str, tuple[bytes, int | None]]:
    """JPEG bytes and the orientation expected (None: Pillow's, read from the bytes)."""
    plain = _jpeg(_stored(1))
    ii = lambda entries, **kw: b"Exif\0\0" + _tiff(entries, "II", **kw)  # noqa: E731
    orient = lambda k: (0x0112, 3, 1, _short(k, "II"))  # noqa: E731
    orient_mm = lambda k: (0x0112, 3, 1, _short(k, "MM"))  # noqa: E731
    app1 = lambda payload: _segment(0xE1, payload)  # noqa: E731
    good = app1(ii([orient(6)]))
    return {
        # Well-formed variants Pillow reads: the orientation must be found.
        "after COM, XMP and APP2": (
            _splice(plain, _segment(0xFE, b"hello"), app1(b"http://ns.adobe.com/xap/1.0/\0<x/>"),
                    _segment(0xE2, b"ICC_PROFILE\0" + bytes(30)), good), None),
        "after fill and stray bytes": (_splice(plain, b"\xff\xff\x00\x17", good), None),
        "LONG type": (_splice(plain, app1(ii([(0x0112, 4, 1, struct.pack("<I", 8))]))), None),
        "second entry": (
            _splice(plain, app1(ii([(0x0100, 3, 1, _short(9, "II")), orient(5)]))), None),
        # Malformed or not an orientation: upright, no error.
        # A valid big-endian block whose byte-order mark is neither II nor MM.
        "bad TIFF header": (
            _splice(plain, app1(b"Exif\0\0XX" + _tiff([orient_mm(6)], "MM")[2:])), 1),
        "IFD offset past the block": (
            _splice(plain, app1(b"Exif\0\0II*\0" + struct.pack("<I", 0x7FFFFFF0) + bytes(20))), 1),
        "IFD offset 2**32 - 1": (
            _splice(plain, app1(b"Exif\0\0II*\0" + struct.pack("<I", 0xFFFFFFFF) + bytes(20))), 1),
        "entry cut by the segment end": (
            _splice(plain, app1(ii([(0x0100, 3, 1, _short(9, "II")), orient(6)])[:-6])), 1),
        "header only": (_splice(plain, app1(b"Exif\0\0II*\0")), 1),
        "empty Exif payload": (_splice(plain, app1(b"Exif\0\0")), 1),
        "no Exif signature": (_splice(plain, app1(b"Exif\0X" + _tiff([orient(6)], "II"))), 1),
        "value 0": (_splice(plain, app1(ii([orient(0)]))), 1),
        "value 9": (_splice(plain, app1(ii([orient(9)]))), 1),
        "ASCII type": (_splice(plain, app1(ii([(0x0112, 2, 2, b"6\0\0\0")]))), 1),
        "count huge": (_splice(plain, app1(b"Exif\0\0II*\0\x08\0\0\0\xff\xff" + bytes(4))), 1),
        "only in the thumbnail IFD": (
            _splice(plain, app1(b"Exif\0\0II*\0\x08\0\0\0\0\0\x0e\0\0\0"
                                 + b"\x01\0" + struct.pack("<HHI", 0x0112, 3, 1) + _short(6, "II")
                                 + bytes(4))), 1),
        "segment length 0": (_splice(plain, b"\xff\xe1\x00\x00Exif\0\0"), 1),
        # Documented limit: only APPn/COM segments before the first other one
        # are searched (Pillow reads an Exif segment after a table too).
        "after a table": (_splice(plain, _segment(0xDB, bytes(65)), good), 1),
    }


def test_malformed_exif_is_upright_and_well_formed_variants_are_found():
    for name, (data, expected) in _malformed_cases().items():
        if expected is None:
            expected = _pillow_orientation(data)
            assert expected != 1, name  # the positive cases must be positive
        assert int(exif_lib.exif_orientation(data)) == expected, name


def test_truncated_and_garbage_bytes_never_raise():
    base = _jpeg(_stored(1), _exif_bytes(6, "MM"))
    tiff = base.index(b"Exif\0\0MM") + 6
    entry_end = tiff + 8 + 2 + 2 * 12  # the Orientation entry is the second of IFD0
    for cut in range(0, entry_end + 20):  # every cut through SOI, APP0, APP1 and the IFD
        o = int(exif_lib.exif_orientation(base[:cut]))
        assert o == (6 if cut >= entry_end else 1), cut
    heads = (b"", b"\xff", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBP", b"GIF89a")
    for data in heads:
        assert int(exif_lib.exif_orientation(data)) == 1


def test_random_corruption_in_a_tf_data_graph():
    """200 mutated headers through a tf.data map: always 1..8, never an error."""
    base = _jpeg(_stored(1), _exif_bytes(6, "MM"))
    rng = np.random.default_rng(7)
    samples = []
    for _ in range(200):
        b = bytearray(base[:200])
        for pos in rng.integers(2, 80, size=rng.integers(1, 6)):
            b[pos] = rng.integers(0, 256)
        samples.append(bytes(b))
    ds = tf.data.Dataset.from_tensor_slices(samples).map(exif_lib.exif_orientation)
    got = np.array(list(ds.as_numpy_iterator()))
    assert got.min() >= 1 and got.max() <= 8
    assert (got == 6).any() and (got != 6).any()  # some still parse, some do not


def test_walks_are_bounded():
    """Junk or endless segments give up (orientation 1) instead of hanging."""
    exif = _segment(0xE1, b"Exif\0\0" + _tiff([(0x0112, 3, 1, _short(6, "II"))], "II"))
    within = b"\xff\xd8" + _segment(0xFE, b"x") * 10 + exif
    assert int(exif_lib.exif_orientation(within)) == 6
    start = time.perf_counter()
    junk = b"\xff\xd8" + b"\x00" * 2_000_000 + exif  # stray bytes, one step each
    many = b"\xff\xd8" + _segment(0xFE, b"") * 1025 + exif  # the documented bounds
    assert (exif_lib.MAX_JPEG_STEPS, exif_lib.MAX_CHUNKS) == (1024, 4096)
    assert int(exif_lib.exif_orientation(many)) == 1
    assert int(exif_lib.exif_orientation(junk)) == 1
    empty_chunk = struct.pack(">I", 0) + b"tEXt" + bytes(4)
    png = b"\x89PNG\r\n\x1a\n" + empty_chunk * 4097
    assert int(exif_lib.exif_orientation(png)) == 1
    assert time.perf_counter() - start < 30


def test_png_and_webp_are_turned_and_other_formats_are_left_alone(tmp_path):
    spec = pipeline.LoadSpec(target_size=SCENE_HW, exif_orientation=True)
    cases = {
        "o6.png": ("PNG", 6, {}),
        "o8.webp": ("WEBP", 8, {"lossless": True}),
        "o3.webp": ("WEBP", 3, {"lossless": True}),
        "plain.png": ("PNG", None, {}),  # negative controls: no EXIF
        "plain.bmp": ("BMP", None, {}),
    }
    for name, (fmt, k, kwargs) in cases.items():
        path = tmp_path / name
        image = _stored(k or 1)
        image.save(path, fmt, **({"exif": _exif_pillow(k)} if k else {}), **kwargs)
        got = pipeline.load_image(tf.constant(str(path)), spec).numpy()
        assert_array_equal(got, np.asarray(_transposed(path)), err_msg=name)
        assert_array_equal(got, _scene(), err_msg=name)  # lossless: the upright scene itself


def test_png_exif_after_the_image_data_is_not_read(tmp_path):
    """Documented limit: only an eXIf chunk before IDAT counts (Pillow reads both)."""
    buf = io.BytesIO()
    _stored(6).save(buf, "PNG")
    data = buf.getvalue()
    tiff = _tiff([(0x0112, 3, 1, _short(6, "II"))], "II")
    crc = struct.pack(">I", zlib.crc32(b"eXIf" + tiff))
    chunk = struct.pack(">I", len(tiff)) + b"eXIf" + tiff + crc
    late = data[:-12] + chunk + data[-12:]
    assert _pillow_orientation(late) == 6
    assert int(exif_lib.exif_orientation(late)) == 1


# --------------------------------------------------------------------------
# flow_from_directory.


def test_default_is_keras_legacy_no_orientation(keras_legacy, tree):
    kwargs = dict(target_size=(30, 20), class_mode=None, shuffle=False, interpolation="bilinear")
    ours = tfdirpipe.ImageDataGenerator().flow_from_directory(str(tree), verbose=False, **kwargs)
    theirs = keras_legacy().flow_from_directory(str(tree), **kwargs)
    assert ours.exif_orientation is False and ours.load_spec.exif_orientation is False
    keras_images = np.concatenate([theirs[i] for i in range(len(theirs))])
    ours_images = np.concatenate([np.asarray(b) for b in ours])
    assert_array_equal(ours_images, keras_images)
    # And that is not upright: the stored pixels differ from the scene.
    upright = _by_path(
        tfdirpipe.ImageDataGenerator().flow_from_directory(
            str(tree), verbose=False, exif_orientation=True, **kwargs
        )
    )
    for path, image in zip(ours.filepaths, ours_images):
        same = np.array_equal(image, upright[path])
        assert same == path.endswith("o1.jpg"), path


@pytest.mark.parametrize("keep_aspect_ratio", [False, True])
def test_option_is_exif_transpose_then_keras_resize(tree, keep_aspect_ratio):
    size, interpolation = (30, 20), "bilinear"
    it = tfdirpipe.ImageDataGenerator().flow_from_directory(
        str(tree), target_size=size, class_mode=None, shuffle=False, verbose=False,
        interpolation=interpolation, keep_aspect_ratio=keep_aspect_ratio, exif_orientation=True,
    )
    got = _by_path(it)
    assert len(got) == 16
    for path, image in got.items():
        expected = _keras_load_img(
            _transposed(path), target_size=size, interpolation=interpolation,
            keep_aspect_ratio=keep_aspect_ratio,
        )
        assert_array_equal(image.astype(np.uint8), expected, err_msg=path)  # tolerance 0


def test_dataframe_iterator_honours_the_option(tree):
    pd = pytest.importorskip("pandas")
    paths = sorted(str(p) for p in tree.rglob("*.jpg"))
    df = pd.DataFrame({"filename": paths})
    size = (30, 20)
    for flag in (False, True):
        it = tfdirpipe.ImageDataGenerator().flow_from_dataframe(
            df, x_col="filename", target_size=size, class_mode=None, shuffle=False,
            verbose=False, interpolation="bilinear", exif_orientation=flag,
        )
        assert it.exif_orientation is flag
        got = _by_path(it)
        for path in paths:
            source = _transposed(path) if flag else Image.open(path).convert("RGB")
            expected = _keras_load_img(source, target_size=size, interpolation="bilinear")
            assert_array_equal(got[path].astype(np.uint8), expected, err_msg=path)


def test_fast_mode_turns_first_and_scales_the_dct_by_the_upright_size(tree):
    """Upright 48 x 80 to 12 x 20 is exactly DCT ratio 4 (on the stored 80 x 48
    of orientations 5-8 it would be 2): the output is the ratio-4 decode, turned."""
    it = tfdirpipe.ImageDataGenerator().flow_from_directory(
        str(tree), target_size=(12, 20), class_mode=None, shuffle=False, verbose=False,
        fast=True, exif_orientation=True,
    )
    for path, image in _by_path(it).items():
        k = int(Path(path).stem[1:])
        raw = tf.io.decode_jpeg(
            Path(path).read_bytes(), channels=3, ratio=4, dct_method="INTEGER_FAST"
        )
        expected = np.asarray(ImageOps.exif_transpose(_with_exif(raw.numpy(), k)))
        assert_array_equal(image.astype(np.uint8), expected, err_msg=path)


def _with_exif(pixels: np.ndarray, k: int) -> Image.Image:
    """Pixels as a lossless image tagged ``k`` (for Pillow's transpose)."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", exif=_exif_pillow(k))
    return Image.open(buf)


@pytest.mark.parametrize("keep_aspect_ratio", [False, True])
def test_fast_mode_is_close_to_pillow(tree, keep_aspect_ratio):
    kwargs = dict(
        target_size=(30, 24), class_mode=None, shuffle=False, verbose=False, fast=True,
        interpolation="bilinear", keep_aspect_ratio=keep_aspect_ratio,
    )
    gen = tfdirpipe.ImageDataGenerator()
    on = _by_path(gen.flow_from_directory(str(tree), exif_orientation=True, **kwargs))
    off = _by_path(gen.flow_from_directory(str(tree), **kwargs))
    for path, image in on.items():
        expected = _keras_load_img(
            _transposed(path), target_size=(30, 24), interpolation="bilinear",
            keep_aspect_ratio=keep_aspect_ratio,
        ).astype(int)
        diff = np.abs(image.astype(int) - expected)
        # Fast mode's plain bilinear after the DCT scaling, measured over these
        # images: largest mean 0.963 / max 3 without the crop, 2.114 / 15 with it.
        mean_tol, max_tol = (2.12, 15) if keep_aspect_ratio else (0.97, 3)
        assert diff.mean() <= mean_tol and diff.max() <= max_tol, (path, diff.mean(), diff.max())
        if not path.endswith("o1.jpg"):
            assert np.abs(off[path].astype(int) - expected).mean() > 20, path


# --------------------------------------------------------------------------
# image_dataset_from_directory.


def test_image_dataset_default_is_keras_and_option_is_exif_transpose(tree):
    kwargs = dict(
        labels=None, image_size=(30, 20), shuffle=False, crop_to_aspect_ratio=True, verbose=False,
    )
    ours = tfdirpipe.image_dataset_from_directory(str(tree), **kwargs)
    theirs = keras.utils.image_dataset_from_directory(str(tree), **kwargs)
    assert ours.file_paths == theirs.file_paths
    off = np.concatenate(list(ours.as_numpy_iterator()))
    assert_array_equal(off, np.concatenate(list(theirs.as_numpy_iterator())))
    on = np.concatenate(
        list(tfdirpipe.image_dataset_from_directory(str(tree), exif_orientation=True, **kwargs)
             .as_numpy_iterator())
    )
    for path, got, plain in zip(ours.file_paths, on, off):
        # Keras decodes with tf.image.decode_image (libjpeg's default IDCT, not
        # Pillow's); turn those pixels as Pillow would, then Keras's resize.
        decoded = tf.image.decode_image(Path(path).read_bytes(), 3, expand_animations=False)
        k = int(Path(path).stem[1:])
        upright = np.asarray(ImageOps.exif_transpose(_with_exif(decoded.numpy(), k)))
        expected = tfdirpipe.dataset.smart_resize(tf.constant(upright), (30, 20), "bilinear")
        assert_array_equal(got, expected.numpy(), err_msg=path)  # tolerance 0
        assert np.array_equal(got, plain) == path.endswith("o1.jpg"), path


# --------------------------------------------------------------------------
# Graph safety, the cache key, argument checks.


def _op_types(graph_def) -> set[str]:
    ops = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        ops |= {node.op for node in function.node_def}
    return ops


@pytest.mark.parametrize("fast", [False, True])
def test_option_is_pure_graph_ops_in_tf_data(tree, fast):
    spec = pipeline.LoadSpec(
        target_size=(12, 20), exif_orientation=True, fast=fast, keep_aspect_ratio=True
    )
    load = tf.function(lambda p: pipeline.load_image(p, spec))
    ops = _op_types(load.get_concrete_function(tf.TensorSpec([], tf.string)).graph.as_graph_def())
    assert {"While", "StatelessWhile"} & ops  # the bounded EXIF walk is in there
    assert not {"PyFunc", "PyFuncStateless", "EagerPyFunc"} & ops
    paths = sorted(str(p) for p in tree.glob("*/*.jpg"))
    ds = tf.data.Dataset.from_tensor_slices(paths).map(load)
    images = list(ds.as_numpy_iterator())
    assert len(images) == 16 and all(im.shape == (12, 20, 3) for im in images)
    # Upright: every file shows the same scene, the white block top left.
    for image in images:
        assert image[0, 0].min() > 200 and image[-1, -1, 2] < 180
        assert np.abs(image.astype(int) - images[0]).mean() < 10


def test_cache_key_depends_on_the_option(tree):
    paths = sorted(str(p) for p in tree.glob("*/*.jpg"))
    off = pipeline.LoadSpec(target_size=(12, 20))
    on = pipeline.LoadSpec(target_size=(12, 20), exif_orientation=True)
    assert cache_lib.cache_key(paths, off) != cache_lib.cache_key(paths, on)


def test_option_must_be_a_bool(tree):
    gen = tfdirpipe.ImageDataGenerator()
    with pytest.raises(TypeError, match=r"^`exif_orientation` must be a bool \(True or False\)\. "
                       r"Received: exif_orientation='yes'$"):
        gen.flow_from_directory(str(tree), exif_orientation="yes", verbose=False)
    with pytest.raises(TypeError, match=r"Received: exif_orientation=1$"):
        tfdirpipe.image_dataset_from_directory(str(tree), exif_orientation=1, verbose=False)
