"""tf.data service overhead: ``python -m benchmarks.service [--quick] [--out DIR]``.

Times one epoch of the same `DirectoryIterator` three ways on a generated
photo dataset (`tfdirpipe.testing.make_photo_dataset`):

* ``in_process``: iterating the iterator itself;
* ``service_1_worker`` / ``service_2_workers``: ``it.distribute(...)``
  against a dispatcher and 1 or 2 worker processes started with
  ``python -m tfdirpipe.serve`` on this machine (clients use localhost;
  TensorFlow listens on every interface, so nothing stays up longer than
  the run);
* ``service_1_worker_uncompressed``: the same with ``compression=None``
  (batches are float32 after ``rescale``: 4 bytes a pixel on the wire).

Each case runs one untimed warm-up epoch, then ``repeats`` timed epochs,
round-robin across cases so drifting background load hits all alike, and
reports the median (and min/max) of: images/s as a Python consumer sees it
(``for x, y in ds``), images/s as tf.data sees it (``ds.reduce`` counting
images, no Python per batch), first-batch latency, and the epoch time. All
cases share the machine: on a small machine the workers compete with the
client for cores, so this measures the cost of the service path (RPCs,
serialization, per-epoch job start), not a speed-up. Metadata (TF version,
CPUs, load average, git commit) goes into the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks import data, machine

__all__ = ["main", "run"]

QUICK = {"num_images": 96, "num_classes": 4, "size": 150, "batch_size": 16, "repeats": 3}
FULL = {"num_images": 512, "num_classes": 8, "size": 224, "batch_size": 32, "repeats": 5}
CASES = ("in_process", "service_1_worker", "service_2_workers", "service_1_worker_uncompressed")
START_TIMEOUT = 180


class _Server:
    """A ``python -m tfdirpipe.serve`` subprocess (killed by `stop`)."""

    def __init__(self, *args: str):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tfdirpipe.serve", *args], cwd=data.REPO_ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        pump = threading.Thread(
            target=lambda: [lines.put(x) for x in self.proc.stdout], daemon=True
        )
        pump.start()
        try:
            self.line = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"{args[0]} did not start within {START_TIMEOUT} s") from None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(20)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _time_python(ds) -> dict:
    """One epoch consumed from Python: first-batch latency, epoch time, images."""
    start = time.perf_counter()
    first = None
    images = 0
    for x, _ in ds:
        images += int(x.shape[0])
        if first is None:
            first = time.perf_counter() - start
            after_first = time.perf_counter()
            images_first = images
    end = time.perf_counter()
    steady = (images - images_first) / (end - after_first) if end > after_first else None
    return {"images": images, "epoch_s": end - start, "first_batch_s": first,
            "images_per_s": images / (end - start), "steady_images_per_s": steady}


def _time_graph(ds) -> dict:
    """One epoch counted inside tf.data (no Python per batch)."""
    import tensorflow as tf

    start = time.perf_counter()
    images = int(ds.reduce(tf.constant(0, tf.int64), lambda n, b: n + tf.shape(b[0], tf.int64)[0]))
    elapsed = time.perf_counter() - start
    return {"images": images, "epoch_s": elapsed, "images_per_s": images / elapsed}


def _stats(values: list[float]) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def run(
    quick: bool, out_dir: str | os.PathLike, data_root: str | os.PathLike = ".bench_data"
) -> dict:
    """Runs the service benchmark; writes ``service.json`` to ``out_dir`` and returns it.

    Args:
        quick: Small dataset and 3 repeats (about 2-4 minutes on 2 cores).
        out_dir: Where ``service.json`` goes (created).
        data_root: Where the generated photo dataset is kept (reused).

    Returns:
        ``{"metadata", "params", "cases": {case: {"python": stats...,
        "graph": stats..., "first_batch_s": stats}}, "overhead"}``.
    """
    params = dict(QUICK if quick else FULL)
    load_at_start = machine.load_average()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    directory = data.ensure_photo_dataset(data_root, params["num_images"], params["num_classes"])

    import tensorflow as tf  # after the dataset: generating it needs no TensorFlow

    import tfdirpipe

    servers: list[_Server] = []
    results: dict[str, dict[str, list]] = {
        c: {"python": [], "graph": [], "first": []} for c in CASES
    }
    try:
        dispatcher = _Server("dispatcher", "--port", str(_free_port()))
        servers.append(dispatcher)
        service = dispatcher.line.split(" at ", 1)[1].split(" ", 1)[0]
        address = service.split("://", 1)[1]
        workers = [_Server("worker", "--dispatcher", address, "--port", str(_free_port()))
                   for _ in range(2)]
        servers += workers

        it = tfdirpipe.ImageDataGenerator(rescale=1 / 255).flow_from_directory(
            directory, target_size=(params["size"], params["size"]),
            batch_size=params["batch_size"], seed=0, verbose=False,
        )
        service_ds = it.distribute(service, task_refresh_interval_ms=100)
        pipelines = {"in_process": it, "service_2_workers": service_ds}

        # The one-worker case gets its own dispatcher and worker (a worker
        # cannot be taken out of a running cluster without stalling its jobs).
        solo_dispatcher = _Server("dispatcher", "--port", str(_free_port()))
        servers.append(solo_dispatcher)
        solo_service = solo_dispatcher.line.split(" at ", 1)[1].split(" ", 1)[0]
        servers.append(_Server("worker", "--dispatcher", solo_service.split("://", 1)[1],
                               "--port", str(_free_port())))
        pipelines["service_1_worker"] = it.distribute(solo_service, task_refresh_interval_ms=100)
        pipelines["service_1_worker_uncompressed"] = it.distribute(
            solo_service, task_refresh_interval_ms=100, compression=None
        )

        for case in CASES:  # warm-up: traces functions, fills the page cache
            _time_python(pipelines[case])
        for r in range(params["repeats"]):
            order = CASES[r % len(CASES):] + CASES[: r % len(CASES)]
            for case in order:
                py = _time_python(pipelines[case])
                results[case]["python"].append(py["images_per_s"])
                results[case]["first"].append(py["first_batch_s"])
                results[case]["graph"].append(_time_graph(pipelines[case])["images_per_s"])
        reports = [r.__dict__ for r in service_ds.epoch_reports[-2:]]
    finally:
        for server in servers:
            server.stop()

    cases = {
        case: {
            "python_images_per_s": _stats(v["python"]),
            "graph_images_per_s": _stats(v["graph"]),
            "first_batch_s": _stats(v["first"]),
        }
        for case, v in results.items()
    }
    base = cases["in_process"]["python_images_per_s"]["median"]
    overhead = {
        case: round(cases[case]["python_images_per_s"]["median"] / base, 3)
        for case in CASES[1:]
    }
    payload = {
        "metadata": {**machine.collect_metadata(load_at_start=load_at_start),
                     "tensorflow_runtime": tf.__version__},
        "params": {**params, "dataset": directory},
        "cases": cases,
        "throughput_vs_in_process": overhead,
        "last_service_epoch_reports": reports,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "service.json").write_text(json.dumps(payload, indent=1, default=str))
    return payload


def _table(payload: dict) -> str:
    rows = ["case                           images/s (python)  images/s (tf.data)  first batch s"]
    for case, c in payload["cases"].items():
        rows.append(
            f"{case:<30} {c['python_images_per_s']['median']:>17.1f}  "
            f"{c['graph_images_per_s']['median']:>18.1f}  {c['first_batch_s']['median']:>13.2f}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.service", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small dataset, 3 repeats")
    parser.add_argument("--out", default="bench_out", help="output directory (default bench_out)")
    parser.add_argument("--data-root", default=".bench_data", help="generated datasets (reused)")
    args = parser.parse_args(argv)
    payload = run(args.quick, args.out, args.data_root)
    print(_table(payload))
    print("throughput relative to in-process:", payload["throughput_vs_in_process"])
    print(f"wrote {Path(args.out) / 'service.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
