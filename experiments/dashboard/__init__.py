"""The browser dashboard (docs/dashboard.md; ``qnic dashboard``).

One process holds the bench and the state; every browser that connects is
pushed the same state over a websocket. The modules, bottom to top:

- :mod:`~qnic.experiments.dashboard.board`: the server-side state, versioned
  and serialized once per change, with listeners for the push;
- :mod:`~qnic.experiments.dashboard.tap`: a ``TimeTagger`` in front of the
  station's tagger that shows every batch to the dashboard, paces a
  simulated bench to wall time and stops a run at the next batch;
- :mod:`~qnic.experiments.dashboard.live`: singles, coincidences and the
  cross-correlation histogram from the tapped batches;
- :mod:`~qnic.experiments.dashboard.jobs`: the CHSH run and the demo,
  publishing as they go;
- :mod:`~qnic.experiments.dashboard.worker`: the one thread that opens,
  uses and closes the station;
- :mod:`~qnic.experiments.dashboard.app` and
  :mod:`~qnic.experiments.dashboard.server`: the Starlette application and
  uvicorn on a socket of the command's choosing.

Nothing here is imported by ``qnic --help``: the command imports it when it
runs, so the web libraries load only then.
"""
