"""tf.data service servers for tfdirpipe pipelines: ``tfdirpipe serve``.

```
tfdirpipe serve dispatcher --port 5050 [--work-dir DIR [--fault-tolerant]]
tfdirpipe serve worker --dispatcher HOST:5050 [--port 5051] [--address HOST]
```

One dispatcher coordinates any number of workers; training processes pass
the dispatcher to `tfdirpipe.distribute.service_dataset` (or
``it.distribute(service="grpc://HOST:5050")``). Workers only run serialized
TensorFlow graphs: they need TensorFlow (the same version as the clients)
and read access to the image files under the same paths, not the training
code.

Both commands print the address they serve on one line, then block until
SIGINT or SIGTERM and exit 0 after stopping the server.

Addresses: TensorFlow's servers listen on every interface of the machine
(its API has no bind address); ``--address`` only sets the host name a
worker tells clients to connect to (default ``localhost``, which suits one
machine). Run them on a private network or behind a firewall: the service
has no authentication.

A worker that stops mid-epoch leaves its clients waiting until a worker is
back at the same address, so run workers under a supervisor that restarts
them with the same ``--port`` (see ``docs/scaling.md``).
"""

from __future__ import annotations

import argparse
import numbers
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tfdirpipe import _validate

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["main", "start_dispatcher", "start_worker", "wait_for_signal"]


def _service():
    """``tf.data.experimental.service``, imported on first use (``--help`` stays fast)."""
    import tensorflow as tf

    return tf.data.experimental.service


def _port(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be an int in [0, 65535]. " + _validate.received(name, value)
        )
    if not 0 <= value <= 65535:
        raise ValueError(
            f"`{name}` must be an int in [0, 65535] (0 picks a free port). "
            + _validate.received(name, value)
        )
    return int(value)


def _optional_ms(name: str, value) -> int | None:
    return None if value is None else _validate.positive_int(name, value)


def _host_port(name: str, value) -> str:
    """``host:port`` (a ``grpc://`` prefix is dropped)."""
    if not isinstance(value, str):
        raise TypeError(
            f"`{name}` must be a 'host:port' string. " + _validate.received(name, value)
        )
    address = value.split("://", 1)[-1]
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(
            f"`{name}` must be 'host:port', e.g. 'localhost:5050'. "
            + _validate.received(name, value)
        )
    return address


def start_dispatcher(
    port: int = 0,
    work_dir: str | os.PathLike | None = None,
    fault_tolerant: bool = False,
    *,
    worker_addresses: Sequence[str] | None = None,
    worker_timeout_ms: int | None = None,
    job_gc_timeout_ms: int | None = None,
) -> tf.data.experimental.service.DispatchServer:
    """Starts a tf.data service dispatcher in this process.

    Args:
        port: Port to listen on; 0 picks a free one (read it from
            ``server.target``).
        work_dir: Directory (local or ``gs://``) for the dispatcher's
            journal; needed for ``fault_tolerant``.
        fault_tolerant: Journal registered datasets and jobs to
            ``work_dir`` so a restarted dispatcher resumes them.
        worker_addresses: The fixed list of worker addresses
            (``"host:port"``), needed only for
            ``processing_mode="data"`` / ``"file_or_data"``.
        worker_timeout_ms: How long a silent worker is considered alive.
        job_gc_timeout_ms: How long an unused job is kept.

    Returns:
        The running ``DispatchServer``; ``server.target`` is
        ``"grpc://localhost:PORT"``. Stop it with ``server.stop()``.
    """
    port = _port("port", port)
    _validate.boolean("fault_tolerant", fault_tolerant)
    if work_dir is not None and not isinstance(work_dir, (str, os.PathLike)):
        raise TypeError(
            "`work_dir` must be None or a directory path. "
            + _validate.received("work_dir", work_dir)
        )
    if fault_tolerant and work_dir is None:
        raise ValueError(
            "`fault_tolerant=True` needs a `work_dir` to journal the dispatcher's state "
            "in: pass work_dir='/some/dir' (or a gs:// path). "
            + _validate.received("work_dir", work_dir)
        )
    if worker_addresses is not None:
        if isinstance(worker_addresses, str):
            raise TypeError(
                "`worker_addresses` must be a list of 'host:port' strings. "
                + _validate.received("worker_addresses", worker_addresses)
            )
        worker_addresses = [_host_port("worker_addresses", a) for a in worker_addresses]
    config = _service().DispatcherConfig(
        port=port,
        work_dir=None if work_dir is None else os.fspath(work_dir),
        fault_tolerant_mode=fault_tolerant,
        worker_addresses=worker_addresses,
        worker_timeout_ms=_optional_ms("worker_timeout_ms", worker_timeout_ms),
        job_gc_timeout_ms=_optional_ms("job_gc_timeout_ms", job_gc_timeout_ms),
    )
    return _service().DispatchServer(config)


