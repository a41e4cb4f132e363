"""Parity of `tfdirpipe.augment` and `tfdirpipe.standardize` with Keras.

The reference is the real legacy class,
``keras.src.legacy.preprocessing.image.ImageDataGenerator`` (numpy + scipy +
PIL). Images are small (24 x 32, deliberately not square: Keras centres its
matrices with swapped sides, which only shows on non-square images) and
smooth (gradients), so bilinear differences stay small and measurable.

Tolerances below were measured first (see each constant) and set just above.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

keras_image = pytest.importorskip("keras.src.legacy.preprocessing.image")

from tfdirpipe import augment  # noqa: E402
from tfdirpipe import standardize as standardize_lib  # noqa: E402

H, W = 24, 32

# Bilinear (interpolation_order=1): Keras/scipy compute source coordinates
# and weights in float64, the TF op in float32. Measured max |error| over
# every fill mode, both layouts and 640 random Keras draws: 3.05e-5 on
# values up to ~250 (2 float32 ulps at 128..256). Asserted: 6.2e-5 (4 ulps).
BILINEAR_ATOL = 6.2e-5
# Border band left out of "interior" comparisons (pixels).
BAND = 3
# Nearest (order 0): both round the source coordinate, but an exact .5 tie
# in float64 can land either side in float32, moving a pixel by one. The
# hand-picked parameters below have no ties (measured: 0 mismatches); over
# 640 random Keras draws at most 0.13 % of pixels differed, all on the
# 'wrap' seam at the image border. Asserted: 0.2 % of the whole image.
NEAREST_MAX_MISMATCH = 0.002
# Brightness truncates to uint8: a float32-vs-float64 difference of one ulp
# right at an integer moves a pixel by one level (1.0, or (max - min) / 255
# for images outside [0, 255]). Measured over 640 random combined draws:
# at most 0.043 % of pixels, never more than one level. Asserted: 0.1 %.
BRIGHTNESS_MAX_MISMATCH = 0.001


def _smooth_image(channels: int = 3) -> np.ndarray:
    """A float32 [H, W, C] image of gradients in about [0, 250]."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    planes = [xx * 3 + yy, 100 + yy * 4 - xx, 50 + xx + yy * 2, 200 - xx - yy]
    return np.stack(planes[:channels], axis=-1).astype(np.float32)


def _to_format(x: np.ndarray, data_format: str) -> np.ndarray:
    """[..., H, W, C] -> the layout of ``data_format``."""
    if data_format == "channels_first":
        return np.ascontiguousarray(np.moveaxis(x, -1, -3))
    return x


def _to_hwc(x: np.ndarray, data_format: str) -> np.ndarray:
    if data_format == "channels_first":
        return np.moveaxis(x, -3, -1)
    return x


def _keras(**kwargs) -> keras_image.ImageDataGenerator:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return keras_image.ImageDataGenerator(**kwargs)


