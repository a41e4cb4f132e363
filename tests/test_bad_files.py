"""Bad, odd and hostile files through flow_from_directory: raise, skip, warn.

A corpus of real files, each named for what it is. Good files are flat
colours that encode ``(class, index)`` with the lossy (16-level) encoding of
`tfdirpipe.testing.encode_color`, so one `decode_indices(fmt="jpeg")` call
recovers the pair from any of them (PNG, GIF, BMP and JPEG alike), and a test
can check that every good file comes out exactly once per epoch with its
label.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import tfdirpipe
from tfdirpipe import _tfio, testing
from tfdirpipe.iterator import BadImageError

CLASSES = ("cat", "dog")  # class index = position in sorted order
PLAIN_PER_CLASS = 4  # cat_0000.jpg ... written by make_image_tree
SIZE = (12, 16)  # (height, width) of every hand-made good image
TFIO_OK, TFIO_WHY = _tfio.tfio_status()


# --------------------------------------------------------------------------
# File builders (bytes)
# --------------------------------------------------------------------------


def _color(label: int, index: int) -> tuple[int, int, int]:
    return testing.encode_color(label, index, lossy=True)


def _flat(label: int, index: int, dtype=np.uint8) -> np.ndarray:
    arr = np.empty((*SIZE, 3), dtype=np.uint8)
    arr[...] = _color(label, index)
    return arr.astype(dtype) * 257 if dtype == np.uint16 else arr


def _pil_bytes(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# Adam7 passes: (first row, first column, row step, column step).
_ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1))


def _png(pixels: np.ndarray, *, interlace: bool = False) -> bytes:
    """A PNG written by hand (Pillow writes neither 16-bit RGB nor interlaced)."""
    h, w, c = pixels.shape
    depth = 16 if pixels.dtype == np.uint16 else 8
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    big_endian = pixels.astype(">u2" if depth == 16 else "u1")
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    raw = b""
    for r0, c0, rs, cs in passes:
        sub = big_endian[r0::rs, c0::cs]
        if sub.size:
            raw += b"".join(b"\0" + row.tobytes() for row in sub)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace))
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def _jpeg(label: int, index: int, **kwargs) -> bytes:
    return _pil_bytes(Image.fromarray(_flat(label, index)), "JPEG", quality=95, **kwargs)


def _palette_image(label: int, index: int) -> Image.Image:
    """Palette image: entry 0 is the colour, entry 1 (a few pixels) black."""
    img = Image.new("P", SIZE[::-1], 0)
    img.putpalette(list(_color(label, index)) + [0, 0, 0] * 255)
    for x in range(3):
        img.putpixel((x, 0), 1)
    return img


def _cmyk_jpeg(label: int, index: int) -> bytes:
    img = Image.fromarray(_flat(label, index)).convert("CMYK")
    return _pil_bytes(img, "JPEG", quality=95)


def _huge_truncated_jpeg() -> bytes:
    """A real JPEG whose frame header is patched to 60000x60000, cut in half."""
    data = bytearray(_jpeg(0, 0))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    return bytes(data[: len(data) // 2])


def _png_bomb() -> bytes:
    """IHDR declares 100000 x 100000 RGB (30 GB decoded), followed by 1 MiB of zeros."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * (1 << 20), 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


BOMB_DECLARED_BYTES = 100_000 * 100_000 * 3

