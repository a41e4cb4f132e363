"""``tfdirpipe.resize`` against the real Pillow (and Keras's ``load_img``).

Every expected pixel comes from Pillow itself: ``Image.fromarray(...).resize``
on the same array. The product promise is bit-exact equality for "L" and
"RGB" with every filter, so comparisons use ``assert_array_equal``. RGBA
(premultiplied-alpha resampling) measured bit-exact as well: its tolerance is
``RGBA_TOLERANCE = 0`` levels.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfdirpipe import resize

PIL_FILTERS = {name: getattr(Image.Resampling, name.upper()) for name in resize.INTERPOLATIONS}
MODES = {1: "L", 3: "RGB", 4: "RGBA"}
# Max |tfdirpipe - Pillow| for RGBA, measured over random images and alphas.
RGBA_TOLERANCE = 0


def pillow_resize(array: np.ndarray, size, interpolation: str, box=None) -> np.ndarray:
    """The oracle: Pillow's resize of ``array`` ([H, W, C] uint8), as [h, w, C]."""
    channels = array.shape[-1]
    image = Image.fromarray(array[..., 0] if channels == 1 else array, MODES[channels])
    out = np.asarray(image.resize((size[1], size[0]), PIL_FILTERS[interpolation], box=box))
    return out[..., None] if channels == 1 else out


