"""Shared fixtures and marker handling for the tfdirpipe tests."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _tfio_ok() -> tuple[bool, str]:
    from tfdirpipe import _tfio

    return _tfio.tfio_status()


def pytest_collection_modifyitems(config, items):
    """Skips `gpu` and `needs_tfio` tests, with the reason, where they cannot run."""
    need_gpu = [i for i in items if "gpu" in i.keywords]
    if need_gpu and not _has_gpu():
        for item in need_gpu:
            item.add_marker(pytest.mark.skip(reason="no GPU visible to TensorFlow"))
    need_tfio = [i for i in items if "needs_tfio" in i.keywords]
    if need_tfio:
        ok, why = _tfio_ok()
        if not ok:
            for item in need_tfio:
                item.add_marker(pytest.mark.skip(reason=f"tensorflow-io ops unavailable: {why}"))


@pytest.fixture(scope="session")
def keras_legacy():
    """The real Keras legacy ImageDataGenerator (the reference behaviour)."""
    import tensorflow as tf

    return tf.keras.preprocessing.image.ImageDataGenerator
