"""Synthetic image trees for tests, benchmarks and users.

Two generators, neither of which imports TensorFlow (Pillow + NumPy only):

* `make_image_tree` writes a small class-per-folder tree whose pixels encode
  `(class_index, image_index)`, so a test can recover the pair from a decoded,
  resized and shuffled image (`decode_index`, `decode_indices`) and check that
  images and labels were not separated on the way.
* `make_photo_dataset` writes a deterministic, realistic-looking JPEG dataset
  (ImageNet-like sizes, photographic statistics, quality 85-95, 4:2:0) for
  benchmarks. It is idempotent: a complete dataset with the same parameters at
  the same path is reused.

Example:

```python
from tfdirpipe.testing import decode_indices, make_image_tree

make_image_tree("/tmp/tree", classes=("cat", "dog"), per_class=8)
# /tmp/tree/
#   cat/cat_0000.png ... cat_0007.png
#   dog/dog_0000.png ... dog_0007.png
it = ImageDataGenerator(rescale=1 / 255).flow_from_directory("/tmp/tree")
x, y = it[0]
pairs = decode_indices(x, fmt="png", rescale=1 / 255)  # (batch, 2) int array
assert (pairs[:, 0] == y.argmax(-1)).all()
```
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from typing import Literal, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = [
    "LOSSY_FORMATS",
    "TREE_FORMATS",
    "decode_index",
    "decode_indices",
    "encode_color",
    "make_image_tree",
    "make_photo_dataset",
    "photo_dataset_name",
]

ImageFormat = Literal["png", "jpeg", "jpg", "bmp", "gif", "tiff", "webp", "ppm"]
ColorMode = Literal["RGB", "RGBA", "L"]
SizeSpec = Union[int, tuple[int, int], tuple[tuple[int, int], tuple[int, int]]]

# Formats `make_image_tree` can write, in a fixed order (used in messages).
TREE_FORMATS: tuple[str, ...] = ("png", "jpeg", "jpg", "bmp", "gif", "tiff", "webp", "ppm")
# Formats whose round trip is not exact. WebP is written lossless when the
# pixels encode indices, so only JPEG is lossy here.
LOSSY_FORMATS: tuple[str, ...] = ("jpeg", "jpg")

_EXTENSIONS = {
    "png": ".png",
    "jpeg": ".jpg",
    "jpg": ".jpg",
    "bmp": ".bmp",
    "gif": ".gif",
    "tiff": ".tiff",
    "webp": ".webp",
    "ppm": ".ppm",
}
_PIL_FORMATS = {
    "png": "PNG",
    "jpeg": "JPEG",
    "jpg": "JPEG",
    "bmp": "BMP",
    "gif": "GIF",
    "tiff": "TIFF",
    "webp": "WEBP",
    "ppm": "PPM",
}
_COLOR_MODES: tuple[str, ...] = ("RGB", "RGBA", "L")

# Lossy encoding: 16 levels per channel at the centres 8, 24, ..., 248, so a
# decoded value may be off by up to 7 (JPEG at quality 50-95 stays within 4 on
# flat colour).
_LOSSY_STEP = 16
_LOSSY_OFFSET = 8


# --------------------------------------------------------------------------
# Index <-> colour encoding
# --------------------------------------------------------------------------


def _is_lossy(fmt: str) -> bool:
    return fmt.lower() in LOSSY_FORMATS


def _capacity(mode: str, lossy: bool) -> tuple[int, int]:
    """Largest (num_classes, images_per_class) a colour can encode."""
    if mode == "L":
        return (1, 1) if lossy else (16, 16)
    if lossy:
        return (16, 256)
    return (256, 65536)


def encode_color(
    class_index: int,
    image_index: int,
    *,
    lossy: bool = False,
    mode: ColorMode = "RGB",
) -> tuple[int, ...]:
    """Returns the flat pixel value that encodes `(class_index, image_index)`.

    Lossless (PNG, BMP, GIF, TIFF, WebP-lossless, PPM) RGB/RGBA:
    `R = class`, `G = index // 256`, `B = index % 256` (256 classes, 65536
    images per class). Lossy (JPEG) RGB/RGBA: each of R, G, B holds one of 16
    levels `16 * k + 8`, with `R = class`, `G = index // 16`, `B = index % 16`
    (16 classes, 256 images per class); a decode error up to 7 is tolerated.
    Grayscale (`mode="L"`, lossless only): `value = 16 * class + index` (16
    classes, 16 images per class). RGBA adds an opaque alpha of 255.

    Args:
        class_index: Index of the class (its position in sorted class names).
        image_index: Index of the image inside its class.
        lossy: Whether the file format is lossy (JPEG).
        mode: `"RGB"`, `"RGBA"` or `"L"`.

    Returns:
        A tuple of ints in `[0, 255]`, one per channel of `mode`.

    Raises:
        ValueError: If the indices do not fit the encoding.
    """
    if mode not in _COLOR_MODES:
        raise ValueError(
            f"`mode` must be one of {', '.join(map(repr, _COLOR_MODES))}. "
            f"Received: mode={mode!r}"
        )
    max_classes, max_images = _capacity(mode, lossy)
    if mode == "L" and lossy:
        raise ValueError(
            "`mode='L'` cannot encode indices in a lossy format; use a "
            "lossless `fmt` (e.g. 'png') or `encode_index=False`. "
            f"Received: mode={mode!r}, lossy={lossy!r}"
        )
    if not 0 <= class_index < max_classes:
        raise ValueError(
            f"`class_index` must be in [0, {max_classes}) for mode={mode!r} "
            f"with lossy={lossy}. Received: class_index={class_index}"
        )
    if not 0 <= image_index < max_images:
        raise ValueError(
            f"`image_index` must be in [0, {max_images}) for mode={mode!r} "
            f"with lossy={lossy}. Received: image_index={image_index}"
        )
    if mode == "L":
        return (16 * class_index + image_index,)
    if lossy:
        rgb = (
            _LOSSY_STEP * class_index + _LOSSY_OFFSET,
            _LOSSY_STEP * (image_index // 16) + _LOSSY_OFFSET,
            _LOSSY_STEP * (image_index % 16) + _LOSSY_OFFSET,
        )
    else:
        rgb = (class_index, image_index // 256, image_index % 256)
    return rgb + (255,) if mode == "RGBA" else rgb


def decode_indices(
    images: np.ndarray,
    *,
    fmt: str = "png",
    rescale: float = 1.0,
) -> np.ndarray:
    """Recovers `(class_index, image_index)` from a batch of decoded images.

    Works after any resize (nearest, bilinear, ...) because each generated
    image is one flat colour; the per-image median over pixels is used so a
    few edge pixels do not matter.

    Args:
        images: Array-like of shape `(batch, height, width, channels)` or
            `(height, width, channels)`, any numeric dtype (a
            `tf.Tensor` works via `np.asarray`). Channels: 3 (RGB), 4 (RGBA)
            or 1 (grayscale written with `mode="L"`).
        fmt: The format the tree was written in (decides lossy decoding).
        rescale: The factor the pixels were multiplied by (e.g. `1/255`).

    Returns:
        An int64 array of shape `(batch, 2)` holding `(class, index)` rows
        (shape `(2,)` for a single image).
    """
    arr = np.asarray(images, dtype=np.float64)
    single = arr.ndim == 3
    if single:
        arr = arr[None]
    if arr.ndim != 4:
        raise ValueError(
            "`images` must have shape (batch, height, width, channels) or "
            f"(height, width, channels). Received: shape={arr.shape}"
        )
    values = np.median(arr.reshape(arr.shape[0], -1, arr.shape[-1]), axis=1) / rescale
    lossy = _is_lossy(fmt)
    channels = values.shape[-1]
    if channels == 1:
        v = np.rint(values[:, 0]).astype(np.int64)
        out = np.stack([v // 16, v % 16], axis=-1)
    elif channels in (3, 4):
        if lossy:
            levels = np.rint((values[:, :3] - _LOSSY_OFFSET) / _LOSSY_STEP).astype(np.int64)
            out = np.stack([levels[:, 0], 16 * levels[:, 1] + levels[:, 2]], axis=-1)
        else:
            v = np.rint(values[:, :3]).astype(np.int64)
            out = np.stack([v[:, 0], 256 * v[:, 1] + v[:, 2]], axis=-1)
    else:
        raise ValueError(
            f"`images` must have 1, 3 or 4 channels. Received: channels={channels}"
        )
    return out[0] if single else out


def decode_index(image: np.ndarray, *, fmt: str = "png", rescale: float = 1.0) -> tuple[int, int]:
    """Recovers `(class_index, image_index)` from one decoded image.

    See `decode_indices`; this is its single-image form returning a tuple.
    """
    arr = np.asarray(image)
    if arr.ndim != 3:
        raise ValueError(
            f"`image` must have shape (height, width, channels). Received: shape={arr.shape}"
        )
    c, i = decode_indices(arr, fmt=fmt, rescale=rescale)
    return int(c), int(i)


# --------------------------------------------------------------------------
# make_image_tree
# --------------------------------------------------------------------------


def _size_sampler(size: SizeSpec):
    """Validates `size` and returns `rng -> (height, width)`."""

    def _check_int(v, what):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(
                f"`size` {what} must be a positive int. Received: size={size!r}"
            )
        return int(v)

    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        s = _check_int(size, "side")
        return lambda rng: (s, s)
    if not isinstance(size, Sequence) or len(size) != 2:
        raise TypeError(
            "`size` must be an int, a (height, width) pair, or a pair of "
            "(min, max) ranges ((min_h, max_h), (min_w, max_w)). "
            f"Received: size={size!r}"
        )
    if all(isinstance(v, Sequence) for v in size):
        (h0, h1), (w0, w1) = size
        h0, h1 = _check_int(h0, "range bound"), _check_int(h1, "range bound")
        w0, w1 = _check_int(w0, "range bound"), _check_int(w1, "range bound")
        if h0 > h1 or w0 > w1:
            raise ValueError(
                f"`size` ranges must be (min, max) with min <= max. Received: size={size!r}"
            )
        return lambda rng: (int(rng.integers(h0, h1 + 1)), int(rng.integers(w0, w1 + 1)))
    h, w = (_check_int(v, "dimension") for v in size)
    return lambda rng: (h, w)


def _smooth_content(rng: np.random.Generator, h: int, w: int, channels: int) -> np.ndarray:
    """A smooth random image (used when `encode_index=False`)."""
    grid = rng.integers(0, 256, size=(3, 3, channels), dtype=np.uint8)
    img = Image.fromarray(np.ascontiguousarray(grid if channels != 1 else grid[..., 0]))
    arr = np.asarray(img.resize((w, h), Image.Resampling.BILINEAR)).astype(np.int16)
    noise = rng.integers(-12, 13, size=arr.shape, dtype=np.int16)
    out = np.clip(arr + noise, 0, 255).astype(np.uint8)
    if channels == 4:
        out[..., 3] = 255
    return out


def make_image_tree(
    root: str | os.PathLike,
    classes: Sequence[str] = ("cat", "dog"),
    per_class: int | Sequence[int] = 8,
    size: SizeSpec = (24, 32),
    fmt: ImageFormat = "png",
    seed: int = 0,
    encode_index: bool = True,
    mode: ColorMode = "RGB",
) -> list[str]:
    """Writes a class-per-folder tree of real image files.

    ```
    root/
      cat/cat_0000.png, cat_0001.png, ...
      dog/dog_0000.png, ...
    ```

    With `encode_index=True` every image is one flat colour that encodes
    `(class_index, image_index)` (see `encode_color`), where `class_index` is
    the position of the class in `sorted(classes)` (Keras's class order) and
    `image_index` the number in the file name. Flat colours survive nearest
    and bilinear resizing, cropping and JPEG; recover the pair with
    `decode_indices`. With `encode_index=False` the pixels are smooth random
    content (deterministic for a `seed`).

    Args:
        root: Directory to write into (created; existing files with the same
            names are overwritten).
        classes: Class folder names.
        per_class: Images per class, one int for all classes or one per class
            (in the order of `classes`).
        size: `(height, width)` of every image; an int for squares; or
            `((min_h, max_h), (min_w, max_w))` to draw each image's size
            uniformly (inclusive) from the ranges.
        fmt: One of `TREE_FORMATS`. WebP is written lossless.
        seed: Seed for sizes and (with `encode_index=False`) content.
        encode_index: Whether the pixels encode `(class_index, image_index)`.
        mode: `"RGB"`, `"RGBA"` (not with JPEG) or `"L"` (grayscale).

    Returns:
        The written file paths as strings, class by class in the order of
        `classes`, then by image index.

    Raises:
        ValueError: For an unknown `fmt`/`mode`, RGBA JPEG, or more classes
            or images than the encoding holds (see `encode_color`).
        TypeError: For a malformed `size`.
    """
    fmt_l = str(fmt).lower()
    if fmt_l not in _EXTENSIONS:
        raise ValueError(
            f"`fmt` must be one of {', '.join(map(repr, TREE_FORMATS))}. Received: fmt={fmt!r}"
        )
    if mode not in _COLOR_MODES:
        raise ValueError(
            f"`mode` must be one of {', '.join(map(repr, _COLOR_MODES))}. Received: mode={mode!r}"
        )
    if mode == "RGBA" and fmt_l in ("jpeg", "jpg", "ppm"):
        raise ValueError(
            f"`mode='RGBA'` cannot be written as {fmt_l!r}; use 'png', 'webp', "
            f"'tiff' or 'gif'. Received: fmt={fmt!r}, mode={mode!r}"
        )
    classes = list(classes)
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"`classes` must be non-empty and unique. Received: classes={classes!r}")
    if isinstance(per_class, (int, np.integer)) and not isinstance(per_class, bool):
        counts = [int(per_class)] * len(classes)
    else:
        counts = [int(c) for c in per_class]
        if len(counts) != len(classes):
            raise ValueError(
                "`per_class` must be an int or have one entry per class. "
                f"Received: per_class={per_class!r} for {len(classes)} classes"
            )
    if any(c < 0 for c in counts):
        raise ValueError(f"`per_class` must be >= 0. Received: per_class={per_class!r}")
    sample_size = _size_sampler(size)
    lossy = _is_lossy(fmt_l)
    if encode_index:
        max_classes, max_images = _capacity(mode, lossy)
        if mode == "L" and lossy:
            raise ValueError(
                "`encode_index=True` with `mode='L'` needs a lossless `fmt` "
                "(e.g. 'png'), or pass `encode_index=False`. "
                f"Received: fmt={fmt!r}, mode={mode!r}"
            )
        if len(classes) > max_classes or max(counts, default=0) > max_images:
            raise ValueError(
                f"fmt={fmt!r} with mode={mode!r} encodes at most {max_classes} "
                f"classes of {max_images} images; pass `encode_index=False` or "
                "a lossless `fmt`. "
                f"Received: classes={len(classes)}, per_class={max(counts)}"
            )

    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    rank = {name: i for i, name in enumerate(sorted(classes))}
    rng = np.random.default_rng(seed)
    root = os.fspath(root)
    ext = _EXTENSIONS[fmt_l]
    paths: list[str] = []
    for name, count in zip(classes, counts):
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        for index in range(count):
            h, w = sample_size(rng)
            if encode_index:
                color = encode_color(rank[name], index, lossy=lossy, mode=mode)
                arr = np.empty((h, w, channels), dtype=np.uint8)
                arr[...] = color
            else:
                arr = _smooth_content(rng, h, w, channels)
            img = Image.fromarray(np.ascontiguousarray(arr[..., 0]) if channels == 1 else arr)
            path = os.path.join(folder, f"{name}_{index:04d}{ext}")
            _save_tree_image(img, path, fmt_l)
            paths.append(path)
    return paths


def _save_tree_image(img: Image.Image, path: str, fmt: str) -> None:
    pil_fmt = _PIL_FORMATS[fmt]
    if pil_fmt == "JPEG":
        img.save(path, "JPEG", quality=95)
    elif pil_fmt == "WEBP":
        img.save(path, "WEBP", lossless=True)
    elif pil_fmt == "GIF" and img.mode != "L":
        # An adaptive palette keeps flat colours exact (the default web palette
        # would snap them). Alpha is dropped: GIF has no partial alpha.
        img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, "GIF")
    else:
        img.save(path, pil_fmt)


# --------------------------------------------------------------------------
# make_photo_dataset
# --------------------------------------------------------------------------

# Bump when the rendering changes: it is part of the manifest, so datasets
# written by an older generator are not silently reused.
_PHOTO_GENERATOR_VERSION = 1
_MANIFEST = "MANIFEST.json"


def photo_dataset_name(
    num_images: int,
    num_classes: int,
    seed: int,
    size_range: tuple[int, int],
    mean_size: tuple[int, int],
    quality: tuple[int, int],
) -> str:
    """A directory name that spells the parameters of `make_photo_dataset`.

    Example: `photos-n2000-c10-s0-r200_1000-m350x400-q85_95-v1`.
    """
    return (
        f"photos-n{num_images}-c{num_classes}-s{seed}"
        f"-r{size_range[0]}_{size_range[1]}-m{mean_size[0]}x{mean_size[1]}"
        f"-q{quality[0]}_{quality[1]}-v{_PHOTO_GENERATOR_VERSION}"
    )


def _photo_params(num_images, num_classes, seed, size_range, mean_size, quality) -> dict:
    return {
        "generator_version": _PHOTO_GENERATOR_VERSION,
        "num_images": int(num_images),
        "num_classes": int(num_classes),
        "seed": int(seed),
        "size_range": [int(v) for v in size_range],
        "mean_size": [int(v) for v in mean_size],
        "quality": [int(v) for v in quality],
    }


def _validate_photo_args(num_images, num_classes, seed, size_range, mean_size, quality, workers):
    for name, value in (("num_images", num_images), ("num_classes", num_classes), ("workers", workers)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"`{name}` must be an int. Received: {name}={value!r}")
        if value < 1:
            raise ValueError(f"`{name}` must be >= 1. Received: {name}={value!r}")
    if num_classes > num_images:
        raise ValueError(
            "`num_classes` must be <= `num_images` so every class has an image. "
            f"Received: num_classes={num_classes}, num_images={num_images}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative int. Received: seed={seed!r}")
    for name, pair, lo, hi in (
        ("size_range", size_range, 8, 8192),
        ("mean_size", mean_size, 8, 8192),
        ("quality", quality, 1, 100),
    ):
        if not isinstance(pair, Sequence) or len(pair) != 2:
            raise TypeError(f"`{name}` must be a pair of ints. Received: {name}={pair!r}")
        if not all(isinstance(v, (int, np.integer)) and lo <= v <= hi for v in pair):
            raise ValueError(
                f"`{name}` values must be ints in [{lo}, {hi}]. Received: {name}={pair!r}"
            )
    if size_range[0] > size_range[1] or quality[0] > quality[1]:
        raise ValueError(
            "`size_range` and `quality` must be (min, max) with min <= max. "
            f"Received: size_range={size_range!r}, quality={quality!r}"
        )


def _photo_size(rng: np.random.Generator, mean_size, size_range) -> tuple[int, int]:
    """(height, width): log-normal scale around `mean_size`, mostly landscape."""
    mh, mw = mean_size
    scale = math.exp(rng.normal(0.0, 0.28))
    if rng.random() < 0.03:  # the occasional high-resolution original
        scale *= 2.2
    aspect = math.exp(rng.normal(0.0, 0.12))
    h, w = mh * scale / math.sqrt(aspect), mw * scale * math.sqrt(aspect)
    if rng.random() < 0.2:  # portrait
        h, w = w, h
    lo, hi = size_range
    return int(np.clip(round(h), lo, hi)), int(np.clip(round(w), lo, hi))


def _noise_field(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Zero-mean, unit-ish float32 noise, smooth over `cell` pixels."""
    gh, gw = max(2, int(math.ceil(h / cell)) + 1), max(2, int(math.ceil(w / cell)) + 1)
    grid = rng.standard_normal((gh, gw), dtype=np.float32)
    return np.array(Image.fromarray(grid).resize((w, h), Image.Resampling.BICUBIC))


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    i = np.floor(h * 6.0).astype(int) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack(
        [np.stack(c, -1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))]
    )
    return np.take_along_axis(table, i[None, ..., None].repeat(3, -1), axis=0)[0]


