"""The ``tfdirpipe`` command: ``scan``, ``serve`` and ``bench`` subcommands.

Each subcommand lives in its own module and is imported only when used, and
the package imports TensorFlow lazily (see ``tfdirpipe/__init__.py``), so
``tfdirpipe --help`` and ``tfdirpipe scan --help`` are instant
(``tests/test_cli.py`` checks that parsing leaves TensorFlow unimported).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

_USAGE = """usage: tfdirpipe <command> [options]

commands:
  scan DIR        check an image directory before training (see --help)
  serve ...       run tf.data service servers: `serve dispatcher` / `serve worker`
  bench ...       run the benchmark suite (from a source checkout)
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tfdirpipe`` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(_USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "scan":
        from tfdirpipe import scan

        return scan.main(rest)
    if command == "serve":
        from tfdirpipe import serve

        return serve.main(rest)
    if command == "bench":
        try:
            from benchmarks import __main__ as bench
        except ImportError:
            sys.stderr.write(
                "tfdirpipe bench runs the suite in benchmarks/ of a source checkout: "
                "run it from the repository root (python -m benchmarks).\n"
            )
            return 2
        return bench.main(rest)
    sys.stderr.write(f"tfdirpipe: unknown command {command!r}\n\n{_USAGE}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