def _keras_draws(generator, n: int, img_shape, seed: int) -> list[dict]:
    """``n`` Keras parameter dicts from a fixed numpy seed (global state restored)."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        return [generator.get_random_transform(img_shape) for _ in range(n)]
    finally:
        np.random.set_state(state)


def _errors(got: np.ndarray, expected: np.ndarray, atol: float) -> tuple[float, float]:
    """(max |error|, fraction of values with |error| > atol)."""
    err = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    return float(err.max()), float((err > atol).mean())


# -- apply_transform_single vs Keras's apply_transform ---------------------

# No value puts a float64 source coordinate on an exact .5 tie (see
# test_nearest_mismatches_are_rounding_ties for what ties do).
SINGLE_CASES = {
    "rotation": {"theta": 17.0},
    "tx": {"tx": 3.3},
    "ty": {"ty": -2.7},
    "shear": {"shear": 12.0},
    "zoom_x": {"zx": 0.83},
    "zoom_y": {"zy": 1.27},
    "flip_horizontal": {"flip_horizontal": True},
    "flip_vertical": {"flip_vertical": True},
    "channel_shift": {"channel_shift_intensity": -23.5},
    "brightness": {"brightness": 0.63},
    "combined": {
        "theta": -21.0,
        "tx": -1.7,
        "ty": 2.2,
        "shear": 8.0,
        "zx": 1.13,
        "zy": 0.91,
        "flip_horizontal": True,
        "flip_vertical": False,
        "channel_shift_intensity": 11.0,
    },
}
SINGLE_CASES["combined_with_brightness"] = {**SINGLE_CASES["combined"], "brightness": 1.21}


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("fill_mode", augment.FILL_MODES)
def test_single_transforms_match_keras(fill_mode, order, data_format):
    image = _to_format(_smooth_image(), data_format)
    keras_gen = _keras(
        fill_mode=fill_mode, cval=7.0, interpolation_order=order, data_format=data_format
    )
    config = augment.AugmentConfig(fill_mode=fill_mode, cval=7.0, interpolation_order=order)
    for name, params in SINGLE_CASES.items():
        if data_format == "channels_first" and "brightness" in params:
            continue  # Keras fails there; see test_brightness_channels_first.
        expected = _to_hwc(keras_gen.apply_transform(image.copy(), params), data_format)
        got = _to_hwc(
            augment.apply_transform_single(config, image, params, data_format).numpy(),
            data_format,
        )
        assert got.shape == expected.shape
        inner = (slice(BAND, -BAND), slice(BAND, -BAND))
        if "brightness" in params:
            # 8-bit output: exact here (measured 0 mismatches), allow the
            # one-level flips described at BRIGHTNESS_MAX_MISMATCH.
            worst, frac = _errors(got, expected, 1e-3)
            assert worst <= 1.0 and frac <= BRIGHTNESS_MAX_MISMATCH, name
        elif order == 1:
            worst, _ = _errors(got[inner], expected[inner], BILINEAR_ATOL)
            assert worst <= BILINEAR_ATOL, (name, worst)
        else:
            worst, frac = _errors(got[inner], expected[inner], 1e-3)
            assert frac == 0, (name, worst, frac)


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("fill_mode", augment.FILL_MODES)
def test_random_keras_draws_match_keras(fill_mode, order):
    """Keras's own random parameters, every transform on, whole image."""
    kwargs = dict(
        rotation_range=30,
        width_shift_range=0.2,
        height_shift_range=0.2,
        shear_range=20,
        zoom_range=0.3,
        channel_shift_range=20.0,
        horizontal_flip=True,
        vertical_flip=True,
        fill_mode=fill_mode,
        cval=7.0,
        interpolation_order=order,
    )
    keras_gen = _keras(**kwargs)
    config = augment.AugmentConfig(**kwargs)
    image = _smooth_image()
    for params in _keras_draws(keras_gen, 12, image.shape, seed=1234):
        expected = keras_gen.apply_transform(image.copy(), params)
        got = augment.apply_transform_single(config, image, params).numpy()
        if order == 1:
            worst, _ = _errors(got, expected, BILINEAR_ATOL)
            assert worst <= BILINEAR_ATOL, (params, worst)
        else:
            _, frac = _errors(got, expected, 1e-3)
            assert frac <= NEAREST_MAX_MISMATCH, (params, frac)


@pytest.mark.parametrize("scale", [1.0, 3.0, 1 / 255])
def test_random_draws_with_brightness_match_keras(scale):
    """Brightness after the affine stage: the 8-bit round trip, three ranges.

    ``scale=3`` pushes values past 255 (Keras rescales to [0, 255] and back);
    ``1/255`` is Keras's quirk of quantising [0, 1] images to 0 and 1.
    """
    kwargs = dict(
        rotation_range=30,
        width_shift_range=0.2,
        height_shift_range=0.2,
        zoom_range=0.3,
        brightness_range=(0.5, 1.5),
        horizontal_flip=True,
    )
    keras_gen = _keras(**kwargs)
    config = augment.AugmentConfig(**kwargs)
    image = _smooth_image() * np.float32(scale) - np.float32(20 if scale == 3.0 else 0)
    level = max(1.0, float(image.max() - image.min()) / 255)
    for params in _keras_draws(keras_gen, 12, image.shape, seed=99):
        expected = keras_gen.apply_transform(image.copy(), params)
        got = augment.apply_transform_single(config, image, params).numpy()
        worst, frac = _errors(got, expected, 1e-3 * level)
        assert worst <= level * 1.001 and frac <= BRIGHTNESS_MAX_MISMATCH, (params, worst, frac)