def make_image(height: int, width: int, channels: int, pattern: str, seed: int = 0) -> np.ndarray:
    """``noise``: uniform uint8; ``gradient``: smooth ramps with a 0/255 checker
    corner (sharp edges make bicubic and lanczos over- and undershoot)."""
    rng = np.random.default_rng(seed)
    if pattern == "noise":
        return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    planes = [(xx * 255 // max(width - 1, 1) + c * 40 + yy * 3) % 256 for c in range(channels)]
    image = np.stack(planes, axis=-1).astype(np.uint8)
    checker = ((yy + xx) % 2 * 255).astype(np.uint8)
    corner = (yy < height // 3) & (xx < width // 3)
    image[corner] = checker[corner][:, None]
    return image


def resized(array: np.ndarray, size, interpolation: str, box=None) -> np.ndarray:
    return resize.pil_resize(tf.constant(array), size, interpolation, box=box).numpy()


# (name, (H, W), (h, w), box): every branch of Pillow 13's resize.
GEOMETRIES = [
    ("down", (47, 61), (13, 22), None),
    ("up", (9, 7), (31, 25), None),
    # Pillow 13 resamples vertically first iff in_h - h > 0 and
    # in_h - h > 2 * (in_w - w); the order changes the rounding.
    ("mixed_vertical_first", (40, 12), (9, 30), None),
    ("mixed_horizontal_first", (11, 53), (29, 20), None),
    ("down_vertical_first", (34, 12), (3, 7), None),
    ("down_horizontal_first", (17, 31), (2, 18), None),
    ("same_width", (30, 17), (12, 17), None),
    ("same_size", (23, 19), (23, 19), None),
    ("keras_crop_box", (45, 70), (20, 20), "keras"),
    ("float_box", (40, 50), (17, 23), (3.25, 4.5, 41.75, 33.0)),
    ("integer_box_of_output_size", (30, 40), (10, 12), (5, 7, 17, 17)),
]


def _box(spec, in_hw, out_hw):
    if spec == "keras":
        return resize.keras_crop_box(*in_hw, *out_hw)
    return spec


@pytest.mark.parametrize("interpolation", resize.INTERPOLATIONS)
@pytest.mark.parametrize("channels", [1, 3], ids=["L", "RGB"])
@pytest.mark.parametrize("pattern", ["noise", "gradient"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=[g[0] for g in GEOMETRIES])
def test_bit_exact_with_pillow(geometry, pattern, channels, interpolation):
    _, in_hw, out_hw, box_spec = geometry
    array = make_image(*in_hw, channels, pattern, seed=len(geometry[0]))
    box = _box(box_spec, in_hw, out_hw)
    np.testing.assert_array_equal(
        resized(array, out_hw, interpolation, box), pillow_resize(array, out_hw, interpolation, box)
    )


def _rgba(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    alpha = rng.integers(0, 256, (height, width), dtype=np.uint8)
    alpha[::3] = 255  # opaque rows
    alpha[1::5] = 0  # transparent rows
    alpha[:, ::4] = rng.integers(1, 8, (height, (width + 3) // 4), dtype=np.uint8)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return np.concatenate([rgb, alpha[..., None]], axis=-1)


RGBA_GEOMETRIES = [
    ((37, 29), (11, 17), None),
    ((8, 13), (27, 19), None),
    ((40, 12), (9, 30), None),
    ((45, 70), (20, 20), "keras"),
    ((40, 50), (17, 23), (3.25, 4.5, 41.75, 33.0)),
    ((30, 40), (10, 12), (5, 7, 17, 17)),
    ((21, 26), (21, 26), (0, 0, 26, 21)),
]


@pytest.mark.parametrize("interpolation", resize.INTERPOLATIONS)
@pytest.mark.parametrize("geometry", RGBA_GEOMETRIES)
def test_rgba_within_measured_tolerance(geometry, interpolation):
    in_hw, out_hw, box_spec = geometry
    array = _rgba(*in_hw, seed=in_hw[0])
    box = _box(box_spec, in_hw, out_hw)
    got = resized(array, out_hw, interpolation, box).astype(int)
    want = pillow_resize(array, out_hw, interpolation, box).astype(int)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= RGBA_TOLERANCE


def test_large_downscale_many_taps():
    # 29x downscale: 60+ bilinear taps and ~180 lanczos taps per output pixel.
    array = make_image(12, 700, 3, "noise", seed=3)
    for interpolation in ("bilinear", "lanczos"):
        np.testing.assert_array_equal(
            resized(array, (5, 24), interpolation), pillow_resize(array, (5, 24), interpolation)
        )


def test_nearest_positions_outside_the_image_are_black():
    # A zero-width box on the right edge: Pillow's running sum lands at x = W.
    array = make_image(10, 12, 3, "noise", seed=4)
    box = (12, 0, 12, 10)
    want = pillow_resize(array, (4, 5), "nearest", box)
    np.testing.assert_array_equal(resized(array, (4, 5), "nearest", box), want)
    assert not want.any()


def test_same_size_without_box_returns_the_image():
    image = tf.constant(make_image(6, 9, 3, "noise"))
    assert resize.pil_resize(image, (6, 9), "bicubic") is image


def _generator(arrays):
    def generate():
        yield from arrays

    return generate


@pytest.mark.parametrize("interpolation", resize.INTERPOLATIONS)
def test_graph_mode_in_tf_data_with_unknown_shapes(interpolation):
    size = (16, 21)
    arrays = [
        make_image(37, 52, 3, "noise", seed=5),
        make_image(9, 11, 3, "gradient"),
        make_image(70, 15, 3, "noise", seed=6),
        make_image(16, 21, 3, "noise", seed=7),
        # 30 -> 21 columns: x / 21 and x * (1 / 21) differ here, which moves
        # nearest's running sum across an integer.
        make_image(12, 30, 3, "noise", seed=11),
    ]

    def load(image):
        assert image.shape.as_list() == [None, None, 3]
        shape = tf.shape(image)
        box = resize.keras_crop_box(shape[0], shape[1], *size)
        return (
            resize.pil_resize(image, size, interpolation),
            resize.pil_resize(image, size, interpolation, box=box),
        )

    dataset = tf.data.Dataset.from_generator(
        _generator(arrays), output_signature=tf.TensorSpec([None, None, 3], tf.uint8)
    ).map(load)
    for array, (plain, cropped) in zip(arrays, dataset, strict=True):
        assert plain.shape == cropped.shape == (*size, 3)
        np.testing.assert_array_equal(plain.numpy(), pillow_resize(array, size, interpolation))
        box = resize.keras_crop_box(array.shape[0], array.shape[1], *size)
        np.testing.assert_array_equal(cropped.numpy(), pillow_resize(array, size, interpolation, box))


def test_nearest_in_tf_function_with_unknown_shape():
    # 30 -> 21 and 14 -> 3: nearest's running sum crosses integers that a
    # reciprocal-multiplied step would not.
    fn = tf.function(
        lambda image: resize.pil_resize(image, (3, 21), "nearest"),
        input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)],
    )
    array = make_image(14, 30, 3, "noise", seed=12)
    np.testing.assert_array_equal(fn(array).numpy(), pillow_resize(array, (3, 21), "nearest"))


@pytest.mark.parametrize("interpolation", ["box", "bicubic", "lanczos", "hamming"])
def test_graph_mode_with_static_shape_and_constant_box(interpolation):
    # Everything but the pixels is constant here, so Grappler folds and
    # rewrites the coefficient arithmetic as much as it can.
    array = make_image(43, 58, 4, "noise", seed=8)
    box = (2.5, 1.0, 55.0, 40.25)
    fn = tf.function(
        lambda image: resize.pil_resize(image, (19, 27), interpolation, box=box),
        input_signature=[tf.TensorSpec(array.shape, tf.uint8)],
    )
    np.testing.assert_array_equal(fn(array).numpy(), pillow_resize(array, (19, 27), interpolation, box))


# (in, out) pairs where re-associated or reciprocal float64 arithmetic
# changes the tap bounds or the fixed-point coefficients.
SENSITIVE_SIZES = [(11, 21), (15, 21), (19, 21), (27, 21), (2, 49), (4, 98), (27, 11), (91, 5)]


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "lanczos", "box", "hamming"])
def test_coefficients_are_the_same_in_graphs_as_in_eager_mode(interpolation):
    # Eager ops run as written; the tests above check them against Pillow.
    # In graphs Grappler may rewrite float arithmetic: it must not change bits.
    def coefficients(in_h, in_w, box, out_h, out_w):
        return resize._coefficients(interpolation, in_h, in_w, box, out_h, out_w)

    for in_w, out_w in SENSITIVE_SIZES:
        in_h, out_h = out_w, in_w  # the other axis gets the transposed pair
        box = tf.constant([0.0, 0.0, in_w, in_h], tf.float32)
        eager = tf.nest.flatten(coefficients(tf.constant(in_h), tf.constant(in_w), box, out_h, out_w))
        spec = [tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32), tf.TensorSpec([4], tf.float32)]
        graph = tf.function(
            lambda h, w, b: coefficients(h, w, b, out_h, out_w), input_signature=spec
        )(in_h, in_w, box)
        for want, got in zip(eager, tf.nest.flatten(graph), strict=True):
            np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize(
    "expression",
    [
        lambda x, y: resize._barrier(x * y) * np.pi,
        lambda x, y: resize._barrier(x - y) + 0.5,
        lambda x, y: tf.math.divide_no_nan(x, tf.constant(3.0, tf.float64)),
    ],
    ids=["mul_chain", "add_chain", "divide_by_constant"],
)
def test_float64_evaluation_order_survives_grappler(expression):
    # Grappler turns (x * y) * c into x * (y * c) and x / c into x * (1 / c),
    # which changes float64 bits; resize.py relies on these forms staying put.
    rng = np.random.default_rng(9)
    x, y = rng.uniform(0, 10, 2000), rng.uniform(0, 10, 2000)
    spec = tf.TensorSpec([None], tf.float64)
    graph = tf.function(expression, input_signature=[spec, spec])(x, y).numpy()
    np.testing.assert_array_equal(graph, expression(tf.constant(x), tf.constant(y)).numpy())


@pytest.mark.parametrize("keep_aspect_ratio", [False, True])
@pytest.mark.parametrize("interpolation", resize.INTERPOLATIONS)
def test_matches_keras_load_img(tmp_path, interpolation, keep_aspect_ratio):
    import keras

    array = make_image(33, 47, 3, "noise", seed=10)
    path = str(tmp_path / "image.png")
    Image.fromarray(array).save(path)
    want = np.asarray(
        keras.utils.load_img(
            path, target_size=(20, 18), interpolation=interpolation, keep_aspect_ratio=keep_aspect_ratio
        )
    )
    box = resize.keras_crop_box(33, 47, 20, 18) if keep_aspect_ratio else None
    np.testing.assert_array_equal(resized(array, (20, 18), interpolation, box), want)


def test_keras_crop_box_ints_and_tensors_agree():
    for height, width, target_h, target_w in [(45, 70, 20, 20), (70, 45, 20, 30), (10, 10, 3, 7), (5, 9, 9, 5)]:
        python = resize.keras_crop_box(height, width, target_h, target_w)
        assert all(type(v) is int for v in python)
        tensors = resize.keras_crop_box(tf.constant(height), tf.constant(width), target_h, target_w)
        assert [int(v) for v in tensors] == list(python)
        x0, y0, x1, y1 = python
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height


def test_interpolations_are_the_keras_pillow_filters_in_order():
    from keras.src.utils import image_utils

    assert resize.INTERPOLATIONS == ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
    assert set(resize.INTERPOLATIONS) == set(image_utils.PIL_INTERPOLATION_METHODS)


ALLOWED = "'nearest', 'bilinear', 'bicubic', 'lanczos', 'box', 'hamming'"


@pytest.mark.parametrize(
    "value, error, message",
    [
        (
            "cubic",
            ValueError,
            f"Invalid interpolation: `interpolation` must be one of {ALLOWED}. "
            "Received: interpolation='cubic'",
        ),
        (
            "NEAREST",
            ValueError,
            f"Invalid interpolation: `interpolation` must be one of {ALLOWED}. "
            "Received: interpolation='NEAREST'",
        ),
        (
            3,
            TypeError,
            f"`interpolation` must be a string, one of {ALLOWED}. Received: interpolation=3",
        ),
    ],
)
def test_validate_interpolation_messages(value, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        resize.validate_interpolation(value)
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        resize.pil_resize(tf.zeros([4, 4, 3], tf.uint8), (2, 2), value)


def test_validate_interpolation_returns_the_name():
    assert [resize.validate_interpolation(n) for n in resize.INTERPOLATIONS] == list(resize.INTERPOLATIONS)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"size": (0, 3)},
            ValueError,
            "`size` must be a tuple of two positive ints (height, width). Received: size=(0, 3)",
        ),
        (
            {"size": "ab"},
            TypeError,
            "`size` must be a tuple of two positive ints (height, width). Received: size='ab'",
        ),
        (
            {"image": tf.zeros([4, 4, 3], tf.float32)},
            TypeError,
            "`image` must be a uint8 tensor [H, W, C]. Received: image.dtype='float32'",
        ),
        (
            {"image": tf.zeros([4, 4], tf.uint8)},
            ValueError,
            "`image` must have shape [H, W, C] with C (known statically) one of 1, 3, 4. "
            "Received: image.shape=(4, 4)",
        ),
        (
            {"image": tf.zeros([4, 4, 2], tf.uint8)},
            ValueError,
            "`image` must have shape [H, W, C] with C (known statically) one of 1, 3, 4. "
            "Received: image.shape=(4, 4, 2)",
        ),
        (
            {"box": (0, 0, 5, 4)},
            ValueError,
            "`box` must satisfy 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height. "
            "Received: box=(0, 0, 5, 4)",
        ),
        (
            {"box": (1, 2, 3)},
            ValueError,
            "`box` must be None or four numbers (x0, y0, x1, y1). Received: box=(1, 2, 3)",
        ),
    ],
)
def test_argument_errors(kwargs, error, message):
    args = {"image": tf.zeros([4, 4, 3], tf.uint8), "size": (2, 2), "box": None, **kwargs}
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        resize.pil_resize(args["image"], args["size"], "bilinear", box=args["box"])


