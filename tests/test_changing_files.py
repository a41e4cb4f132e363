"""Files that change between epochs are read anew, and checked anew.

Every read of a file checks its header (the batch path of the epoch graph
and the per-image path of ``it[i]`` alike), so a file replaced, truncated or
damaged during training gives its new pixels or fails with its name.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfdirpipe import ImageDataGenerator
from tfdirpipe.testing import make_image_tree


def _epoch(it) -> np.ndarray:
    """One whole epoch of images, in order (shuffle=False)."""
    return np.concatenate([x for x, _ in (next(it) for _ in range(len(it)))])


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
def test_epochs_and_random_access_give_the_same_pixels(mixed_tree, fast, color_mode):
    """The epoch graph (batches loaded in one call) and ``it[i]`` (image by
    image) agree, epoch after epoch, on a tree mixing formats and JPEG kinds."""
    it = ImageDataGenerator().flow_from_directory(
        mixed_tree, target_size=(24, 20), batch_size=4, shuffle=False, color_mode=color_mode,
        fast=fast, verbose=0,
    )
    first = _epoch(it)
    np.testing.assert_array_equal(_epoch(it), first)
    np.testing.assert_array_equal(np.concatenate([it[i][0] for i in range(len(it))]), first)


def _after_one_epoch(tree, suffix: str):
    """An exact-mode iterator that has read one epoch, the index and path of a file."""
    it = ImageDataGenerator().flow_from_directory(
        tree, target_size=(24, 20), batch_size=4, shuffle=False, verbose=0
    )
    _epoch(it)
    k = next(i for i, p in enumerate(it.filepaths) if p.endswith(suffix))
    return it, k, it.filepaths[k]


def test_a_file_replaced_between_epochs_gives_its_new_pixels(mixed_tree):
    it, k, path = _after_one_epoch(mixed_tree, "a_0000.jpg")
    new = np.random.default_rng(9).integers(0, 256, (200, 150, 3), dtype=np.uint8)
    Image.fromarray(new).save(path, format="JPEG", quality=75)
    want = np.asarray(Image.open(path).convert("RGB").resize((20, 24), Image.NEAREST))
    np.testing.assert_array_equal(it[k // 4][0][k % 4].astype(np.uint8), want)
    np.testing.assert_array_equal(_epoch(it)[k].astype(np.uint8), want)


@pytest.mark.parametrize("damage", ["truncated", "same_size_without_eoi", "same_size_bad_header"])
def test_a_file_damaged_between_epochs_is_named(mixed_tree, damage):
    it, k, path = _after_one_epoch(mixed_tree, "a_0000.jpg")
    data = bytearray(open(path, "rb").read())
    if damage == "truncated":
        data = data[: len(data) // 2]
        reason = "truncated JPEG"
    elif damage == "same_size_without_eoi":
        data[-2:] = b"\0\0"
        reason = "truncated JPEG"
    else:  # the frame header's marker overwritten: same size, EOI intact
        sof = data.index(b"\xff\xc0")
        data[sof : sof + 2] = b"\x00\x00"
        reason = "corrupt JPEG header"
    open(path, "wb").write(bytes(data))
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"{path}: {reason}"):
        it[k // 4]
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"{path}: {reason}"):
        _epoch(it)