@pytest.mark.parametrize("channels", [1, 4])
def test_brightness_grayscale_and_rgba_match_keras(channels):
    """'L' and 'RGBA' PIL images: RGBA keeps its alpha (after uint8 truncation)."""
    image = _smooth_image(channels) * np.float32(0.97) + np.float32(0.3)  # fractional
    keras_gen = _keras()
    config = augment.AugmentConfig()
    for factor in (0.0, 0.37, 1.0, 1.3, 2.7):
        expected = keras_gen.apply_transform(image.copy(), {"brightness": factor})
        got = augment.apply_transform_single(config, image, {"brightness": factor}).numpy()
        np.testing.assert_array_equal(got, expected)  # measured: exact


def test_brightness_channels_first():
    """Keras's brightness uses the global data format, so it fails on
    ``channels_first``; ours applies the intended per-channel operation."""
    image = _smooth_image()
    params = {"brightness": 0.63, "theta": 10.0}
    with pytest.raises(ValueError, match="Unsupported channel number"):
        _keras(data_format="channels_first").apply_transform(
            _to_format(image, "channels_first"), params
        )
    expected = _keras().apply_transform(image.copy(), params)
    got = augment.apply_transform_single(
        augment.AugmentConfig(), _to_format(image, "channels_first"), params, "channels_first"
    ).numpy()
    worst, frac = _errors(_to_hwc(got, "channels_first"), expected, 1e-3)
    assert worst <= 1.0 and frac <= BRIGHTNESS_MAX_MISMATCH


def test_nearest_mismatches_are_rounding_ties():
    """``zx=0.8`` puts some float64 source columns exactly on .5; float32
    rounds those either way. Every mismatch must be in such a column."""
    image = _smooth_image()
    params = {"zx": 0.8}
    config = augment.AugmentConfig(interpolation_order=0)
    expected = _keras(interpolation_order=0).apply_transform(image.copy(), params)
    got = augment.apply_transform_single(config, image, params).numpy()
    center = H / 2 - 0.5  # Keras centres the column axis with the height.
    source = 0.8 * (np.arange(W) - center) + center
    ties = set(np.flatnonzero(np.abs(source - np.floor(source) - 0.5) < 1e-9))
    bad = set(np.flatnonzero(np.any(got != expected, axis=(0, 2))))
    assert ties, "the case should contain ties"
    assert bad <= ties


def test_height_shift_moves_columns_like_keras():
    """Keras 3 applies ``tx`` (from ``height_shift_range``) along columns."""
    image = np.zeros((H, W, 1), np.float32)
    image[5, 9, 0] = 100.0
    config = augment.AugmentConfig(fill_mode="constant", interpolation_order=0)
    out = augment.apply_transform_single(config, image, {"tx": 2.0}).numpy()
    keras_out = _keras(fill_mode="constant", interpolation_order=0).apply_transform(
        image.copy(), {"tx": 2.0}
    )
    np.testing.assert_array_equal(out, keras_out)
    assert np.argwhere(out[..., 0] > 50).tolist() == [[5, 7]]


def test_batched_apply_equals_single_per_image():
    kwargs = dict(
        rotation_range=20,
        width_shift_range=0.2,
        height_shift_range=[1, 2.0, 3],
        shear_range=10,
        zoom_range=0.2,
        channel_shift_range=10.0,
        brightness_range=(0.8, 1.2),
        horizontal_flip=True,
        vertical_flip=True,
        fill_mode="reflect",
    )
    config = augment.AugmentConfig(**kwargs)
    images = np.stack([_smooth_image() + 3 * i for i in range(6)])
    params = augment.sample_params(config, tf.constant([5, 6], tf.int64), 6, H, W)
    batched = augment.apply(config, images, params).numpy()
    for i in range(6):
        single = {k: v.numpy()[i].item() for k, v in params.items()}
        got = augment.apply_transform_single(config, images[i], single).numpy()
        np.testing.assert_array_equal(batched[i], got)