# --------------------------------------------------------------------------
# nearest_resize: fast mode's resize (TensorFlow's nearest sampling, by gathers).


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize(
    "in_hw,out_hw",
    [((387, 416), (224, 224)), ((200, 193), (150, 150)), ((7, 5), (20, 13)), ((1, 9), (4, 4)),
     ((64, 64), (64, 64)), ((33, 100), (1, 1))],
)
def test_nearest_resize_samples_as_tf_image_resize(in_hw, out_hw, channels):
    """Same pixels as ``tf.image.resize(method="nearest")`` (half-pixel
    centres), for downscaling, upscaling, identity and 1-channel images."""
    x = make_image(*in_hw, channels, "noise", seed=sum(in_hw) + channels)
    got = resize.nearest_resize(tf.constant(x), out_hw).numpy()
    want = tf.image.resize(x, out_hw, method="nearest").numpy()
    assert got.shape == (*out_hw, channels) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)


def test_nearest_resize_positions_are_half_pixel_centres():
    """Source row of output row i is floor((2i + 1) H / 2h): checked on an
    image whose pixels are their own coordinates."""
    h, w, out_h, out_w = 11, 17, 4, 6
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    x = np.stack([rows, cols, np.zeros_like(rows)], -1).astype(np.uint8)
    got = resize.nearest_resize(tf.constant(x), (out_h, out_w)).numpy()
    want_rows = (2 * np.arange(out_h) + 1) * h // (2 * out_h)
    want_cols = (2 * np.arange(out_w) + 1) * w // (2 * out_w)
    np.testing.assert_array_equal(got[:, 0, 0], want_rows)
    np.testing.assert_array_equal(got[0, :, 1], want_cols)


def test_nearest_resize_in_tf_data_with_unknown_shapes():
    images = [make_image(h, w, 3, "noise", seed=h) for h, w in [(30, 40), (9, 70), (100, 3)]]
    ds = tf.data.Dataset.from_generator(
        lambda: iter(images), output_signature=tf.TensorSpec([None, None, 3], tf.uint8)
    ).map(lambda x: resize.nearest_resize(x, (12, 10)))
    for got, x in zip(ds, images):
        np.testing.assert_array_equal(got.numpy(), tf.image.resize(x, (12, 10), "nearest").numpy())