# Good files that exercise a decoder path: (relative path, label, index, bytes builder).
# Indices start at 10, after the plain files of make_image_tree.
GOOD_VARIANTS = {
    "png_named_jpg": ("cat/png_named.jpg", 0, 10, lambda: _png(_flat(0, 10))),
    "gif_named_png": ("cat/gif_named.png", 0, 11, lambda: _pil_bytes(_palette_image(0, 11), "GIF")),
    "cmyk_jpeg": ("cat/cmyk.jpg", 0, 12, lambda: _cmyk_jpeg(0, 12)),
    "progressive_jpeg": ("cat/progressive.jpg", 0, 13, lambda: _jpeg(0, 13, progressive=True)),
    "png_16bit": ("dog/png16.png", 1, 10, lambda: _png(_flat(1, 10, np.uint16))),
    "palette_png_transparency": (
        "dog/palette_trns.png", 1, 11,
        lambda: _pil_bytes(_palette_image(1, 11), "PNG", transparency=bytes([128, 0])),
    ),
    "interlaced_png": ("dog/interlaced.png", 1, 12, lambda: _png(_flat(1, 12), interlace=True)),
    "bmp_palette": ("dog/palette.bmp", 1, 13, lambda: _pil_bytes(_palette_image(1, 13), "BMP")),
}

_TIFF = ("dog/photo.tiff", 1, 14, lambda: _pil_bytes(Image.fromarray(_flat(1, 14)), "TIFF"))
if TFIO_OK:
    GOOD_VARIANTS["tiff"] = _TIFF

# Files that cannot be loaded: (relative path, bytes builder or None for a
# dangling symlink, pattern the reason must match).
BAD_CASES = {
    "truncated_jpeg": (
        "cat/truncated.jpg", lambda: _jpeg(0, 50)[:300], r"truncated JPEG \(no end-of-image marker\)"
    ),
    "truncated_png": (
        "dog/truncated.png", lambda: _png(_flat(1, 50))[:-20], r"truncated PNG \(no complete IEND chunk\)"
    ),
    "zero_byte": ("cat/empty.jpg", lambda: b"", r"^not an image"),
    "random_bytes_jpg": (
        "cat/random.jpg",
        lambda: b"\x17" + np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes(),
        r"^not an image",
    ),
    "text_named_png": ("dog/text.png", lambda: b"hello, I am not a picture\n" * 10, r"^not an image"),
    "png_bomb": ("dog/bomb.png", _png_bomb, r"image too large: 100000 x 100000 pixels > max_pixels="),
    "jpeg_huge_truncated": (
        "cat/huge_truncated.jpg", _huge_truncated_jpeg,
        r"image too large: 60000 x 60000|truncated JPEG",
    ),
    "jpeg_no_frame_header": (  # SOI, APP0, junk, EOI: ends like a complete JPEG
        "cat/no_frame.jpg",
        lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\x13" * 200 + b"\xff\xd9",
        r"^corrupt JPEG header",
    ),
    "dangling_symlink": ("cat/gone.jpg", None, r"^dangling symlink$"),
}
if not TFIO_OK:  # never silently dropped: refused with the reason
    BAD_CASES["tiff_without_tfio"] = (
        _TIFF[0], _TIFF[3], r"^unsupported format TIFF \(tensorflow-io not available: .*pip install"
    )

# Entries that are neither classes nor samples: (relative path, bytes).
IGNORED = {
    "cat/._cat_0000.jpg": b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64),
    "cat/.DS_Store": b"\x00\x00\x00\x01Bud1" + bytes(64),
    "dog/Thumbs.db": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64),
    "__MACOSX/cat/._cat_0001.jpg": b"\x00\x05\x16\x07" + bytes(64),
    "cat/__MACOSX/._cat_0002.jpg": b"\x00\x05\x16\x07" + bytes(64),
}


def _write(root, relpath: str, builder) -> str:
    path = os.path.join(root, relpath)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if builder is None:
        os.symlink(os.path.join(os.path.dirname(path), "does-not-exist.jpg"), path)
    else:
        with open(path, "wb") as f:
            f.write(builder())
    return path


