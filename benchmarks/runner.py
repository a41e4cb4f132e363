"""Orchestration: worker processes, interleaved repeats, RSS and e2e phases.

Design (FFCV-style, adapted to a 2-core machine where noise is the enemy):

* One worker process per case (`benchmarks.worker`), all started together so
  their TensorFlow imports overlap; all idle while one of them is timed.
* Per target size: every worker builds its pipeline and warms up (untimed,
  in parallel), then repeats run round-robin -- repeat r times each case once,
  starting the rotation at case r -- so drifting background load hits every
  case alike. The median of the repeats is reported with min and max.
* Peak RSS is per (case, size): the worker resets its high-water mark at
  setup and reports it at teardown.
* The "RSS flat as the dataset doubles" check runs each streaming case in two
  fresh processes (N images, then 2N) for one epoch each.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from benchmarks.cases import Setup
from benchmarks.data import REPO_ROOT

__all__ = ["Progress", "WorkerProc", "close_all", "run_e2e_phase", "run_pipeline_phase", "run_rss_phase"]


class Progress:
    """A tqdm bar when tqdm is installed and enabled, else nothing."""

    def __init__(self, total: int, enabled: bool = True):
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="step", dynamic_ncols=True, file=sys.stderr)
            except ImportError:
                pass

    def step(self, desc: str | None = None, n: int = 1):
        if self.bar is not None:
            if desc:
                self.bar.set_description_str(desc[:48])
            self.bar.update(n)

    def describe(self, desc: str):
        if self.bar is not None:
            self.bar.set_description_str(desc[:48])

    def add(self, n: int):
        if self.bar is not None:
            self.bar.total += n
            self.bar.refresh()

    def write(self, text: str):
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class WorkerProc:
    """One `python -m benchmarks.worker CASE` process and its reply queue."""

    def __init__(self, case: str, log_path: Path):
        self.case = case
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "a")
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker", case],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            cwd=REPO_ROOT,
            env=env,
        )
        self.dead: str | None = None
        self._replies: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self._replies.put(json.loads(line))
            except ValueError:
                continue
        self._replies.put(None)

    def send(self, msg: dict) -> None:
        if self.dead:
            return
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self.dead = f"worker pipe closed ({e})"

    def recv(self, timeout: float) -> dict:
        if self.dead:
            return {"ok": False, "error": self.dead}
        try:
            reply = self._replies.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            self.dead = f"timed out after {timeout:.0f}s (log: {self.log_path})"
            return {"ok": False, "error": self.dead}
        if reply is None:
            rc = self.proc.wait()
            self.dead = f"worker exited with code {rc}; last log lines: {self.log_tail()}"
            return {"ok": False, "error": self.dead}
        return reply

    def call(self, msg: dict, timeout: float) -> dict:
        self.send(msg)
        return self.recv(timeout)

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])[-600:]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self, wait: float = 5.0):
        close_all([self], wait)


def close_all(workers, wait: float = 5.0) -> None:
    """Asks every worker to exit, waits up to `wait` s in all, kills the rest."""
    for w in workers:
        if w.proc.poll() is None and not w.dead:
            w.send({"cmd": "exit"})
    deadline = time.monotonic() + wait
    for w in workers:
        try:
            w.proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            pass
        w.kill()
        w._log.close()


def _log_name(case: str, tag: str) -> str:
    return f"{case}{('-' + tag) if tag else ''}.log"


def run_pipeline_phase(
    case_names: list[str],
    sizes: list[int],
    data_dir: str,
    *,
    repeats: int,
    warmup_batches: int,
    batch_size: int,
    seed: int,
    timeout: float,
    log_dir: Path,
    progress: Progress,
) -> tuple[list[dict], dict]:
    """Runs the pipeline cases; returns per-(case, size) records and a hello."""
    workers = {c: WorkerProc(c, log_dir / _log_name(c, "pipeline")) for c in case_names}
    hello: dict = {}
    records: dict[tuple[str, int], dict] = {}
    try:
        progress.describe("starting workers")
        for w in workers.values():
            w.send({"cmd": "hello"})
        for c, w in workers.items():
            reply = w.recv(timeout)
            if reply.get("ok") and not hello and "tensorflow" in reply:
                hello = reply
            progress.step(f"started {c}")
        for size in sizes:
            setup = Setup(data_dir=data_dir, size=size, batch_size=batch_size, seed=seed)
            for c, w in workers.items():
                records[(c, size)] = {"case": c, "size": size, "runs": [], "log": str(w.log_path)}
                w.send({"cmd": "setup", "setup": asdict(setup), "warmup_batches": warmup_batches})
            active = []
            for c, w in workers.items():
                progress.describe(f"setup {c} @{size}")
                reply = w.recv(timeout)
                rec = records[(c, size)]
                if reply.get("ok"):
                    rec["status"] = "ok"
                    rec["setup"] = {k: v for k, v in reply.items() if k not in ("ok", "notes", "sanity")}
                    rec["notes"] = reply.get("notes", [])
                    rec["sanity"] = reply.get("sanity", [])
                    active.append(c)
                else:
                    rec["status"] = "unavailable"
                    rec["error"] = reply.get("error", "unknown error")
                    progress.step(n=repeats)  # its runs will not happen
                progress.step(f"setup {c} @{size}")
            for r in range(repeats):
                k = r % max(len(active), 1)
                for c in active[k:] + active[:k]:
                    rec = records[(c, size)]
                    if rec["status"] != "ok":
                        progress.step()
                        continue
                    progress.describe(f"{c} @{size} #{r + 1}")
                    reply = workers[c].call({"cmd": "run"}, timeout)
                    if reply.get("ok"):
                        reply.pop("ok")
                        rec["runs"].append(reply)
                    else:
                        rec["status"] = "failed"
                        rec["error"] = reply.get("error", "unknown error")
                    progress.step()
            for w in workers.values():
                w.send({"cmd": "teardown"})
            for c, w in workers.items():
                rec = records[(c, size)]
                if w.dead:
                    progress.step()
                    continue
                reply = w.recv(timeout)
                if reply.get("ok"):
                    rec["peak_rss_mb"] = reply.get("peak_rss_mb")
                    rec["peak_rss_per_size"] = reply.get("peak_is_per_size")
                progress.step(f"teardown {c} @{size}")
    finally:
        close_all(workers.values())
    return list(records.values()), hello


def run_rss_phase(
    case_names: list[str],
    size: int,
    dirs: list[tuple[int, str]],
    *,
    warmup_batches: int,
    batch_size: int,
    seed: int,
    timeout: float,
    log_dir: Path,
    progress: Progress,
) -> list[dict]:
    """Peak RSS of one epoch per (case, dataset) in a fresh process each."""
    out = []
    for c in case_names:
        entry: dict = {"case": c, "size": size, "num_images": [], "peak_rss_mb": [], "errors": []}
        for n, d in dirs:
            progress.describe(f"rss {c} N={n}")
            w = WorkerProc(c, log_dir / _log_name(c, f"rss{n}"))
            try:
                setup = Setup(data_dir=d, size=size, batch_size=batch_size, seed=seed)
                reply = w.call({"cmd": "hello"}, timeout)
                if reply.get("ok"):
                    reply = w.call(
                        {"cmd": "setup", "setup": asdict(setup), "warmup_batches": warmup_batches},
                        timeout,
                    )
                if reply.get("ok"):
                    reply = w.call({"cmd": "run"}, timeout)
                if reply.get("ok"):
                    reply = w.call({"cmd": "teardown"}, timeout)
                if reply.get("ok"):
                    entry["num_images"].append(n)
                    entry["peak_rss_mb"].append(reply.get("peak_rss_mb"))
                else:
                    entry["errors"].append(reply.get("error", "unknown error"))
            finally:
                w.close()
            progress.step()
        out.append(entry)
    return out


def run_e2e_phase(
    case_names: list[str],
    sizes: list[int],
    data_dir: str,
    *,
    repeats: int,
    batch_size: int,
    seed: int,
    steps: int,
    timeout: float,
    log_dir: Path,
    progress: Progress,
) -> list[dict]:
    """End-to-end `model.fit` steps/s, interleaved like the pipeline phase."""
    records: dict[tuple[str, int], dict] = {}
    workers = {c: WorkerProc(c, log_dir / _log_name(c, "e2e")) for c in case_names}
    try:
        for w in workers.values():
            w.send({"cmd": "hello"})
        for c, w in workers.items():
            w.recv(timeout)
            progress.step(f"started {c}")
        for size in sizes:
            setup = Setup(data_dir=data_dir, size=size, batch_size=batch_size, seed=seed, e2e_steps=steps)
            active = []
            for c, w in workers.items():
                progress.describe(f"setup {c} @{size}")
                records[(c, size)] = rec = {"case": c, "size": size, "runs": [], "log": str(w.log_path)}
                # Sequential: model compilation is CPU-heavy and would
                # otherwise slow the other workers' warm-ups unevenly.
                reply = w.call({"cmd": "setup", "setup": asdict(setup)}, timeout)
                if reply.get("ok"):
                    rec["status"] = "ok"
                    rec["notes"] = reply.get("notes", [])
                    active.append(c)
                else:
                    rec["status"] = "unavailable"
                    rec["error"] = reply.get("error", "unknown error")
                    progress.step(n=repeats)
                progress.step()
            for r in range(repeats):
                k = r % max(len(active), 1)
                for c in active[k:] + active[:k]:
                    rec = records[(c, size)]
                    if rec["status"] != "ok":
                        progress.step()
                        continue
                    progress.describe(f"{c} @{size} #{r + 1}")
                    reply = workers[c].call({"cmd": "run"}, timeout)
                    if reply.get("ok"):
                        reply.pop("ok")
                        rec["runs"].append(reply)
                    else:
                        rec["status"] = "failed"
                        rec["error"] = reply.get("error", "unknown error")
                    progress.step()
            for c, w in workers.items():
                if not w.dead:
                    w.call({"cmd": "teardown"}, timeout)
    finally:
        close_all(workers.values())
    return list(records.values())