def start_worker(
    dispatcher_address: str,
    port: int = 0,
    *,
    address: str | None = None,
    heartbeat_interval_ms: int | None = None,
    dispatcher_timeout_ms: int | None = None,
) -> tf.data.experimental.service.WorkerServer:
    """Starts a tf.data service worker in this process.

    Args:
        dispatcher_address: The dispatcher, ``"host:port"`` (or
            ``"grpc://host:port"``).
        port: Port to listen on; 0 picks a free one. Give a fixed port to a
            worker that a supervisor restarts: clients waiting on a dead
            worker resume when it is back at the same address.
        address: Host name clients use to reach this worker (default
            ``"localhost"``: one machine only). ``"host"`` or ``"host:port"``.
        heartbeat_interval_ms: How often to report to the dispatcher.
        dispatcher_timeout_ms: How long to retry reaching the dispatcher.

    Returns:
        The running ``WorkerServer``. Stop it with ``server.stop()``.
    """
    dispatcher_address = _host_port("dispatcher_address", dispatcher_address)
    port = _port("port", port)
    worker_address = None
    if address is not None:
        if not isinstance(address, str) or not address:
            raise TypeError(
                "`address` must be a host name, or 'host:port'. "
                + _validate.received("address", address)
            )
        worker_address = address if ":" in address else f"{address}:%port%"
    config = _service().WorkerConfig(
        dispatcher_address=dispatcher_address,
        worker_address=worker_address,
        port=port,
        heartbeat_interval_ms=_optional_ms("heartbeat_interval_ms", heartbeat_interval_ms),
        dispatcher_timeout_ms=_optional_ms("dispatcher_timeout_ms", dispatcher_timeout_ms),
    )
    return _service().WorkerServer(config)


def wait_for_signal(server, timeout: float | None = None) -> int:
    """Blocks until SIGINT or SIGTERM (or ``timeout`` seconds), then stops ``server``.

    Must be called from the main thread (Python delivers signals there).

    Returns:
        The signal number that arrived, or 0 on timeout.
    """
    received: list[int] = []
    done = threading.Event()

    def handler(signum, _frame):
        received.append(signum)
        done.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # Short waits keep the main thread in Python, where handlers run.
        waited = 0.0
        while not done.wait(0.2):
            waited += 0.2
            if timeout is not None and waited >= timeout:
                break
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        server.stop()
    return received[0] if received else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfdirpipe serve",
        description="Run tf.data service servers for tfdirpipe pipelines "
        "(see docs/scaling.md). Both block until SIGINT/SIGTERM.",
    )
    sub = parser.add_subparsers(dest="role", required=True, metavar="{dispatcher,worker}")
    d = sub.add_parser("dispatcher", help="coordinate workers; clients connect here")
    d.add_argument("--port", type=int, default=5050,
                   help="port to listen on (default 5050; 0: any)")
    d.add_argument("--work-dir", metavar="DIR", help="journal directory (local or gs://)")
    d.add_argument("--fault-tolerant", action="store_true",
                   help="journal state to --work-dir so a restart resumes jobs")
    d.add_argument("--worker-addresses", metavar="H:P,H:P",
                   help="fixed worker list, needed for processing_mode='data'")
    d.add_argument("--worker-timeout-ms", type=int, metavar="MS",
                   help="how long a silent worker counts as alive")
    w = sub.add_parser("worker", help="build batches for the dispatcher's jobs")
    w.add_argument("--dispatcher", required=True, metavar="HOST:PORT",
                   help="the dispatcher's address")
    w.add_argument("--port", type=int, default=0,
                   help="port to listen on (default 0: any; fix it to restart in place)")
    w.add_argument("--address", metavar="HOST",
                   help="host name clients use to reach this worker (default localhost)")
    w.add_argument("--heartbeat-ms", type=int, metavar="MS",
                   help="how often to report to the dispatcher")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``tfdirpipe serve dispatcher|worker ...``; returns the exit code."""
    parser = _parser()
    try:  # --help and usage errors: an exit code, not an exception
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        if args.role == "dispatcher" and args.fault_tolerant and not args.work_dir:
            parser.error(
                "--fault-tolerant needs --work-dir DIR to journal the dispatcher's state in"
            )
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        if args.role == "dispatcher":
            addresses = None
            if args.worker_addresses:
                addresses = [a.strip() for a in args.worker_addresses.split(",") if a.strip()]
            server = start_dispatcher(
                args.port, args.work_dir, args.fault_tolerant,
                worker_addresses=addresses, worker_timeout_ms=args.worker_timeout_ms,
            )
            port = server.target.rsplit(":", 1)[1]
            line = (
                f"tfdirpipe serve: dispatcher at {server.target} "
                f"(TensorFlow listens on port {port} of every interface)"
            )
        else:
            server = start_worker(
                args.dispatcher, args.port, address=args.address,
                heartbeat_interval_ms=args.heartbeat_ms,
            )
            line = (
                f"tfdirpipe serve: worker at {server._address} for dispatcher "  # noqa: SLF001
                f"{_host_port('dispatcher', args.dispatcher)}"
            )
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    except Exception as err:  # noqa: BLE001 - e.g. port in use: one line, exit 1
        sys.stderr.write(f"tfdirpipe serve: cannot start the {args.role}: {err}\n")
        return 1
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    signum = wait_for_signal(server)
    sys.stdout.write(f"tfdirpipe serve: {args.role} stopped ({signal.Signals(signum).name}).\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