def test_apply_channels_first_equals_channels_last():
    config = augment.AugmentConfig(
        rotation_range=20, zoom_range=0.2, horizontal_flip=True, brightness_range=(0.5, 1.5)
    )
    images = np.stack([_smooth_image(), _smooth_image()[::-1]])
    params = augment.sample_params(config, tf.constant([1, 2]), 2, H, W)
    last = augment.apply(config, images, params, "channels_last").numpy()
    first = augment.apply(config, _to_format(images, "channels_first"), params, "channels_first")
    np.testing.assert_array_equal(_to_hwc(first.numpy(), "channels_first"), last)


def test_identity_config_returns_input():
    config = augment.AugmentConfig()
    assert config.is_identity and not config.has_affine
    images = tf.constant(np.stack([_smooth_image()]))
    params = augment.sample_params(config, tf.constant([0, 0]), 1, H, W)
    assert augment.apply(config, images, params) is images


# -- graph safety ----------------------------------------------------------


@pytest.mark.parametrize("fill_mode", augment.FILL_MODES)
def test_apply_in_tf_data_with_dynamic_shapes(fill_mode):
    config = augment.AugmentConfig(
        rotation_range=20, width_shift_range=0.2, zoom_range=0.2, shear_range=5,
        channel_shift_range=5.0, brightness_range=(0.9, 1.1), horizontal_flip=True,
        fill_mode=fill_mode,
    )
    images = np.stack([_smooth_image() + i for i in range(5)])

    def transform(batch, index):
        seed = tf.stack([tf.constant(7, tf.int64), index])
        shape = tf.shape(batch)
        params = augment.sample_params(config, seed, shape[0], shape[1], shape[2])
        return augment.apply(config, batch, params)

    ds = tf.data.Dataset.from_tensor_slices(images).batch(2).enumerate()
    ds = ds.map(lambda i, b: transform(b, i))
    assert ds.element_spec.shape.as_list() == [None, H, W, 3]
    outs = list(ds.as_numpy_iterator())
    assert [len(o) for o in outs] == [2, 2, 1]
    eager = transform(tf.constant(images[4:5]), tf.constant(2, tf.int64)).numpy()
    np.testing.assert_array_equal(outs[2], eager)

    graph = tf.function(transform).get_concrete_function(
        tf.TensorSpec([None, None, None, 3], tf.float32), tf.TensorSpec([], tf.int64)
    ).graph
    op_types = {op.type for op in graph.get_operations()}
    assert not op_types & {"PyFunc", "EagerPyFunc", "NumpyFunction"}


# -- sampling: distributions against Keras --------------------------------

N_DRAWS = 3000
# KS / chi-square p-values from fixed seeds (deterministic). Matching
# distributions measured p >= 0.047 (lowest: channel shift); the negative
# controls below measured p <= 1.6e-10 (highest: rotation 24 vs 20).
# Thresholds between the two: P_MIN here, 1e-6 for the controls.
P_MIN = 1e-3

CONTINUOUS_KWARGS = dict(
    rotation_range=20,
    width_shift_range=0.2,  # fraction of W
    height_shift_range=3.0,  # float >= 1: pixels
    shear_range=15,
    zoom_range=0.2,
    channel_shift_range=30.0,
    brightness_range=(0.5, 1.5),
    horizontal_flip=True,
    vertical_flip=True,
)


def _ours(config: augment.AugmentConfig, seed: int, n: int = N_DRAWS) -> dict[str, np.ndarray]:
    params = augment.sample_params(config, tf.constant([seed, 17], tf.int64), n, H, W)
    return {k: v.numpy().astype(np.float64) for k, v in params.items()}


def _theirs(seed: int, n: int = N_DRAWS, **kwargs) -> dict[str, np.ndarray]:
    draws = _keras_draws(_keras(**kwargs), n, (H, W, 3), seed)
    return {
        k: np.array([np.nan if d[k] is None else float(d[k]) for d in draws])
        for k in augment.PARAM_KEYS
    }


