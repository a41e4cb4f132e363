"""tfdirpipe: Keras's ``flow_from_directory`` as a native tf.data pipeline.

Change one import and keep the script::

    from tfdirpipe import ImageDataGenerator

    train = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        "data/train", target_size=(150, 150), batch_size=32)
    model.fit(train, epochs=10)

Importing tfdirpipe imports TensorFlow but never ``tensorflow_io``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from tfdirpipe.dataset import image_dataset_from_directory
from tfdirpipe.generator import ImageDataGenerator
from tfdirpipe.iterator import BaseIterator, DirectoryIterator
from tfdirpipe.listing import FileIndex, list_directory

__all__ = [
    "BaseIterator",
    "DirectoryIterator",
    "FileIndex",
    "ImageDataGenerator",
    "__version__",
    "image_dataset_from_directory",
    "list_directory",
]
