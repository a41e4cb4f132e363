"""Pre-flight check: which files of a list cannot be loaded, and why.

Runs once, before the training graph is built, as its own parallel tf.data
pass (read, check the header and trailer, decode). The training graph then
holds only good files, so skipping bad ones needs no Python inside the
pipeline and works the same on tf.data service workers.

A file fails when it cannot be read, is not an image, has an unsupported
format, declares more pixels than the limit, is truncated, or does not
decode. Each failure is reported with the path and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfdirpipe import decode as decode_lib
from tfdirpipe.listing import Skipped


def _check_one(path: tf.Tensor, color_mode: str, max_pixels: int | None, full: bool):
    contents = tf.io.read_file(path)
    ok, reason = decode_lib.check_image(contents, max_pixels)
    if not full:
        return ok, reason

    def decoded():
        image = decode_lib.decode_image(contents, color_mode, filename=path, max_pixels=max_pixels)
        with tf.control_dependencies([tf.shape(image)]):
            return tf.constant(True), tf.constant("")

    return tf.cond(ok, decoded, lambda: (ok, reason))


def find_bad_files(
    paths: Sequence[str],
    color_mode: str = "rgb",
    max_pixels: int | None = decode_lib.MAX_IMAGE_PIXELS,
    full: bool = True,
) -> list[Skipped]:
    """The files of ``paths`` that cannot be loaded, with the reason, in order.

    Args:
        paths: File paths.
        color_mode: The color mode the files will be decoded to.
        max_pixels: Decompression-bomb limit (``None``: no limit).
        full: Also decode every file that passes the cheap checks (catches
            corrupt data inside an intact container).
    """
    if not paths:
        return []
    path_t = tf.constant(list(paths))
    ds = tf.data.Dataset.range(len(paths)).map(
        lambda i: (i, *_check_one(tf.gather(path_t, i), color_mode, max_pixels, full)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )
    ds = ds.ignore_errors()  # raised errors show up as missing indices, diagnosed below
    status: dict[int, str] = {}
    for i, ok, reason in ds.prefetch(tf.data.AUTOTUNE).as_numpy_iterator():
        status[int(i)] = "" if ok else reason.decode("utf-8", "replace")
    bad = []
    for i, path in enumerate(paths):
        if i not in status:
            status[i] = _diagnose(path, color_mode, max_pixels, full)
        if status[i]:
            bad.append(Skipped(path, status[i]))
    return bad


def _diagnose(path: str, color_mode: str, max_pixels: int | None, full: bool) -> str:
    """Runs the check eagerly on one file to recover the error message."""
    try:
        ok, reason = _check_one(tf.constant(path), color_mode, max_pixels, full)
    except tf.errors.NotFoundError:
        return "cannot read file: not found"
    except tf.errors.PermissionDeniedError:
        return "cannot read file: permission denied"
    except tf.errors.OpError as err:
        return _short(err.message)
    return "" if bool(np.asarray(ok)) else np.asarray(reason).item().decode("utf-8", "replace")


def _short(message: str) -> str:
    """The first line of a TF error message, without the op context."""
    line = message.strip().splitlines()[0] if message.strip() else "decode failed"
    return line.split(" [Op:")[0].strip()