@pytest.fixture(scope="module")
def continuous_samples():
    config = augment.AugmentConfig(**CONTINUOUS_KWARGS)
    return _ours(config, seed=3), _theirs(seed=3, **CONTINUOUS_KWARGS)


@pytest.mark.parametrize(
    "key, low, high",
    [
        ("theta", -20, 20),
        ("tx", -3.0, 3.0),
        ("ty", -0.2 * W, 0.2 * W),
        ("shear", -15, 15),
        ("zx", 0.8, 1.2),
        ("zy", 0.8, 1.2),
        ("channel_shift_intensity", -30, 30),
        ("brightness", 0.5, 1.5),
    ],
)
def test_continuous_params_match_keras(continuous_samples, key, low, high):
    ours, theirs = continuous_samples
    assert low <= ours[key].min() and ours[key].max() <= high
    assert ours[key].min() < low + 0.01 * (high - low)  # spans the range
    assert ours[key].max() > high - 0.01 * (high - low)
    assert stats.ks_2samp(ours[key], theirs[key]).pvalue > P_MIN


def test_zoom_axes_are_drawn_independently(continuous_samples):
    ours, _ = continuous_samples
    assert abs(np.corrcoef(ours["zx"], ours["zy"])[0, 1]) < 4 / np.sqrt(N_DRAWS)


@pytest.mark.parametrize("key", ["flip_horizontal", "flip_vertical"])
def test_flip_rate_matches_keras(continuous_samples, key):
    ours, theirs = continuous_samples
    bound = 4 * np.sqrt(0.25 / N_DRAWS)
    assert abs(ours[key].mean() - 0.5) < bound
    assert abs(theirs[key].mean() - 0.5) < bound
    table = [[ours[key].sum(), N_DRAWS - ours[key].sum()],
             [theirs[key].sum(), N_DRAWS - theirs[key].sum()]]
    assert stats.chi2_contingency(table).pvalue > P_MIN


@pytest.mark.parametrize(
    "wrong",
    [
        dict(rotation_range=24),
        dict(width_shift_range=0.25),
        dict(height_shift_range=0.2),  # a fraction instead of pixels
        dict(zoom_range=0.25),
        dict(brightness_range=(0.6, 1.5)),
        dict(channel_shift_range=0.0),  # a missing transform
    ],
)
def test_distribution_check_catches_a_wrong_range(continuous_samples, wrong):
    """Negative control: the KS check above has the power to fail."""
    ours, _ = continuous_samples
    theirs = _theirs(seed=4, **{**CONTINUOUS_KWARGS, **wrong})
    key = {
        "rotation_range": "theta",
        "width_shift_range": "ty",
        "height_shift_range": "tx",
        "zoom_range": "zx",
        "brightness_range": "brightness",
        "channel_shift_range": "channel_shift_intensity",
    }[next(iter(wrong))]
    sample = np.nan_to_num(theirs[key], nan=0.0)
    assert stats.ks_2samp(ours[key], sample).pvalue < 1e-6


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(width_shift_range=3, height_shift_range=5),  # ints: integer pixels in (-n, n)
        dict(width_shift_range=[0.1, 0.25], height_shift_range=[2, 5.0]),  # fractions / pixels
        dict(width_shift_range=(0.5, 2), height_shift_range=[0.0, 0.5]),  # max decides
    ],
)
def test_discrete_shift_forms_match_keras(kwargs):
    ours = _ours(augment.AugmentConfig(**kwargs), seed=11)
    theirs = _theirs(seed=11, **kwargs)
    for key in ("tx", "ty"):
        a, b = np.round(ours[key], 4), np.round(theirs[key], 4)
        support = sorted(set(b))
        assert sorted(set(a)) == support, key
        table = [[np.sum(a == v) for v in support], [np.sum(b == v) for v in support]]
        assert stats.chi2_contingency(table).pvalue > P_MIN, key


# -- sampling: seeds --------------------------------------------------------


