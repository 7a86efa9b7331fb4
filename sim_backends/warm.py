"""Compile the simulated bench's kernels ahead of need, in a process of their own.

The counterpart of :mod:`qnic.coincidence.warm` for the bench: ``qnic chsh``
on a simulated station starts ``python -m qnic.sim.warm`` when the bench's
kernels are not cached yet (docs/architecture.md); it generates a few
milliseconds of the embedded default station's pulses and tags them as the
simulated tagger does, which compiles the pulse stream, detection and
tagger kernels into the user's cache. It needs numpy, numba, scipy and
PyYAML but not QCoDeS, so a wheel's build can run it too
(:mod:`qnic.instruments.kernel_bundle`).
"""

from __future__ import annotations

import numpy as np

from qnic.instruments import kernel_cache
from qnic.instruments.kernel_cache import Warmup
from qnic.sim.physics import prng, pulse_stream, pulses, sampling

MODULES = (prng, pulse_stream, pulses, sampling)
"""The modules whose kernels the warm-up compiles (their sources key the marker)."""


def warm() -> None:
    """Generate and tag a little of the default bench's stream, and draw
    uniform noise times (compiling the kernels)."""
    import importlib.resources

    import yaml

    from qnic.sim.bench import Bench
    from qnic.sim.params import bench_params

    # the embedded default station's bench (its file read as data: the
    # station loader belongs to a higher layer); its "bench:" key is the name
    text = (importlib.resources.files("qnic") / "stations" / "default.yaml").read_text()
    init = dict(yaml.safe_load(text)["instruments"]["sim"]["init"])
    init.pop("bench", None)
    bench = Bench(bench_params({**init, "name": "qnic_warm_bench"}))
    for t0, t1 in ((0.0, 0.002), (0.002, 0.004)):
        times, channels = bench.detect_stream(t0, t1, copy=False)
        # the simulated tagger's own pass (input delays, thresholds, resolution),
        # with the argument types of qnic.sim.tagger.SimulatedTimeTagger._tag
        size = int(channels.max()) + 1 if channels.size else 5
        pulses.tag(times, channels, np.zeros(size, np.int64), np.ones(size, bool),
                   np.empty(0, np.int64), np.empty(0, np.int32), 1)
    # uniform noise times (dark counts with the source shut, as calibration measures them)
    sampling.sorted_uniform(np.random.default_rng(0), 8, 0, 1_000_000)
    kernel_cache.mark_warm(MODULES)


def start_warmup() -> Warmup | None:
    """Start compiling the bench's kernels in a child process, unless cached."""
    return kernel_cache.start_warmup("qnic.sim.warm", MODULES)


if __name__ == "__main__":
    warm()
