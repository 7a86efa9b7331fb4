"""VISA instruments of the simulated bench: the pump laser's controller and a power meter.

Two ways to reach them, both through the ordinary drivers
(docs/protocols.md sections 7 and 8):

- ``sim://itc4001?bench=NAME`` and ``sim://pm100d?bench=NAME``: emulators
  coupled to the bench (the pump current sets the pair rate, the meter reads
  the pump), opened by pyvisa-py as ``ASRLsim://...::INSTR`` serial
  resources through pyserial's ``sim://`` handler;
- ``thorlabs.yaml`` in this package: a static pyvisa-sim dialogue of both
  instruments (``pyvisa_sim_file="qnic.sim.visa:thorlabs.yaml"``), for trying
  the drivers without a bench; its replies never change with the physics.
"""