def test_same_seed_same_params_and_different_seed_different():
    config = augment.AugmentConfig(**CONTINUOUS_KWARGS)
    a = augment.sample_params(config, tf.constant([1, 2], tf.int64), 8, H, W)
    b = augment.sample_params(config, tf.constant([1, 2], tf.int32), 8, H, W)
    c = augment.sample_params(config, tf.constant([1, 3], tf.int64), 8, H, W)
    for key in augment.PARAM_KEYS:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
    for key in ("theta", "tx", "ty", "shear", "zx", "zy", "brightness"):
        assert not np.array_equal(a[key].numpy(), c[key].numpy()), key
    assert a["theta"].dtype == tf.float32 and a["flip_horizontal"].dtype == tf.bool
    assert a["theta"].shape == [8]


def test_enabling_a_transform_keeps_other_draws():
    seed = tf.constant([4, 4], tf.int64)
    only_rotation = augment.sample_params(
        augment.AugmentConfig(rotation_range=20), seed, 16, H, W
    )
    more = augment.sample_params(
        augment.AugmentConfig(rotation_range=20, horizontal_flip=True, zoom_range=0.1),
        seed, 16, H, W,
    )
    np.testing.assert_array_equal(only_rotation["theta"].numpy(), more["theta"].numpy())


def test_get_random_transform_single_is_keras_shaped():
    config = augment.AugmentConfig(rotation_range=10, horizontal_flip=True)
    params = augment.get_random_transform_single(config, (H, W, 3), seed=5)
    keras_params = _keras(rotation_range=10, horizontal_flip=True).get_random_transform((H, W, 3))
    assert set(params) == set(keras_params)
    assert params["channel_shift_intensity"] is None and params["brightness"] is None
    assert isinstance(params["flip_horizontal"], bool) and -10 <= params["theta"] <= 10
    assert params == augment.get_random_transform_single(config, (H, W, 3), seed=5)
    assert params != augment.get_random_transform_single(config, (H, W, 3), seed=6)
    fresh = [augment.get_random_transform_single(config, (H, W, 3))["theta"] for _ in range(3)]
    assert len(set(fresh)) == 3
    # channels_first reads H and W from the last two axes.
    shifts = augment.AugmentConfig(width_shift_range=0.5)
    for seed in range(5):
        ty = augment.get_random_transform_single(shifts, (3, H, W), seed, "channels_first")["ty"]
        assert abs(ty) <= 0.5 * W


# -- validation -------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        (dict(rotation_range="a"), TypeError, "`rotation_range` must be a non-negative number"),
        (dict(rotation_range=-1), ValueError, "`rotation_range` must be"),
        (dict(width_shift_range=-0.1), ValueError, "`width_shift_range` must be"),
        (dict(width_shift_range="x"), TypeError, "`width_shift_range` must be"),
        (dict(height_shift_range=[0.1, "a"]), TypeError, "`height_shift_range` must be"),
        (dict(zoom_range=1.5), ValueError, r"`zoom_range` must be a float z in \[0, 1\]"),
        (dict(zoom_range=(0.5, 1, 2)), ValueError, "`zoom_range` must be"),
        (dict(brightness_range=0.5), TypeError, "`brightness_range` must be None or a pair"),
        (dict(brightness_range=(1,)), ValueError, "`brightness_range` must be"),
        (dict(fill_mode="mirror"), ValueError,
         "`fill_mode` must be one of 'constant', 'nearest', 'reflect', 'wrap'"),
        (dict(horizontal_flip="yes"), TypeError, "`horizontal_flip` must be a bool"),
        (dict(interpolation_order=3), NotImplementedError, "use interpolation_order=1"),
        (dict(interpolation_order=7), ValueError, "`interpolation_order` must be 0"),
        (dict(cval=float("nan")), ValueError, "`cval` must be a finite number"),
    ],
)
def test_augment_config_validation(kwargs, error, pattern):
    (name, value), = kwargs.items()
    with pytest.raises(error, match=pattern) as info:
        augment.AugmentConfig(**kwargs)
    assert str(info.value).endswith(f"Received: {name}={value!r}")


