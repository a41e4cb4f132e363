"""tfdirpipe's benchmark suite: ``python -m benchmarks [--quick]``.

Modules:

* `benchmarks.cases`  -- the registry of cases (Keras legacy, Keras
  `image_dataset_from_directory`, raw decode ceiling, a hand-written tf.data
  reference, tfdirpipe default / fast / cached, end-to-end `model.fit`).
* `benchmarks.worker` -- one process per case; the timing loop.
* `benchmarks.runner` -- starts workers, interleaves repeats, RSS and e2e phases.
* `benchmarks.report` -- medians, target checks, JSON / markdown / PNG.
* `benchmarks.data`, `benchmarks.machine` -- datasets and machine metadata.

Outputs go to ``--out`` (default ``bench_out/``): ``results.json``,
``results.md``, ``results.png`` and ``logs/`` (one stderr log per worker).
"""
