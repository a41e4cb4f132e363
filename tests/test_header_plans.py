"""Per-file JPEG decode plans (`pipeline.HeaderPlans`): learnt in the first
epoch, the same pixels afterwards, and a file that changes is checked again."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfdirpipe import ImageDataGenerator, pipeline
from tfdirpipe.testing import make_image_tree


def _epoch(it) -> np.ndarray:
    """One whole epoch of images, in order (shuffle=False)."""
    return np.concatenate([x for x, _ in (next(it) for _ in range(len(it)))])


def _plans(it) -> np.ndarray:
    """The iterator's plan table: one (file size, plan) row per file."""
    return it._header_plans.table.numpy()  # noqa: SLF001


@pytest.fixture()
def mixed_tree(tmp_path):
    """JPEG (4:2:0 and progressive), grayscale JPEG and PNG in one tree."""
    root = tmp_path / "tree"
    make_image_tree(root, ("a", "b"), per_class=3, size=((30, 90), (40, 120)), fmt="jpeg",
                    encode_index=False, seed=1)
    make_image_tree(root, ("c",), per_class=2, size=(50, 60), fmt="png", encode_index=False)
    gray = np.random.default_rng(2).integers(0, 256, (64, 48), dtype=np.uint8)
    Image.fromarray(gray).save(root / "a" / "gray.jpg", quality=90)
    rgb = np.random.default_rng(3).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(root / "b" / "progressive.jpg", quality=85, progressive=True)
    return root


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("color_mode", ["rgb", "grayscale"])
def test_later_epochs_decode_the_same_pixels_from_the_plans(mixed_tree, fast, color_mode):
    it = ImageDataGenerator().flow_from_directory(
        mixed_tree, target_size=(24, 20), batch_size=4, shuffle=False, color_mode=color_mode,
        fast=fast, verbose=0,
    )
    assert not _plans(it).any()
    first = _epoch(it)
    plans = _plans(it)
    sizes = [len(open(p, "rb").read()) for p in it.filepaths]
    is_jpeg = [p.endswith(".jpg") for p in it.filepaths]
    np.testing.assert_array_equal(plans[:, 0], sizes)  # every file read once, its size kept
    assert all((plan > 0) == jpeg for plan, jpeg in zip(plans[:, 1], is_jpeg))
    second = _epoch(it)  # decoded through the plans
    np.testing.assert_array_equal(second, first)


def _after_one_epoch(tree, suffix: str):
    """An exact-mode iterator that has read one epoch, the index and path of a file."""
    it = ImageDataGenerator().flow_from_directory(
        tree, target_size=(24, 20), batch_size=4, shuffle=False, verbose=0
    )
    _epoch(it)
    k = next(i for i, p in enumerate(it.filepaths) if p.endswith(suffix))
    return it, k, it.filepaths[k]


def test_a_file_changed_between_epochs_is_checked_again(mixed_tree):
    it, k, path = _after_one_epoch(mixed_tree, "a_0000.jpg")
    # Replaced by another image with the same name: the new pixels, not the plan's.
    new = np.random.default_rng(9).integers(0, 256, (200, 150, 3), dtype=np.uint8)
    Image.fromarray(new).save(path, format="JPEG", quality=75)
    batch = it[k // 4][0]
    want = np.asarray(Image.open(path).convert("RGB").resize((20, 24), Image.NEAREST))
    np.testing.assert_array_equal(batch[k % 4].astype(np.uint8), want)
    assert _plans(it)[k, 0] == len(open(path, "rb").read())
    # Now truncated: named, like any truncated file, not an anonymous libjpeg error.
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"{path}.*truncated JPEG"):
        it[k // 4]


def test_a_same_size_file_no_longer_ending_in_eoi_is_checked_again(mixed_tree):
    it, k, path = _after_one_epoch(mixed_tree, ".jpg")
    data = bytearray(open(path, "rb").read())
    data[-2:] = b"\0\0"  # same size, end-of-image marker gone
    open(path, "wb").write(bytes(data))
    assert _plans(it)[k, 0] == len(data) and _plans(it)[k, 1] > 0
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"{path}.*truncated JPEG"):
        it[k // 4]


def test_header_plans_table_alone():
    plans = pipeline.HeaderPlans(3)
    idx = tf.constant(1, tf.int64)
    assert int(plans.known(idx, tf.constant(100))) == 0
    plans.record(idx, tf.constant(100), tf.constant(2))
    assert int(plans.known(idx, tf.constant(100))) == 2
    assert int(plans.known(idx, tf.constant(101))) == 0  # size changed: unknown
    assert int(plans.known(tf.constant(0, tf.int64), tf.constant(0))) == 0
