"""tfdirpipe: Keras's ``flow_from_directory`` as a native tf.data pipeline.

Change one import and keep the script::

    from tfdirpipe import ImageDataGenerator

    train = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        "data/train", target_size=(150, 150), batch_size=32)
    model.fit(train, epochs=10)

Importing tfdirpipe is cheap: each public name below is imported on first
use (PEP 562), so TensorFlow is loaded by the first name that needs it, not
by the command line's argument parsing (``tfdirpipe --help`` is instant),
and ``tensorflow_io`` only for TIFF decoding and S3/HDFS/Azure paths.
Submodules (``tfdirpipe.pipeline``, ...) are imported on first attribute
access too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module defining it.
_EXPORTS: dict[str, str] = {
    "NumpyArrayIterator": "tfdirpipe.array_iterator",
    "DataFrameIterator": "tfdirpipe.dataframe_iterator",
    "image_dataset_from_directory": "tfdirpipe.dataset",
    "DeviceStage": "tfdirpipe.device_stage",
    "input_fn_for": "tfdirpipe.distribute",
    "service_dataset": "tfdirpipe.distribute",
    "ImageDataGenerator": "tfdirpipe.generator",
    "BadImageError": "tfdirpipe.iterator",
    "BaseIterator": "tfdirpipe.iterator",
    "DirectoryIterator": "tfdirpipe.iterator",
    "FileIndex": "tfdirpipe.listing",
    "list_directory": "tfdirpipe.listing",
    "class_counts": "tfdirpipe.materialize",
    "class_weight": "tfdirpipe.materialize",
    "to_numpy": "tfdirpipe.materialize",
    "scan_directory": "tfdirpipe.scan",
}

if TYPE_CHECKING:  # what type checkers and IDEs see
    from tfdirpipe.array_iterator import NumpyArrayIterator
    from tfdirpipe.dataframe_iterator import DataFrameIterator
    from tfdirpipe.dataset import image_dataset_from_directory
    from tfdirpipe.device_stage import DeviceStage
    from tfdirpipe.distribute import input_fn_for, service_dataset
    from tfdirpipe.generator import ImageDataGenerator
    from tfdirpipe.iterator import BadImageError, BaseIterator, DirectoryIterator
    from tfdirpipe.listing import FileIndex, list_directory
    from tfdirpipe.materialize import class_counts, class_weight, to_numpy
    from tfdirpipe.scan import scan_directory


def __getattr__(name: str) -> Any:
    """Imports a public name's module (or a submodule) on first access."""
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    if not name.startswith("__"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "BadImageError",
    "BaseIterator",
    "DataFrameIterator",
    "DeviceStage",
    "DirectoryIterator",
    "FileIndex",
    "ImageDataGenerator",
    "NumpyArrayIterator",
    "__version__",
    "class_counts",
    "class_weight",
    "image_dataset_from_directory",
    "input_fn_for",
    "list_directory",
    "scan_directory",
    "service_dataset",
    "to_numpy",
]
