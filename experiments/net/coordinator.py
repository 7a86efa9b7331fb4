"""The coordinator of the networked system (docs/network.md): the strategy that talks.

Balancer nodes that run the ``coordinator`` strategy ask it before each
decision (``ASK g i side q``, q = 0 for type E, 1 + key for type C) and are
told the backend (``SRV g i b``). It sees both partners' requests of round i
of group g, so it wins every game: the first to ask gets the round's backend
u; the second gets u too when both requests are type C of one subtype, else
v. Every decision pays the node-coordinator round
trip, which is what the study weighs against the win.
"""

from __future__ import annotations

from typing import Any

from qnic.experiments.net.shared import server_pair
from qnic.experiments.net.wire import Address, Delay, Link, Server


class Coordinator(Server):
    """The coordinator process."""

    role = "coordinator"

    def __init__(self, listen: Address, backends: int, delay: Delay = Delay(),
                 seed: int = 0) -> None:
        super().__init__(listen, delay, seed)
        if backends < 2:
            raise ValueError(f"the coordinator needs at least 2 backends, got {backends}")
        self.backends = backends
        self.shared_seed = 0
        self._first: dict[tuple[int, int], tuple[int, int]] = {}
        self.asked = 0

    def on_line(self, words: list[str], link: Link) -> None:
        if words[0] != "ASK":
            return
        group, rnd, _side, q = (int(w) for w in words[1:5])
        self.asked += 1
        u, v = server_pair(self.shared_seed, group, rnd, self.backends)
        first = self._first.pop((group, rnd), None)
        if first is None:
            self._first[(group, rnd)] = (q, u)
            backend = u
        else:  # together exactly when both are type C of one subtype
            first_q, first_backend = first
            backend = first_backend if q and q == first_q else (v if first_backend == u else u)
        link.send(f"SRV {group} {rnd} {backend}")

    def on_control(self, message: dict[str, Any]) -> Any:
        op = message.get("op")
        if op == "configure":
            self.shared_seed = int(message.get("seed", 0))
            self._first.clear()
            self.asked = 0
            return {"ok": True}
        if op == "stats":
            return {"ok": True, "asked": self.asked, "open_rounds": len(self._first)}
        return super().on_control(message)