def test_augment_config_normalises_like_keras():
    config = augment.AugmentConfig(
        zoom_range=0.25, width_shift_range=np.array([1, 2]), height_shift_range=np.int64(4),
        horizontal_flip=1,
    )
    assert config.zoom_range == (0.75, 1.25)
    assert config.width_shift_range == (1.0, 2.0)
    assert config.height_shift_range == 4 and isinstance(config.height_shift_range, int)
    assert config.horizontal_flip is True
    assert augment.AugmentConfig(zoom_range=[0.5, 1.0]).zoom_range == (0.5, 1.0)
    assert augment.AugmentConfig(width_shift_range=[]).is_identity


def test_bad_seed_and_images():
    config = augment.AugmentConfig(rotation_range=5)
    with pytest.raises(ValueError, match=r"`seed` must be .* shape \[2\]"):
        augment.sample_params(config, tf.constant([1, 2, 3]), 2, H, W)
    with pytest.raises(TypeError, match="`seed` must be an int32 or int64"):
        augment.sample_params(config, tf.constant([1.0, 2.0]), 2, H, W)
    params = augment.sample_params(config, tf.constant([1, 2]), 1, H, W)
    with pytest.raises(TypeError, match="floating-point"):
        augment.apply(config, tf.zeros([1, H, W, 3], tf.uint8), params)
    with pytest.raises(ValueError, match=r"Received: data_format='nchw'"):
        augment.apply(config, tf.zeros([1, H, W, 3]), params, "nchw")
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        augment.apply_transform_single(config, np.zeros((H, W, 2), np.float32), {"brightness": 1.0})


# -- standardize / fit_statistics --------------------------------------------

STANDARDIZE_KWARGS = [
    dict(featurewise_center=True, featurewise_std_normalization=True),
    dict(zca_whitening=True),
    dict(zca_whitening=True, rescale=1 / 255, zca_epsilon=1e-3),
    dict(featurewise_std_normalization=True, samplewise_std_normalization=True, rescale=0.5),
    dict(samplewise_center=True),
]


def _sample_data(data_format: str) -> np.ndarray:
    x = np.random.default_rng(0).uniform(0, 255, (16, 6, 8, 3)).astype(np.float32)
    return _to_format(x, data_format)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("kwargs", STANDARDIZE_KWARGS)
def test_fit_statistics_and_standardize_match_keras(kwargs, data_format):
    x = _sample_data(data_format)
    keras_gen = _keras(data_format=data_format, **kwargs)
    keras_gen.fit(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = standardize_lib.StandardizeConfig(**kwargs)
    mean, std, zca = standardize_lib.fit_statistics(x, config, data_format=data_format)
    # Same numpy calls in the same order: measured bit-identical.
    for ours, theirs in ((mean, keras_gen.mean), (std, keras_gen.std),
                         (zca, keras_gen.zca_whitening_matrix)):
        if theirs is None:
            assert ours is None
        else:
            assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
            np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0)
    expected = np.stack([keras_gen.standardize(xi.copy()) for xi in x])
    got = standardize_lib.standardize(config, x, mean, std, zca, data_format).numpy()
    # Keras reduces with numpy's pairwise float32 sums, TF in another order,
    # so a per-image mean can differ by one float32 ulp of the inputs, which
    # survives the subtraction: measured 1.5e-5 = 1 ulp of 255 (samplewise
    # centring). Elsewhere measured relative error <= 1.4e-7 (samplewise
    # std) and 3e-8 absolute (ZCA: Keras's product is float64, ours is
    # rounded back to float32). Asserted: rtol 1e-6 plus 2 ulps of the input.
    scale = float(np.abs(x).max()) * (kwargs.get("rescale") or 1.0)
    atol = 2 * float(np.spacing(np.float32(scale)))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=atol)


