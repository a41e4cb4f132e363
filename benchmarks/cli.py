"""`python -m benchmarks`: the command line of the benchmark suite."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import cases as _cases
from benchmarks import data, machine, report, runner

__all__ = ["build_parser", "main"]

QUICK = {"num_images": 256, "repeats": 3}
FULL = {"num_images": 2000, "repeats": 5}


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="tfdirpipe vs Keras input pipelines: images/s, first-batch latency, "
        "CPU-s/1000 images, peak RSS, model.fit steps/s; JSON + markdown + PNG.",
    )
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK['num_images']} images, {QUICK['repeats']} repeats, no e2e, "
                   "one RSS case (under 2 minutes on 2 cores)")
    p.add_argument("--data", metavar="DIR",
                   help="class-per-folder image directory (default: a generated photo dataset)")
    p.add_argument("--data-root", default=".bench_data", metavar="DIR",
                   help="where generated datasets live (default: .bench_data)")
    p.add_argument("--out", default="bench_out", metavar="DIR", help="output directory (default: bench_out)")
    p.add_argument("--cases", type=_csv, metavar="A,B",
                   help="cases to run (pipeline and/or e2e names; see --list)")
    p.add_argument("--sizes", type=lambda t: [int(v) for v in _csv(t)], default=[150, 224],
                   metavar="150,224", help="square target sizes (default: 150,224)")
    p.add_argument("--repeats", type=int, help="timed epochs per case and size (default 5; quick 3)")
    p.add_argument("--num-images", type=int, help="images in the generated dataset (default 2000; quick 320)")
    p.add_argument("--num-classes", type=int, default=10, help="classes in the generated dataset")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--warmup-batches", type=int, default=2,
                   help="batches of an untimed epoch before the repeats")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-e2e", action="store_true", help="skip the model.fit section")
    p.add_argument("--e2e-steps", type=int, default=30, help="timed model.fit steps per repeat")
    p.add_argument("--no-rss", action="store_true", help="skip the RSS-flat-as-data-doubles check")
    p.add_argument("--no-quality", action="store_true", help="skip the fast-mode PSNR section")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per worker command")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target FAILs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    return p


def _select(args) -> tuple[list[str], list[str]]:
    if args.cases:
        for name in args.cases:
            _cases.get_case(name)  # raises with the list of known names
        pipeline = [c for c in args.cases if _cases.CASES[c].kind == "pipeline"]
        e2e = [c for c in args.cases if _cases.CASES[c].kind == "e2e"]
    else:
        pipeline = _cases.pipeline_case_names(quick=args.quick)
        e2e = [] if args.quick else _cases.e2e_case_names()
    if args.no_e2e:
        e2e = []
    return pipeline, e2e


def _quality(data_dir: str, sizes: list[int], quick: bool, timeout: float) -> list[dict]:
    """`benchmarks.quality` in a fresh process (this one stays TensorFlow-free)."""
    cmd = [sys.executable, "-m", "benchmarks.quality", "--data", data_dir, "--json",
           "--sizes", ",".join(map(str, sizes)), "--limit", "64" if quick else "200"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        print("warning: fast-mode PSNR section timed out", file=sys.stderr)
        return []
    if proc.returncode != 0:
        print(f"warning: fast-mode PSNR section failed: {proc.stderr.strip()[-500:]}", file=sys.stderr)
        return []
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for case in _cases.CASES.values():
            tag = "" if case.in_default else " (not default)"
            tag += "" if case.in_quick or not case.in_default else " (not in --quick)"
            print(f"{case.name:28s} [{case.kind}]{tag}\n    {case.description}")
        return 0
    preset = QUICK if args.quick else FULL
    repeats = args.repeats or preset["repeats"]
    num_images = args.num_images or preset["num_images"]
    if repeats < 1 or num_images < 1 or args.batch_size < 1 or not args.sizes or min(args.sizes) < 1:
        print("error: --repeats, --num-images, --batch-size and --sizes must be positive", file=sys.stderr)
        return 2
    try:
        pipeline_cases, e2e_cases = _select(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    log_dir = out / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()
    t_start = time.time()
    load_at_start = machine.load_average()
    phases: dict[str, float] = {}

    # Data (outside every timer).
    if args.data:
        data_dir = os.path.abspath(args.data)
        if not os.path.isdir(data_dir):
            print(f"error: --data {args.data!r} is not a directory", file=sys.stderr)
            return 2
    else:
        print(f"preparing {num_images} photo-like JPEGs under {args.data_root}/ ...", file=sys.stderr)
        data_dir = data.ensure_photo_dataset(args.data_root, num_images, args.num_classes, args.seed)
    dataset = data.describe_dataset(data_dir)
    if dataset["num_images"] == 0:
        print(f"error: no images under {data_dir}", file=sys.stderr)
        return 2
    rss_cases = [] if args.no_rss else [
        c for c in (("tfdirpipe_default",) if args.quick else ("tfdirpipe_default", "tfdirpipe_fast"))
        if c in pipeline_cases
    ]
    rss_dirs: list[tuple[int, str]] = []
    if rss_cases:
        doubled = data.ensure_doubled(data_dir, args.data_root)
        rss_dirs = [(dataset["num_images"], data_dir), (2 * dataset["num_images"], doubled)]
        data.warm_page_cache(doubled)
    data.warm_page_cache(data_dir)

    phases["data_s"] = round(time.time() - t_start, 1)
    e2e_repeats = max(2, min(3, repeats))
    n_p, n_e, n_s = len(pipeline_cases), len(e2e_cases), len(args.sizes)
    total = n_p + n_s * n_p * (repeats + 2) + len(rss_cases) * 2
    if e2e_cases:
        total += n_e + n_s * n_e * (e2e_repeats + 1)
    progress = runner.Progress(total, enabled=not args.no_progress)
    common = dict(batch_size=args.batch_size, seed=args.seed, timeout=args.timeout,
                  log_dir=log_dir, progress=progress)
    try:
        records, hello = ([], {})
        t = time.time()
        if pipeline_cases:
            records, hello = runner.run_pipeline_phase(
                pipeline_cases, args.sizes, data_dir, repeats=repeats,
                warmup_batches=args.warmup_batches, **common)
        phases["pipeline_s"] = round(time.time() - t, 1)
        t = time.time()
        rss = []
        if rss_cases:
            size = max(args.sizes)
            live = [c for c in rss_cases
                    if any(r["case"] == c and r.get("status") == "ok" for r in records)]
            rss = runner.run_rss_phase(live, size, rss_dirs, warmup_batches=args.warmup_batches, **common)
            progress.step(n=2 * (len(rss_cases) - len(live)))
            for c in rss_cases:
                if c not in live:
                    rss.append({"case": c, "size": size, "num_images": [], "peak_rss_mb": [],
                                "errors": ["case unavailable in the pipeline phase"]})
        phases["rss_s"] = round(time.time() - t, 1)
        t = time.time()
        e2e = []
        e2e_steps = None
        if e2e_cases:
            need = math.ceil(dataset["num_images"] / args.batch_size)
            e2e_steps = min(args.e2e_steps, max(need - 4, 2))
            e2e = runner.run_e2e_phase(e2e_cases, args.sizes, data_dir, repeats=e2e_repeats,
                                       steps=e2e_steps, **common)
        phases["e2e_s"] = round(time.time() - t, 1)
        t = time.time()
        quality = [] if args.no_quality else _quality(data_dir, args.sizes, args.quick, args.timeout)
        phases["quality_s"] = round(time.time() - t, 1)
    finally:
        progress.close()

    report.summarize(records, "images_per_s")
    report.summarize(e2e, "steps_per_s")
    checks = report.compute_checks(records, rss)
    payload = {
        "meta": machine.collect_metadata(hello, load_at_start),
        "config": {
            "argv": sys.argv[1:] if argv is None else list(argv),
            "quick": args.quick, "sizes": args.sizes, "batch_size": args.batch_size,
            "repeats": repeats, "warmup_batches": args.warmup_batches, "seed": args.seed,
            "pipeline_cases": pipeline_cases, "e2e_cases": e2e_cases, "rss_cases": rss_cases,
            "e2e_repeats": e2e_repeats if e2e_cases else None,
            "e2e_steps": e2e_steps if e2e_cases else None,
            "baseline": report.BASELINE,
            "rss_flat_rule": {"abs_mb": report.RSS_FLAT_ABS_MB, "rel": report.RSS_FLAT_REL},
        },
        "dataset": dataset,
        "cases": {name: {"description": c.description, "kind": c.kind} for name, c in _cases.CASES.items()
                  if name in pipeline_cases or name in e2e_cases},
        "pipeline": records,
        "e2e": e2e,
        "rss_flat": rss,
        "quality": quality,
        "checks": checks,
        "phases": phases,
        "wall_s": round(time.time() - t_start, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    report.write_json(out / "results.json", payload)
    md = report.markdown_report(payload)
    (out / "results.md").write_text(md)
    try:
        report.write_chart(out / "results.png", payload)
    except Exception as e:  # noqa: BLE001 - the numbers matter more than the picture
        print(f"warning: chart not written: {type(e).__name__}: {e}", file=sys.stderr)
    print(md)
    print(f"\nwrote {out / 'results.json'}, {out / 'results.md'}, {out / 'results.png'} "
          f"(logs in {log_dir}/) in {payload['wall_s']:.0f}s", file=sys.stderr)
    failed = [c for c in checks if c["result"] == "FAIL"]
    return 1 if args.strict and failed else 0
