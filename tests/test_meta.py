"""Every driver builds without device traffic, and every parameter carries a
unit, a validator and a docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from qcodes.instrument import Instrument, InstrumentBase
from qcodes.parameters import Parameter
from scripted_port import ScriptedPort

import qnic.instruments as instruments

# parameters QCoDeS adds to every instrument itself
_QCODES_OWN = {"IDN"}


def driver_classes() -> list[type[Instrument]]:
    found = []
    for mod in pkgutil.walk_packages(instruments.__path__, "qnic.instruments."):
        module = importlib.import_module(mod.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Instrument) and cls.__module__ == module.__name__:
                found.append(cls)
    return found


def all_parameters(inst: InstrumentBase) -> list[Parameter]:
    params = [p for name, p in inst.parameters.items() if name not in _QCODES_OWN]
    for sub in inst.submodules.values():
        if isinstance(sub, InstrumentBase):
            params += all_parameters(sub)
    return params


def test_there_are_drivers() -> None:
    assert any(cls.__name__ == "ELL14" for cls in driver_classes())


@pytest.mark.parametrize("cls", driver_classes(), ids=lambda c: c.__name__)
def test_driver_builds_without_traffic_and_documents_its_parameters(cls: type[Instrument]) -> None:
    port = ScriptedPort([])  # any write fails the test
    inst = cls("meta_probe", "scripted", port=port)
    try:
        assert port.written == []
        for p in all_parameters(inst):
            assert p.unit is not None, f"{p.full_name} has no unit"
            assert p.vals is not None, f"{p.full_name} has no validator"
            assert p.__doc__ and p.label, f"{p.full_name} has no docstring or label"
    finally:
        inst.close()
    assert port.written == []