def test_featurewise_stats_accept_channel_vectors():
    x = _sample_data("channels_first")
    config = standardize_lib.StandardizeConfig(
        featurewise_center=True, featurewise_std_normalization=True
    )
    mean, std, _ = standardize_lib.fit_statistics(x, config, data_format="channels_first")
    a = standardize_lib.standardize(config, x, mean, std, None, "channels_first")
    b = standardize_lib.standardize(config, x, mean.ravel(), std.ravel(), None, "channels_first")
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(zca_whitening=True),
        dict(zca_whitening=True, featurewise_std_normalization=True),
        dict(featurewise_std_normalization=True),
        dict(samplewise_std_normalization=True),
    ],
)
def test_override_warnings_match_keras(kwargs):
    with warnings.catch_warnings(record=True) as keras_caught:
        warnings.simplefilter("always")
        keras_gen = keras_image.ImageDataGenerator(**kwargs)
    with warnings.catch_warnings(record=True) as ours_caught:
        warnings.simplefilter("always")
        config = standardize_lib.StandardizeConfig(**kwargs)
    keras_messages = [str(w.message) for w in keras_caught if "overrides" in str(w.message)]
    assert [str(w.message) for w in ours_caught] == keras_messages
    for name in ("featurewise_center", "featurewise_std_normalization", "samplewise_center"):
        assert getattr(config, name) == bool(getattr(keras_gen, name)), name


def test_standardize_without_fit_warns_like_keras_once_per_trace():
    kwargs = dict(featurewise_center=True, featurewise_std_normalization=True)
    image = _sample_data("channels_last")[0]
    with warnings.catch_warnings(record=True) as keras_caught:
        warnings.simplefilter("always")
        expected = _keras(**kwargs).standardize(image.copy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = standardize_lib.StandardizeConfig(**kwargs)
    with warnings.catch_warnings(record=True) as ours_caught:
        warnings.simplefilter("always")
        fn = tf.function(lambda x: standardize_lib.standardize(config, x))
        for _ in range(3):  # one trace, three batches
            got = fn(tf.constant(image[None]))
    assert [str(w.message) for w in ours_caught] == [str(w.message) for w in keras_caught]
    assert len(ours_caught) == 2  # one per unfitted statistic
    np.testing.assert_array_equal(got.numpy()[0], expected)


def test_fit_statistics_with_augmentation():
    x = _sample_data("channels_last")
    config = standardize_lib.StandardizeConfig(zca_whitening=True, featurewise_center=True)
    plain = standardize_lib.fit_statistics(x, config)
    # Identity augmentation, two rounds: the data duplicated. The float32
    # means differ only by numpy's summation over twice the values
    # (measured relative 1.1e-6).
    doubled = standardize_lib.fit_statistics(
        x, config, augment=True, rounds=2, seed=1, augment_config=augment.AugmentConfig()
    )
    np.testing.assert_allclose(doubled[0], plain[0], rtol=2e-6)
    # Flips leave per-channel means alone but change ZCA; seeded -> repeatable.
    flips = augment.AugmentConfig(horizontal_flip=True, vertical_flip=True)
    a = standardize_lib.fit_statistics(x, config, augment=True, seed=3, augment_config=flips)
    b = standardize_lib.fit_statistics(x, config, augment=True, seed=3, augment_config=flips)
    np.testing.assert_allclose(a[0], plain[0], rtol=2e-6)
    np.testing.assert_array_equal(a[2], b[2])
    assert not np.allclose(a[2], plain[2])
    with pytest.raises(TypeError, match="`augment_config` must be an AugmentConfig"):
        standardize_lib.fit_statistics(x, config, augment=True)
    with pytest.raises(ValueError, match=re.escape("should have rank 4")):
        standardize_lib.fit_statistics(x[0], config)


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        (dict(rescale="x"), TypeError, "`rescale` must be None or a finite number"),
        (dict(zca_epsilon=-1.0), ValueError, "`zca_epsilon` must be a non-negative number"),
        (dict(samplewise_center="yes"), TypeError, "`samplewise_center` must be a bool"),
    ],
)
def test_standardize_config_validation(kwargs, error, pattern):
    (name, value), = kwargs.items()
    with pytest.raises(error, match=pattern) as info:
        standardize_lib.StandardizeConfig(**kwargs)
    assert str(info.value).endswith(f"Received: {name}={value!r}")


def test_rescale_zero_means_none():
    assert standardize_lib.StandardizeConfig(rescale=0).rescale is None
    assert standardize_lib.StandardizeConfig(rescale=0).is_identity
