"""Lazy, checked access to the optional ``tensorflow-io`` package (TIFF decoding).

``import tfdirpipe`` never imports ``tensorflow_io``: it is imported the
first time `tfio_status` or `require_tfio` is called. Being importable is not
enough: tensorflow-io ships compiled ops built against one TensorFlow minor
version (tensorflow-io 0.37.1 loads only with TensorFlow 2.16.x; with newer
TensorFlow its shared library fails with undefined symbols, often only when
an op is first run). `tfio_status` therefore decodes a tiny TIFF before it
reports the ops as working, and caches the verdict for the process.
"""

from __future__ import annotations

import functools
import struct
from types import ModuleType

__all__ = ["TfioUnavailableError", "INSTALL_HINT", "require_tfio", "tfio_status"]

INSTALL_HINT = (
    'install it with `pip install "tfdirpipe[io]"` into an environment with '
    "tensorflow 2.16.x (tensorflow-io 0.37.x has compiled ops only for that "
    "TensorFlow release)"
)


class TfioUnavailableError(ImportError):
    """Raised when a feature needs tensorflow-io and its ops cannot run here."""


def _tiny_tiff() -> bytes:
    """A valid 2x1 8-bit grayscale uncompressed little-endian TIFF (pixels 7, 200)."""
    entries = [
        (256, 3, 1, 2),  # ImageWidth
        (257, 3, 1, 1),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # PhotometricInterpretation: BlackIsZero
        (273, 4, 1, 0),  # StripOffsets (patched below)
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 3, 1, 1),  # RowsPerStrip
        (279, 4, 1, 2),  # StripByteCounts
    ]
    data_offset = 8 + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if tag == 273:
            value = data_offset
        packed = struct.pack("<H", value) + b"\0\0" if typ == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, typ, count) + packed
    return b"II*\0" + struct.pack("<I", 8) + ifd + b"\0\0\0\0" + bytes([7, 200])


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[ModuleType | None, str]:
    try:
        import tensorflow_io as tfio  # noqa: PLC0415 - imported lazily on purpose
    except ImportError as exc:
        return None, f"tensorflow-io is not installed ({exc})"
    except Exception as exc:  # noqa: BLE001 - a broken install raises anything
        return None, f"tensorflow-io failed to import ({type(exc).__name__}: {exc})"

    import tensorflow as tf  # noqa: PLC0415

    version = getattr(tfio, "__version__", "unknown")
    try:
        with tf.init_scope():  # run eagerly even when first called while tracing
            pixels = tfio.experimental.image.decode_tiff(tf.constant(_tiny_tiff()))
            values = pixels.numpy()
    except Exception as exc:  # noqa: BLE001 - op load failures have many types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return None, (
            f"tensorflow-io {version} is installed but its ops do not run with "
            f"tensorflow {tf.__version__} ({type(exc).__name__}: {first_line[:300]})"
        )
    if values.shape != (1, 2, 4) or values[0, :, 0].tolist() != [7, 200]:
        return None, (
            f"tensorflow-io {version} decoded a test TIFF wrongly with tensorflow "
            f"{tf.__version__} (got shape {values.shape})"
        )
    return tfio, f"tensorflow-io {version} with tensorflow {tf.__version__}"


def tfio_status() -> tuple[bool, str]:
    """Whether tensorflow-io's ops work in this process, and why (not).

    The first call imports ``tensorflow_io`` and decodes a tiny TIFF with it;
    the answer is cached for the rest of the process.

    Returns:
        ``(ok, message)``: ``ok`` is True when TIFF decoding works; ``message``
        names the installed version, or the reason it is unusable.
    """
    module, message = _probe()
    return module is not None, message


def require_tfio(feature: str) -> ModuleType:
    """Returns the ``tensorflow_io`` module, or raises if its ops cannot run.

    Args:
        feature: What needs tensorflow-io, for the message (e.g. ``"TIFF decoding"``).

    Returns:
        The imported ``tensorflow_io`` module.

    Raises:
        TfioUnavailableError: (an ``ImportError``) tensorflow-io is missing or
            its compiled ops do not load with the installed TensorFlow; the
            message says why and how to install a working version.
    """
    module, message = _probe()
    if module is None:
        raise TfioUnavailableError(
            f"{feature} needs tensorflow-io, which is not usable here: {message}. "
            f"To enable it, {INSTALL_HINT}."
        )
    return module
