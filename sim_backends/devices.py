"""Device-model factories for ``sim://`` addresses.

Each model name maps to a function ``(options) -> SerialEmulator``; options
are the URL's query (strings). ``bench`` names a bench in the registry.
"""

from __future__ import annotations

from collections.abc import Callable

from qnic.sim.emulator import SerialEmulator
from qnic.sim.registry import registry

EmulatorFactory = Callable[[dict[str, str]], SerialEmulator]


def _ell14(options: dict[str, str]) -> SerialEmulator:
    from qnic.sim.elliptec_emulator import ElliptecBusEmulator

    bench = registry().get(options.get("bench", "default"))
    return ElliptecBusEmulator.from_url_options(bench, options)


def _apt(model: str) -> EmulatorFactory:
    def build(options: dict[str, str]) -> SerialEmulator:
        from qnic.sim.apt_emulator import AptEmulator

        bench = registry().get(options.get("bench", "default"))
        return AptEmulator.from_url_options(bench, options, model)
    return build


def _conex(options: dict[str, str]) -> SerialEmulator:
    from qnic.sim.conex_emulator import ConexEmulator

    bench = registry().get(options.get("bench", "default"))
    return ConexEmulator.from_url_options(bench, options)


def _visa(model: str) -> EmulatorFactory:
    def build(options: dict[str, str]) -> SerialEmulator:
        from qnic.sim.visa.laser import Itc4001Emulator
        from qnic.sim.visa.power_meter import Pm100dEmulator

        bench = registry().get(options.get("bench", "default"))
        if model == "itc4001":
            return Itc4001Emulator.from_url_options(bench, options)
        return Pm100dEmulator.from_url_options(bench, options)
    return build


FACTORIES: dict[str, EmulatorFactory] = {
    "ell14": _ell14, "k10cr1": _apt("k10cr1"), "kdc101": _apt("kdc101"), "conex": _conex,
    # SCPI instruments, opened by pyvisa-py as ASRLsim://...::INSTR (qnic.sim.visa)
    "itc4001": _visa("itc4001"), "pm100d": _visa("pm100d")}


def build_emulator(model: str, options: dict[str, str]) -> SerialEmulator:
    """Build the emulator for ``model`` (e.g. ``"ell14"``) with URL options."""
    try:
        factory = FACTORIES[model]
    except KeyError:
        raise KeyError(
            f"no emulator for device model {model!r} (known: {', '.join(sorted(FACTORIES))})"
        ) from None
    return factory(options)
