"""The paper's timing model: QNIC memories that store distributed pairs until a request arrives.

The paper's deployment distributes entangled pairs in advance; each load
balancer keeps its qubit in a memory and measures it, in the basis its
request type selects, the moment the request arrives, so no pair has to be
heralded while a request waits. A stored qubit decoheres: the pair's
visibility falls as ``exp(-t / T2)`` with the storage time t (the paper cites
coherence times of 16 to 160 microseconds for room-temperature memories), so
the CHSH value falls as ``S(t) = S0 exp(-t / T2)`` and the load-balancing win
probability as ``1/2 + S(t) / 8``.

Model (:class:`QuantumMemory`): each side's memory depolarizes its qubit
independently: after storing it for t, the qubit is intact with probability
``q = exp(-t / (2 T2))`` and fully mixed otherwise. Depolarizing commutes
with the measurement, so a stored pair measured at t gives the outcome bits
of the fresh pair measured in the same bases, each side's bit replaced by a
fair coin of its own memory with probability 1 - q. Every correlator
E(x, y) is multiplied by q^2 = exp(-t / T2), whatever the marginals; each
side's noise is local, so each side still decides from its own bit alone.
On the simulated bench the fresh outcomes are the bench's heralded pairs;
:func:`decohered_table` gives the same statistics in closed form for the
queueing study.

Storage policies (pairs are stored for at most ``max_storage_s``):

- FIXED: every pair waits exactly ``max_storage_s`` (the worst case; the
  analytic curve of the paper).
- REFRESH: the memory is refreshed with a new pair every ``max_storage_s``
  and requests arrive at uniformly random times, so a pair's age is uniform
  on [0, T): mean visibility factor ``(T2 / T)(1 - exp(-T / T2))``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.balancing.analysis import binomial_sigma
from qnic.balancing.decisions import PairStrategy, quantum_chsh
from qnic.balancing.game import lb_wins
from qnic.balancing.sources import OutcomeTable

US = 1e-6
"""Seconds per microsecond (the CLI speaks microseconds, the API seconds)."""


class StoragePolicy(str, Enum):
    """How long a stored pair waits for its request."""

    FIXED = "fixed"
    """Every pair waits exactly the maximum storage time."""
    REFRESH = "refresh"
    """A fresh pair every maximum storage time; requests at random times (age uniform)."""


def _check_time(name: str, value: float, allow_inf: bool = False) -> float:
    v = float(value)
    if math.isnan(v) or v < 0 or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be a {'non-negative' if allow_inf else 'finite, non-negative'}"
                         f" number of seconds, got {value!r}")
    return v


def visibility_factor(storage_s: ArrayLike, coherence_s: float) -> NDArray[np.float64]:
    """Factor ``exp(-t / T2)`` by which a pair's visibility (and S) falls after storage t.

    Args:
        storage_s: storage times in s (>= 0), any shape.
        coherence_s: the pair's coherence time T2 in s (> 0; inf: no decoherence).
    """
    t = np.asarray(storage_s, dtype=np.float64)
    if np.any(~(t >= 0)) or not coherence_s > 0:
        raise ValueError("storage times must be >= 0 and the coherence time > 0")
    return np.exp(-t / coherence_s)


def predicted_win(s0: float, storage_s: ArrayLike, coherence_s: float) -> NDArray[np.float64]:
    """The analytic curve ``1/2 + S0 exp(-t / T2) / 8`` (uniform questions), shape of storage_s."""
    return 0.5 + s0 * visibility_factor(storage_s, coherence_s) / 8.0


@dataclass(frozen=True)
class QuantumMemory:
    """Both balancers' memories: storage limit, coherence time and storage policy.

    Attributes:
        max_storage_s: longest a pair is kept, T (s, >= 0).
        coherence_s: the stored pair's coherence time T2 (s, > 0; inf: none).
        policy: how long pairs wait (FIXED: exactly T; REFRESH: uniform on [0, T)).
    """

    max_storage_s: float
    coherence_s: float
    policy: StoragePolicy = StoragePolicy.FIXED

    def __post_init__(self) -> None:
        _check_time("max_storage_s", self.max_storage_s)
        _check_time("coherence_s", self.coherence_s, allow_inf=True)
        if not self.coherence_s > 0:
            raise ValueError(f"coherence_s must be > 0, got {self.coherence_s!r}")
        object.__setattr__(self, "policy", StoragePolicy(self.policy))

    def storage_times(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """How long each of n pairs waited for its requests, float64 (n,) in s."""
        if self.policy is StoragePolicy.FIXED:
            return np.full(n, self.max_storage_s)
        return rng.random(n) * self.max_storage_s

    def mean_visibility_factor(self) -> float:
        """Mean of ``exp(-t / T2)`` over the policy's storage times."""
        t, t2 = self.max_storage_s, self.coherence_s
        if self.policy is StoragePolicy.FIXED or t == 0:
            return math.exp(-t / t2)
        return -math.expm1(-t / t2) * t2 / t

    def measure(self, a: NDArray[np.integer[Any]], b: NDArray[np.integer[Any]],
                storage_s: NDArray[np.floating[Any]], rng_a: np.random.Generator,
                rng_b: np.random.Generator) -> tuple[NDArray[np.int8], NDArray[np.int8]]:
        """Outcome bits of stored pairs measured after their storage times.

        Args:
            a: A's outcome bits of the fresh pairs in the requested bases, int (n,).
            b: B's outcome bits, int (n,).
            storage_s: each pair's storage time in s, float (n,).
            rng_a: A's memory noise (local to A).
            rng_b: B's memory noise (local to B).

        Returns:
            (a, b) after decoherence, int8 (n,) each.
        """
        return (_depolarize(a, storage_s, self.coherence_s, rng_a),
                _depolarize(b, storage_s, self.coherence_s, rng_b))

    def describe(self) -> str:
        """E.g. "pairs stored 50 us (fixed), T2 = 100 us"."""
        t2 = "inf" if math.isinf(self.coherence_s) else f"{self.coherence_s / US:g} us"
        return (f"pairs stored {'up to ' if self.policy is StoragePolicy.REFRESH else ''}"
                f"{self.max_storage_s / US:g} us ({self.policy.value}), T2 = {t2}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (microseconds)."""
        return {"max_storage_us": self.max_storage_s / US,
                "coherence_us": None if math.isinf(self.coherence_s) else self.coherence_s / US,
                "policy": self.policy.value, "mean_visibility_factor": self.mean_visibility_factor(),
                "model": "each memory depolarizes its qubit: intact with probability "
                         "exp(-t/(2 T2)), so the pair's visibility falls as exp(-t/T2)"}


def _depolarize(bits: NDArray[np.integer[Any]], storage_s: NDArray[np.floating[Any]],
                coherence_s: float, rng: np.random.Generator) -> NDArray[np.int8]:
    """One side's bits after its memory: each kept with probability exp(-t / (2 T2))."""
    out = np.asarray(bits, dtype=np.int8).copy()
    keep = np.exp(-np.asarray(storage_s, dtype=np.float64) / (2.0 * coherence_s))
    u = rng.random(out.size)
    coin = rng.integers(0, 2, out.size, dtype=np.int8)
    mixed = u >= keep
    out[mixed] = coin[mixed]
    return out


def decohered_table(table: OutcomeTable, storage_s: float, coherence_s: float) -> OutcomeTable:
    """Joint outcome statistics of stored pairs after storage t (closed form).

    ``P_t(a, b) = q^2 P(a, b) + q (1 - q) (P_A(a) + P_B(b)) / 2 + (1 - q)^2 / 4`` with
    ``q = exp(-t / (2 T2))``; every correlator scales by q^2 = exp(-t / T2). Feeds
    ``quantum-measured`` of the queueing study (``StrategyOptions(measured=...)``).

    Args:
        table: statistics of fresh pairs, shape (m, n, 2, 2).
        storage_s: storage time t in s (>= 0).
        coherence_s: the pair's coherence time T2 in s (> 0).
    """
    q = float(np.sqrt(visibility_factor(storage_s, coherence_s)))
    p = table.prob
    p_a = p.sum(axis=3)[:, :, :, None]  # [x, y, a, 1]
    p_b = p.sum(axis=2)[:, :, None, :]  # [x, y, 1, b]
    out = q * q * p + q * (1 - q) * (p_a + p_b) / 2.0 + (1 - q) ** 2 / 4.0
    return OutcomeTable(out, f"{table.label} stored {storage_s / US:g} us (T2 {coherence_s / US:g} us)")


@dataclass(frozen=True)
class StorageSweep:
    """Win rate of the CHSH load-balancing game against storage time.

    Attributes:
        storage_s: storage times t in s, float64 (K,).
        coherence_s: T2 in s.
        rounds: rounds per storage time.
        win_rate: measured fraction of rounds won, float64 (K,).
        sigma: binomial standard deviation of each rate at the predicted
            probability, sqrt(p (1 - p) / rounds), float64 (K,).
        predicted: analytic ``1/2 + S0 exp(-t / T2) / 8`` for the rounds'
            question mix, float64 (K,).
        s0: the CHSH value of the fresh pairs the curve uses.
    """

    storage_s: NDArray[np.float64]
    coherence_s: float
    rounds: int
    win_rate: NDArray[np.float64]
    sigma: NDArray[np.float64]
    predicted: NDArray[np.float64]
    s0: float

    def within(self, sigmas: float = 4.0) -> bool:
        """Every point lies within ``sigmas`` binomial standard deviations of the curve."""
        return bool(np.all(np.abs(self.win_rate - self.predicted) <= sigmas * self.sigma))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (microseconds)."""
        return {"storage_us": (self.storage_s / US).tolist(), "coherence_us": self.coherence_s / US,
                "rounds": self.rounds, "win_rate": self.win_rate.tolist(),
                "sigma": self.sigma.tolist(), "predicted": self.predicted.tolist(), "S0": self.s0,
                "curve": "1/2 + S0 exp(-t/T2)/8 for the rounds' question mix; sigma binomial"}


def mix_win_probability(x: NDArray[np.integer[Any]], y: NDArray[np.integer[Any]],
                        correlations: NDArray[np.float64]) -> float:
    """Win probability of CHSH load balancing for the rounds' questions.

    A round at (x, y) is won with probability (1 + E(x, y)) / 2, except at
    (1, 1) (both type C) where it is (1 - E(1, 1)) / 2; for uniform questions
    the mean is 1/2 + S/8.

    Args:
        x, y: the rounds' questions, int (P,).
        correlations: E(x, y) of the outcome bits, shape (2, 2).
    """
    xs, ys = np.asarray(x, dtype=np.intp), np.asarray(y, dtype=np.intp)
    sign = np.where((xs == 1) & (ys == 1), -1.0, 1.0)
    return float(np.mean((1.0 + sign * correlations[xs, ys]) / 2.0))


def storage_sweep(x: NDArray[np.integer[Any]], y: NDArray[np.integer[Any]],
                  a: NDArray[np.integer[Any]], b: NDArray[np.integer[Any]],
                  storage_s: Sequence[float], coherence_s: float,
                  correlations: NDArray[np.float64], seed: int = 0,
                  strategy: PairStrategy | None = None) -> StorageSweep:
    """Win rate against storage time on given fresh pairs (bench or table).

    Each storage time decoheres the same fresh outcomes with its own memory
    noise (seeded per storage time and side), then each side decides from
    its own bit.

    Args:
        x, y: the rounds' questions (1 = type C), int (P,).
        a, b: fresh outcome bits of the pair each round used, int (P,).
        storage_s: storage times in s (>= 0).
        coherence_s: T2 in s (> 0).
        correlations: E(x, y) of the fresh pairs (for the analytic curve), (2, 2).
        seed: seeds the memories' noise.
        strategy: the pair strategy (default: CHSH, B's bit flipped).
    """
    strategy = strategy or quantum_chsh()
    times = np.array([_check_time("storage time", t) for t in storage_s], dtype=np.float64)
    e = np.asarray(correlations, dtype=np.float64)
    s0 = float(e[0, 0] + e[0, 1] + e[1, 0] - e[1, 1])
    rates, preds = [], []
    for k, t in enumerate(times):
        memory = QuantumMemory(float(t), coherence_s)
        stored = np.full(len(x), t)
        sa, sb = memory.measure(a, b, stored, np.random.default_rng([seed, k, 0]),
                                np.random.default_rng([seed, k, 1]))
        out_a = strategy.rule_a.output(np.asarray(x), sa)
        out_b = strategy.rule_b.output(np.asarray(y), sb)
        rates.append(float(np.mean(lb_wins(x, y, out_a == out_b))))
        preds.append(mix_win_probability(x, y, e * float(visibility_factor(t, coherence_s))))
    pred = np.array(preds)
    sigma = np.array([binomial_sigma(p, len(x)) for p in pred])
    return StorageSweep(times, float(coherence_s), len(x), np.array(rates), sigma, pred, s0)


def storage_sweep_table(table: OutcomeTable, storage_s: Sequence[float], coherence_s: float,
                        rounds: int, seed: int = 0) -> StorageSweep:
    """:func:`storage_sweep` on pairs drawn from a table, uniform questions (seeded).

    Args:
        table: fresh pairs' statistics, shape (2, 2, 2, 2).
        storage_s: storage times in s.
        coherence_s: T2 in s.
        rounds: rounds per storage time (>= 1).
        seed: seeds questions, outcomes and memory noise.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    rng = np.random.default_rng([seed, 7])
    x = rng.integers(0, 2, rounds, dtype=np.int8)
    y = rng.integers(0, 2, rounds, dtype=np.int8)
    a, b = table.sample(x, y, rng.random(rounds))
    return storage_sweep(x, y, a, b, storage_s, coherence_s, table.correlations(), seed)


def sweep_prediction(s0: float, storage_s: Sequence[float], coherence_s: float) -> dict[str, list[float]]:
    """The analytic curve alone: {"storage_us", "win_rate"} for uniform questions."""
    t = np.asarray(storage_s, dtype=np.float64)
    return {"storage_us": (t / US).tolist(), "win_rate": predicted_win(s0, t, coherence_s).tolist()}


__all__ = ["US", "QuantumMemory", "StoragePolicy", "StorageSweep", "decohered_table",
           "mix_win_probability", "predicted_win", "storage_sweep", "storage_sweep_table",
           "sweep_prediction", "visibility_factor"]
