"""The one place tfdirpipe prints to the user."""

from __future__ import annotations

import sys


def print_msg(message: str, verbose: bool | int = True) -> None:
    """Prints ``message`` on its own line unless ``verbose`` is false.

    Lines go to stdout like Keras's ``io_utils.print_msg`` so that scripts
    which parse ``Found N images belonging to K classes.`` keep working.
    """
    if verbose:
        sys.stdout.write(message + "\n")
        sys.stdout.flush()
