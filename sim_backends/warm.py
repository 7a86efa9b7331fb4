"""Compile the simulated bench's kernels ahead of need, in a process of their own.

The counterpart of :mod:`qnic.coincidence.warm` for the bench: ``qnic chsh``
on a simulated station starts ``python -m qnic.sim.warm`` when the bench's
kernels are not cached yet (docs/architecture.md); it generates a few
milliseconds of the embedded default station's tags, which compiles the
pulse stream, detection and tagger kernels into the user's cache.
"""

from __future__ import annotations

from qnic.instruments import kernel_cache
from qnic.instruments.kernel_cache import Warmup
from qnic.sim.physics import prng, pulse_stream, pulses, sampling

MODULES = (prng, pulse_stream, pulses, sampling)
"""The modules whose kernels the warm-up compiles (their sources key the marker)."""


def warm() -> None:
    """Generate a little of the default bench's stream (compiling its kernels)."""
    import importlib.resources

    import yaml

    from qnic.sim.bench import Bench
    from qnic.sim.bench_instrument import NAME_KEY, params_from_init
    from qnic.sim.registry import registered
    from qnic.sim.tagger import SimulatedTimeTagger

    # the embedded default station's bench (its file read as data: the
    # station loader belongs to a higher layer)
    text = (importlib.resources.files("qnic") / "stations" / "default.yaml").read_text()
    init = dict(yaml.safe_load(text)["instruments"]["sim"]["init"])
    bench = Bench(params_from_init({NAME_KEY: "qnic_warm_bench",
                                    **{k: v for k, v in init.items() if k != "bench"}}))
    with registered(bench):
        tagger = SimulatedTimeTagger("qnic_warm_tagger", bench=bench.name)
        try:
            for _ in tagger.stream(0.004, 0.002):
                pass
        finally:
            tagger.close()
    kernel_cache.mark_warm(MODULES)


def start_warmup() -> Warmup | None:
    """Start compiling the bench's kernels in a child process, unless cached."""
    return kernel_cache.start_warmup("qnic.sim.warm", MODULES)


if __name__ == "__main__":
    warm()
