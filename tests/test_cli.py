"""The ``tfdirpipe`` command line parses arguments without importing TensorFlow.

Importing TensorFlow takes seconds; ``tfdirpipe --help``, ``tfdirpipe scan
--help`` and usage errors must not pay for it. Each check runs in a fresh
interpreter (this test process has TensorFlow loaded already) and lists the
heavy modules present once parsing is done.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

_PROBE = textwrap.dedent(
    """
    import contextlib, io, json, sys
    import tfdirpipe
    from tfdirpipe import cli, scan

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        codes = [
            cli.main(["--help"]),
            cli.main(["scan", "--help"]),
            cli.main(["serve", "--help"]),
            cli.main(["serve", "worker", "--help"]),
            cli.main(["scan"]),  # usage error: DIR missing
            cli.main(["nope"]),
        ]
    args = scan._parser().parse_args(["some/dir", "--target-size", "8x9", "--json"])
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
    print(json.dumps({"codes": codes, "heavy": heavy, "size": list(args.target_size),
                      "help": out.getvalue()}))
    """
)


def test_parsing_and_help_do_not_import_tensorflow():
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["codes"] == [0, 0, 0, 0, 2, 2]
    assert report["size"] == [8, 9]
    assert "usage: tfdirpipe <command>" in report["help"]
    assert "usage: tfdirpipe scan" in report["help"] and "--decode" in report["help"]
    assert "--dispatcher" in report["help"]  # serve worker's own help


def test_module_entry_point_help():
    """``python -m tfdirpipe.cli scan --help`` prints the scan usage and exits 0."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['tfdirpipe', 'scan', '--help']\n"
        "try:\n"
        "    runpy.run_module('tfdirpipe.cli', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] == 'tensorflow']\n"
        "print('HEAVY', len(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "usage: tfdirpipe scan" in result.stdout
    assert result.stdout.strip().endswith("HEAVY 0")


def test_lazy_package_still_exports_everything():
    """The lazy ``tfdirpipe`` namespace resolves every public name and submodule."""
    import tfdirpipe

    for name in tfdirpipe.__all__:
        assert getattr(tfdirpipe, name) is not None, name
    assert set(tfdirpipe.__all__) <= set(dir(tfdirpipe))
    assert tfdirpipe.pipeline.LoadSpec is not None  # submodules on first access
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        tfdirpipe.no_such_name  # noqa: B018
