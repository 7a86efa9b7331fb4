"""What balancer nodes share without talking (docs/network.md): a seed, and the hash of a key.

Partner nodes (2g and 2g+1 form group g) number their requests 0, 1, 2, ...
each on its own; the i-th request of each is round i of group g's game. The
round's pair of backends (u, v) comes from shared randomness: a hash of
(seed, group, round) that both nodes compute alone. A quantum round also uses
pair (g, i) of the distributed entangled pairs. Nothing here sends a message.
"""

from __future__ import annotations

import bisect
import math

_MASK = (1 << 64) - 1


def mix64(x: int) -> int:
    """SplitMix64's finalizer (Steele, Lea and Flood 2014): a 64-bit integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def server_pair(seed: int, group: int, round_index: int, backends: int) -> tuple[int, int]:
    """The round's two distinct backends (u, v), from shared randomness.

    Args:
        seed: the study's shared seed.
        group: the partner group (nodes 2g and 2g+1).
        round_index: the round (each node's own request count).
        backends: M >= 2.
    """
    return pair_from_base(group_base(seed, group), round_index, backends)


def group_base(seed: int, group: int) -> int:
    """The hash of (seed, group) that every round of the group starts from."""
    return mix64(mix64(seed) ^ group)


def pair_from_base(base: int, round_index: int, backends: int) -> tuple[int, int]:
    """:func:`server_pair` from the group's :func:`group_base` (one hash per round).

    The round's hash is CPython's hash of the tuple (base, round): computed in C,
    it costs a third of :func:`mix64` in Python on the decision path. For
    integers it is not salted, and it is the same in every 64-bit CPython since
    3.8 (xxHash's rounds over the items' hashes), so partner nodes agree.
    """
    h = hash((base, round_index)) & _MASK
    u = h % backends
    v = (u + 1 + (h >> 32) % (backends - 1)) % backends
    return u, v


class HashRing:
    """Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018).

    Each backend sits at ``replicas`` points of a 64-bit ring; a key goes to
    the first backend clockwise from its hash whose load is below
    ``ceil(c * (total + 1) / M)``. The loads are the node's own view (requests
    it sent and has not seen answered): balancers do not exchange loads.
    """

    def __init__(self, backends: int, replicas: int = 64, balance: float = 1.25) -> None:
        if backends < 1:
            raise ValueError(f"a ring needs at least one backend, got {backends}")
        if balance < 1.0:
            raise ValueError(f"the load bound factor c must be >= 1, got {balance}")
        points = sorted((mix64((b << 20) | r), b) for b in range(backends) for r in range(replicas))
        self._hashes = [p[0] for p in points]
        self._owners = [p[1] for p in points]
        self.backends = backends
        self.balance = balance

    def lookup(self, key: int, loads: list[int], alive: list[bool] | None = None,
               total: int | None = None) -> int:
        """The backend for ``key`` given the current loads (and which backends are up).

        Args:
            key: the request's key.
            loads: each backend's load.
            alive: which backends are up (all when None).
            total: ``sum(loads)``, when the caller keeps it.
        """
        total = sum(loads) if total is None else total
        bound = math.ceil(self.balance * (total + 1) / self.backends)
        hashes, owners = self._hashes, self._owners
        n = len(hashes)
        start = bisect.bisect_left(hashes, mix64(key))
        fallback = -1
        for step in range(n):
            b = owners[(start + step) % n]
            if alive is not None and not alive[b]:
                continue
            if loads[b] < bound:
                return b
            if fallback < 0:
                fallback = b
        return fallback