def _palette(rng: np.random.Generator, class_hue: float, n: int) -> np.ndarray:
    """n RGB colours in [0, 1] around a class hue, with some outliers."""
    hue = (class_hue + rng.normal(0, 0.06, n)) % 1.0
    outlier = rng.random(n) < 0.3
    hue[outlier] = rng.random(outlier.sum())
    sat = np.clip(rng.normal(0.45, 0.2, n), 0.05, 0.95)
    val = np.clip(rng.normal(0.55, 0.2, n), 0.08, 0.97)
    return _hsv_to_rgb(np.stack([hue, sat, val], -1)).astype(np.float32)


def _render_photo(
    rng: np.random.Generator, h: int, w: int, class_hue: float, banks: dict[str, np.ndarray]
) -> np.ndarray:
    """A procedural photograph as an (h, w, 3) uint8 array."""
    # 1. Colour: a smooth field from a few random colours (sky, walls,
    #    out-of-focus background) plus a finer, fainter colour variation.
    gh, gw = int(rng.integers(2, 4)), int(rng.integers(2, 5))
    colors = (_palette(rng, class_hue, gh * gw).reshape(gh, gw, 3) * 255).astype(np.uint8)
    base = Image.fromarray(colors).resize((w, h), Image.Resampling.BICUBIC)
    fh, fw = max(2, h // 40), max(2, w // 40)
    detail = (_palette(rng, class_hue, fh * fw).reshape(fh, fw, 3) * 255).astype(np.uint8)
    detail_img = Image.fromarray(detail).resize((w, h), Image.Resampling.BICUBIC)
    base = Image.blend(base, detail_img, float(rng.uniform(0.1, 0.3)))

    # 2. Objects: filled shapes with hard edges (some softened), composited in
    #    before lighting and texture so those apply to them too.
    layer = Image.new("RGB", (w, h))
    alpha = Image.new("L", (w, h), 0)
    draw_c, draw_a = ImageDraw.Draw(layer), ImageDraw.Draw(alpha)
    shape_colors = (_palette(rng, class_hue, 8) * 255).astype(int)
    for k in range(int(rng.integers(2, 9))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.04, 0.3) * w, rng.uniform(0.04, 0.3) * h
        color = tuple(int(c) for c in shape_colors[k % 8])
        kind = rng.integers(0, 3)
        if kind == 0:
            box = [cx - rx, cy - ry, cx + rx, cy + ry]
            draw_c.ellipse(box, fill=color)
            draw_a.ellipse(box, fill=255)
        elif kind == 1:
            n = int(rng.integers(3, 7))
            ang = np.sort(rng.uniform(0, 2 * math.pi, n))
            pts = [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in ang]
            draw_c.polygon(pts, fill=color)
            draw_a.polygon(pts, fill=255)
        else:
            box = [cx - rx, cy - ry * 0.3, cx + rx, cy + ry * 0.3]
            draw_c.rectangle(box, fill=color)
            draw_a.rectangle(box, fill=255)
    if rng.random() < 0.5:
        alpha = alpha.filter(ImageFilter.BoxBlur(float(rng.uniform(0.5, 2.0))))
    base = Image.composite(layer, base, alpha)

    # 3. Illumination: a linear gradient in a random direction and a vignette.
    yy = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    angle = rng.uniform(0, 2 * math.pi)
    ca, sa = rng.uniform(0.05, 0.3) * math.cos(angle), rng.uniform(0.05, 0.3) * math.sin(angle)
    vig = rng.uniform(0.05, 0.25)
    light = (1.0 + ca * xx - vig * xx * xx) + (sa * yy - vig * yy * yy)

    # 4. Texture: 1/f noise at several scales, strong where a smooth mask says
    #    "textured region" (foliage, fabric, gravel), weaker elsewhere.
    mask = _noise_field(rng, h, w, cell=min(h, w) / rng.uniform(1.5, 3.5))
    mask += np.float32(rng.uniform(-0.8, 0.6))
    mask *= -3.0
    np.exp(mask, out=mask)
    mask += 1.0
    np.reciprocal(mask, out=mask)
    luma = _noise_field(rng, h, w, 48.0 * rng.uniform(0.7, 1.4))
    luma *= 14.0
    luma += _noise_field(rng, h, w, 12.0 * rng.uniform(0.7, 1.4)) * 9.0
    luma += _crop(rng, banks["texture3"], h, w) * np.float32(rng.uniform(6.0, 10.0))
    fine = _crop(rng, banks["texture1"], h, w) * np.float32(rng.uniform(18.0, 36.0))
    luma *= 0.3 + 0.7 * mask
    fine *= 0.35 + 0.65 * mask
    luma += fine

    # 5. Compose, then mild sensor noise from a pre-drawn bank (random crop).
    img = np.asarray(base, dtype=np.float32)
    img *= light[..., None]
    img += luma[..., None] * rng.uniform(0.8, 1.2, 3).astype(np.float32)
    img += _crop(rng, banks["sensor"], h, w) * np.float32(rng.uniform(1.5, 3.5))
    np.clip(img, 0.0, 255.0, out=img)
    return img.astype(np.uint8)


def _crop(rng: np.random.Generator, bank: np.ndarray, h: int, w: int) -> np.ndarray:
    """A random (h, w) window of a pre-drawn noise bank (a view)."""
    bh, bw = bank.shape[:2]
    oy, ox = int(rng.integers(0, bh - h + 1)), int(rng.integers(0, bw - w + 1))
    return bank[oy : oy + h, ox : ox + w]


def _noise_banks(seed: int, size_range) -> dict[str, np.ndarray]:
    """Full-resolution noise drawn once per dataset, cropped per image.

    Drawing and filtering fine noise at full resolution is the slowest part
    of rendering; random windows of one large field look the same and cost a
    slice.
    """
    side = max(int(size_range[1]), 8)
    rng = np.random.default_rng([seed, 0x5E45])
    return {
        "sensor": rng.standard_normal((side, side, 3), dtype=np.float32),
        "texture1": _noise_field(rng, side, side, 1.5),
        "texture3": _noise_field(rng, side, side, 3.0),
    }


def _render_one(args) -> tuple[str, int, int, int, str]:
    """Renders and writes image `i`; returns (relpath, height, width, quality, sha1)."""
    i, num_classes, seed, size_range, mean_size, quality, tmp_root, banks = args
    rng = np.random.default_rng([seed, i])
    cls = i % num_classes
    h, w = _photo_size(rng, mean_size, size_range)
    q = int(rng.integers(quality[0], quality[1] + 1))
    arr = _render_photo(rng, h, w, class_hue=(cls * 0.618034) % 1.0, banks=banks)
    rel = os.path.join(f"class_{cls:03d}", f"img_{i:06d}.jpg")
    path = os.path.join(tmp_root, rel)
    Image.fromarray(arr).save(path, "JPEG", quality=q, subsampling=2, optimize=False)
    with open(path, "rb") as f:
        digest = hashlib.sha1(f.read()).hexdigest()
    return rel, h, w, q, digest


def _read_manifest(root: str) -> dict | None:
    try:
        with open(os.path.join(root, _MANIFEST)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _manifest_complete(root: str, manifest: dict) -> bool:
    files = manifest.get("files", [])
    if len(files) != manifest.get("params", {}).get("num_images"):
        return False
    return all(os.path.isfile(os.path.join(root, entry["path"])) for entry in files)


def make_photo_dataset(
    root: str | os.PathLike,
    num_images: int = 1000,
    num_classes: int = 10,
    seed: int = 0,
    size_range: tuple[int, int] = (200, 1000),
    mean_size: tuple[int, int] = (350, 400),
    quality: tuple[int, int] = (85, 95),
    workers: int = 1,
) -> str:
    """Writes (or reuses) a deterministic dataset of photo-like JPEGs.

    ```
    root/
      MANIFEST.json            parameters + per-file size, quality, sha1
      class_000/img_000000.jpg, img_000010.jpg, ...
      class_001/img_000001.jpg, ...
      ...
    ```

    The content is procedural but compresses and decodes like photographs:
    smooth colour fields with illumination gradients and vignetting, 1/f
    texture at several scales masked into textured and smooth regions, hard
    edged shapes, chroma variation and mild sensor noise; each class has its
    own dominant hue (so a small CNN can learn something). Sizes follow a
    log-normal around `mean_size`, mostly landscape (20% portrait), clipped to
    `size_range` per side; JPEG quality is drawn per image from `quality`,
    4:2:0 chroma subsampling, baseline. Image `i` goes to class
    `i % num_classes` and depends only on `(seed, i)`: the same arguments give
    byte-identical files.

    The dataset is written to a temporary sibling directory and renamed into
    place, then `MANIFEST.json` marks it complete. If `root` already holds a
    complete dataset with the same parameters it is returned untouched.

    Args:
        root: Target directory (must not exist, be empty, or hold a dataset
            written by this function).
        num_images: Number of images.
        num_classes: Number of class folders.
        seed: Seed; the output is a pure function of the arguments.
        size_range: `(min, max)` pixels for each side.
        mean_size: Typical `(height, width)`; the default is 400 wide by 350
            high, near ImageNet's typical size.
        quality: `(min, max)` JPEG quality, inclusive.
        workers: Threads used to render (the output does not depend on it).

    Returns:
        `root` as a string.

    Raises:
        FileExistsError: If `root` holds other files, or a dataset with
            different parameters.
    """
    _validate_photo_args(num_images, num_classes, seed, size_range, mean_size, quality, workers)
    root = os.path.abspath(os.fspath(root))
    params = _photo_params(num_images, num_classes, seed, size_range, mean_size, quality)
    manifest = _read_manifest(root)
    if manifest is not None:
        if manifest.get("params") == params and _manifest_complete(root, manifest):
            return root
        raise FileExistsError(
            f"{root!r} holds a photo dataset with other parameters or missing "
            "files; choose another `root` (see `photo_dataset_name`) or delete it. "
            f"Found: {manifest.get('params')}; requested: {params}"
        )
    if os.path.exists(root) and (not os.path.isdir(root) or os.listdir(root)):
        raise FileExistsError(
            f"{root!r} exists and is not an empty directory or a dataset written "
            "by `make_photo_dataset`; choose another `root`."
        )

    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp_root = tempfile.mkdtemp(prefix=os.path.basename(root) + ".tmp-", dir=parent)
    try:
        for c in range(num_classes):
            os.makedirs(os.path.join(tmp_root, f"class_{c:03d}"))
        jobs = [
            (i, num_classes, seed, tuple(size_range), tuple(mean_size), tuple(quality), tmp_root)
            for i in range(num_images)
        ]
        banks = _noise_banks(seed, size_range)
        jobs = [job + (banks,) for job in jobs]
        if workers == 1:
            results = [_render_one(job) for job in jobs]
        else:
            # Threads, not processes: Pillow and large NumPy operations release
            # the GIL, and nothing needs pickling or re-importing.
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(workers) as pool:
                results = list(pool.map(_render_one, jobs))
        files = [
            {"path": rel.replace(os.sep, "/"), "height": h, "width": w, "quality": q, "sha1": d}
            for rel, h, w, q, d in results
        ]
        with open(os.path.join(tmp_root, _MANIFEST), "w") as f:
            json.dump({"params": params, "files": files}, f, indent=1)
        if os.path.isdir(root):
            os.rmdir(root)  # empty (checked above)
        try:
            os.rename(tmp_root, root)
        except OSError:
            # Another process finished the same dataset first: reuse it.
            other = _read_manifest(root)
            if other is None or other.get("params") != params:
                raise
            shutil.rmtree(tmp_root, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp_root, ignore_errors=True)
        raise
    return root
