"""tfdirpipe: Keras's ``flow_from_directory`` as a native tf.data pipeline.

Change one import and keep the script::

    from tfdirpipe import ImageDataGenerator

    train = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        "data/train", target_size=(150, 150), batch_size=32)
    model.fit(train, epochs=10)

Importing tfdirpipe imports TensorFlow but never ``tensorflow_io`` (that is
loaded lazily, only for TIFF decoding and S3/HDFS/Azure paths).
"""

from __future__ import annotations

__version__ = "0.1.0"

from tfdirpipe.array_iterator import NumpyArrayIterator
from tfdirpipe.dataset import image_dataset_from_directory
from tfdirpipe.distribute import input_fn_for, service_dataset
from tfdirpipe.generator import ImageDataGenerator
from tfdirpipe.iterator import BadImageError, BaseIterator, DirectoryIterator
from tfdirpipe.listing import FileIndex, list_directory
from tfdirpipe.materialize import class_counts, class_weight, to_numpy
from tfdirpipe.scan import scan_directory

__all__ = [
    "BadImageError",
    "BaseIterator",
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