def _good_tree(root) -> set[tuple[int, int]]:
    """Plain JPEGs plus every good variant; returns the expected (class, index) pairs."""
    testing.make_image_tree(root, classes=CLASSES, per_class=PLAIN_PER_CLASS, size=SIZE, fmt="jpeg")
    expected = {(c, i) for c in range(len(CLASSES)) for i in range(PLAIN_PER_CLASS)}
    for relpath, label, index, builder in GOOD_VARIANTS.values():
        _write(root, relpath, builder)
        expected.add((label, index))
    return expected


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Every good variant, every bad case and every ignored entry in one tree."""
    root = str(tmp_path_factory.mktemp("corpus"))
    expected = _good_tree(root)
    bad = {name: _write(root, rel, builder) for name, (rel, builder, _) in BAD_CASES.items()}
    for relpath, data in IGNORED.items():
        _write(root, relpath, lambda data=data: data)
    return root, expected, bad


def _flow(directory, **kwargs):
    kwargs = {"target_size": (8, 8), "batch_size": 64, "class_mode": "sparse", "verbose": False,
              "shuffle": False, **kwargs}
    return tfdirpipe.ImageDataGenerator().flow_from_directory(directory, **kwargs)


def _pairs(x, y) -> list[tuple[int, int]]:
    """(class, index) encoded in the pixels of a batch; checks the labels on the way."""
    decoded = testing.decode_indices(np.asarray(x), fmt="jpeg")
    np.testing.assert_array_equal(decoded[:, 0], np.asarray(y).astype(int))
    return [tuple(p) for p in decoded.tolist()]


def _named_reason(message: str, path: str) -> str | None:
    """The reason an in-graph decode error gives for ``path``, if it names it."""
    found = re.search(r"cannot decode '?" + re.escape(path) + r"'?: ([^\n]*)", message)
    return found.group(1) if found else None


def _assert_reason(skipped, path: str, pattern: str) -> None:
    reasons = [s.reason for s in skipped if s.path == path]
    assert len(reasons) == 1, f"{path} listed {len(reasons)} times in {skipped}"
    assert re.search(pattern, reasons[0]), f"{path}: {reasons[0]!r} does not match {pattern!r}"


# Building an iterator traces the decode graph and every pass instantiates it
# (seconds each on a small machine), so the tests share iterators and epochs.


@pytest.fixture(scope="module")
def skip_run(corpus):
    """on_error="skip" over the whole corpus: the iterator and two epochs of pairs."""
    root, _, _ = corpus
    it = _flow(root, on_error="skip", shuffle=True, seed=7)
    first_order = it.index_array  # the order the first pass will use
    epochs = [[p for x, y in it for p in _pairs(x, y)] for _ in range(2)]
    return it, first_order, epochs


# --------------------------------------------------------------------------
# on_error="skip" / "warn" on the whole corpus
# --------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_skip_yields_every_good_file_once_per_epoch(corpus, skip_run):
    _, expected, _ = corpus
    it, _, epochs = skip_run
    assert it.samples == len(expected)
    for pairs in epochs:
        assert sorted(pairs) == sorted(expected)  # each good file exactly once
    assert epochs[0] != epochs[1]  # reshuffled, still complete


@pytest.mark.timeout(300)
def test_skip_lists_exactly_the_bad_files_with_reasons(corpus, skip_run):
    _, _, bad = corpus
    it, _, _ = skip_run
    assert sorted(s.path for s in it.skipped) == sorted(bad.values())
    for name, path in bad.items():
        _assert_reason(it.skipped, path, BAD_CASES[name][2])


@pytest.mark.timeout(300)
def test_good_variants_decode_to_their_colour(corpus, skip_run):
    root, _, _ = corpus
    it, first_order, epochs = skip_run
    got = {it.filenames[i]: p for i, p in zip(first_order, epochs[0])}
    for name, (relpath, label, index, _) in GOOD_VARIANTS.items():
        assert got[os.path.normpath(relpath)] == (label, index), name


@pytest.mark.timeout(300)
def test_ignored_entries_are_neither_classes_nor_samples_nor_skipped(corpus, skip_run):
    root, _, _ = corpus
    it, _, _ = skip_run
    assert list(it.class_indices) == list(CLASSES)  # __MACOSX is no class
    for relpath in IGNORED:
        path = os.path.join(root, relpath)
        assert all(path != p and not p.startswith(path + os.sep) for p in it.filepaths)
        assert all(s.path != path for s in it.skipped)
    ignored = {os.path.relpath(s.path, root) for s in it.file_index.ignored}
    assert {"__MACOSX", "cat/._cat_0000.jpg", "cat/.DS_Store", "dog/Thumbs.db", "cat/__MACOSX"} <= ignored


@pytest.mark.timeout(300)
def test_warn_warns_once_per_bad_file(corpus):
    root, expected, bad = corpus
    with pytest.warns(UserWarning) as record:
        it = _flow(root, on_error="warn")
    messages = [str(w.message) for w in record]
    for name, path in bad.items():
        hits = [m for m in messages if path in m]
        assert len(hits) == 1, (name, hits)
        assert re.search(BAD_CASES[name][2], hits[0].split(f"{path}: ", 1)[1]), hits[0]
    assert it.samples == len(expected)
    assert sorted(s.path for s in it.skipped) == sorted(bad.values())


# --------------------------------------------------------------------------
# on_error="raise" (the default)
# --------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_raise_with_preflight_lists_every_bad_file_up_front(corpus):
    root, _, bad = corpus
    with pytest.raises(BadImageError) as info:
        _flow(root, preflight=True)
    assert sorted(s.path for s in info.value.files) == sorted(bad.values())
    for name, path in bad.items():
        _assert_reason(info.value.files, path, BAD_CASES[name][2])
    message = str(info.value)
    assert message.startswith(f"{len(bad)} file(s) cannot be loaded:\n")
    for s in info.value.files:
        assert f"\n  {s.path}: {s.reason}\n" in message


@pytest.mark.timeout(60)
def test_raise_refuses_a_dangling_link_at_construction(corpus):
    root, _, bad = corpus  # no pre-flight: the listing already knows the link is dangling
    with pytest.raises(BadImageError) as info:
        _flow(root)
    assert [(s.path, s.reason) for s in info.value.files] == [
        (bad["dangling_symlink"], "dangling symlink")
    ]


@pytest.fixture(scope="module")
def corpus_without_link(corpus, tmp_path_factory):
    root, expected, bad = corpus
    copy = str(tmp_path_factory.mktemp("nolink") / "tree")
    shutil.copytree(root, copy, symlinks=True)
    os.remove(os.path.join(copy, BAD_CASES["dangling_symlink"][0]))
    moved = {name: os.path.join(copy, os.path.relpath(p, root)) for name, p in bad.items()}
    del moved["dangling_symlink"]
    return copy, expected, moved


@pytest.mark.timeout(300)
def test_raise_in_graph_names_each_bad_file_and_reason(corpus_without_link):
    """Without pre-flight the graph meets each bad file: one error per file, then it goes on."""
    root, expected, bad = corpus_without_link
    it = _flow(root, batch_size=1)
    batches = iter(it)
    errors, pairs = [], []
    while True:
        try:
            x, y = next(batches)
        except (StopIteration, tf.errors.FailedPreconditionError):
            break  # the epoch's cardinality check fails at the end: batches went missing
        except tf.errors.InvalidArgumentError as err:
            errors.append(err.message)
        else:
            pairs += _pairs(x, y)
    anonymous = [m.split("\n")[0] for m in errors if "cannot decode " not in m]
    assert not anonymous, f"errors that name no file: {anonymous}"
    for name, path in bad.items():
        reasons = [r for r in (_named_reason(m, path) for m in errors) if r is not None]
        assert len(reasons) == 1, (name, errors)
        assert re.search(BAD_CASES[name][2], reasons[0]), (name, reasons[0])
    assert len(errors) == len(bad)
    assert sorted(pairs) == sorted(expected)


# --------------------------------------------------------------------------
# Decompression bombs: refused fast, with low peak memory
# --------------------------------------------------------------------------

_BOMB_SCRIPT = textwrap.dedent(
    """
    import json, resource, shutil, sys, time
    import tensorflow as tf
    import tfdirpipe
    from tfdirpipe import scan

    root, slots, goods, bombs = sys.argv[1], sys.argv[2:4], sys.argv[4:6], sys.argv[6:8]

    def peak_bytes():
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss if sys.platform == "darwin" else rss * 1024

    def fill(sources):
        for slot, source in zip(slots, sources):  # same paths, new bytes
            shutil.copyfile(source, slot)

    flow = tfdirpipe.ImageDataGenerator().flow_from_directory
    kw = dict(target_size=(8, 8), batch_size=1, shuffle=False, verbose=False)
    fill(goods)
    graph = flow(root, **kw)  # on_error="raise", no pre-flight: the graph meets the files

    def load_everything(sources):
        fill(sources)
        skipped = flow(root, on_error="skip", **kw).skipped  # pre-flight pass
        batches, errors = iter(graph), []
        while True:
            try:
                next(batches)
            except (StopIteration, tf.errors.FailedPreconditionError):
                break
            except tf.errors.InvalidArgumentError as err:
                errors.append(err.message)
        report = scan.scan_directory(root, decode=True)
        return skipped, errors, report

    start = time.perf_counter()
    load_everything(goods)  # warm-up on good files: the same code paths
    warm_seconds = time.perf_counter() - start
    base = peak_bytes()
    start = time.perf_counter()
    skipped, errors, report = load_everything(bombs)
    print(json.dumps({
        "base": base, "peak": peak_bytes(), "seconds": time.perf_counter() - start,
        "warm_seconds": warm_seconds,
        "skipped": [[s.path, s.reason] for s in skipped],
        "errors": errors,
        "scan_bad": [[s.path, s.reason] for s in report.bad],
    }))
    """
)


@pytest.mark.timeout(600)
def test_bombs_refused_quickly_with_low_peak_memory(tmp_path):
    root = str(tmp_path / "tree")
    testing.make_image_tree(root, classes=CLASSES, per_class=2, size=SIZE, fmt="jpeg")
    slots = [os.path.join(root, "dog", "bomb.png"), os.path.join(root, "cat", "huge_truncated.jpg")]
    goods = [_write(tmp_path, "good.png", lambda: _png(_flat(1, 9))),
             _write(tmp_path, "good.jpg", lambda: _jpeg(0, 9))]
    bombs = [_write(tmp_path, "bomb.png", _png_bomb),
             _write(tmp_path, "huge_truncated.jpg", _huge_truncated_jpeg)]

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run(
        [sys.executable, "-c", _BOMB_SCRIPT, root, *slots, *goods, *bombs],
        capture_output=True, text=True, env=env, timeout=590,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])

    grown = result["peak"] - result["base"]
    print(f"bomb phase: peak RSS {result['peak'] / 2**20:.0f} MiB, grew {grown / 2**20:.1f} MiB "
          f"in {result['seconds']:.1f} s (good files: {result['warm_seconds']:.1f} s); "
          f"the declared PNG needs {BOMB_DECLARED_BYTES / 2**30:.0f} GiB")
    # Growth is graph-building noise (tens of MiB); decoding the PNG would need 28 GiB.
    assert grown < 512 * 2**20, result
    assert result["seconds"] < 2 * result["warm_seconds"] + 30, result  # no time spent decoding
    png, jpg = slots
    for listing in (result["skipped"], result["scan_bad"]):
        assert sorted(p for p, _ in listing) == sorted(slots)
        reasons = dict(listing)
        assert re.search(BAD_CASES["png_bomb"][2], reasons[png])
        assert re.search(BAD_CASES["jpeg_huge_truncated"][2], reasons[jpg])
    anonymous = [m.split("\n")[0] for m in result["errors"] if "cannot decode " not in m]
    assert not anonymous, f"errors that name no file: {anonymous}"
    assert len(result["errors"]) == 2
    for path in slots:
        assert any(_named_reason(m, path) for m in result["errors"]), result["errors"]
