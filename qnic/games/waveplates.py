"""Strategies as polarization bases and waveplate angles (docs/conventions.md, docs/balancing.md).

A basis is a unit Stokes vector s = (S1, S2, S3) on the Poincare sphere: the
polarization that leaves the transmitted PBS port (outcome 0). Its observable
(-1)^outcome is s . sigma in Stokes order, which is Pauli (X, Y, Z) =
(S2, S3, S1) on the basis {H, V}. Linear polarization at phi from H has
s = (cos 2phi, sin 2phi, 0) and needs a HWP alone, at phi / 2. Elliptical
bases need a QWP then a HWP: the QWP at the ellipse's azimuth turns the light
linear, the HWP turns that onto H.

On |Phi+> = (HH + VV)/sqrt 2, <X X> = <Z Z> = 1 and <Y Y> = -1, so
E = <(s.sigma) (x) (t.sigma)> = s1 t1 + s2 t2 - s3 t3 (Stokes order); for
linear bases E = cos 2(phi_A - phi_B). A strategy with vectors spanning at
most three dimensions is written in an orthonormal frame of its span:
Alice's basis is the frame coordinates c, Bob's is (c1, c2, -c3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.games.strategy import QuantumStrategy

BELL_STATE = "phi+"
LINEAR_TOL = 1e-9  # |S3| below this is a linear basis
_FRAME_TOL = 1e-7  # residual below this adds no direction to the frame
_SELF_CHECK_TOL = 1e-9
_PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=np.complex128)


def _wrap(angle_deg: float, period_deg: float) -> float:
    """The angle reduced into (-period/2, period/2]."""
    a = angle_deg % period_deg
    return float(a - period_deg if a > period_deg / 2 else a)


def waveplate_jones(theta_deg: float, retardance_rad: float) -> NDArray[np.complex128]:
    """Jones matrix R(theta) diag(1, e^{i delta}) R(-theta) of a plate, shape (2, 2)."""
    t = math.radians(theta_deg)
    c, s, e = math.cos(t), math.sin(t), np.exp(1j * retardance_rad)
    return np.array([[c * c + e * s * s, (1 - e) * c * s],
                     [(1 - e) * c * s, s * s + e * c * c]], dtype=np.complex128)


def analysed_stokes(hwp_deg: float, qwp_deg: float | None = None) -> NDArray[np.float64]:
    """Stokes vector of outcome 0 for ideal plates (QWP first, then HWP, then PBS), shape (3,)."""
    u = waveplate_jones(hwp_deg, math.pi)
    if qwp_deg is not None:
        u = u @ waveplate_jones(qwp_deg, math.pi / 2)
    psi = u.conj().T @ np.array([1.0, 0.0])  # the input state sent to the H port
    x, y, z = (float(np.real(psi.conj() @ p @ psi)) for p in _PAULI)
    return np.array([z, x, y])


def phi_plus_correlation(s: ArrayLike, t: ArrayLike) -> float:
    """E = <(-1)^(a xor b)> on |Phi+> for Alice's basis s and Bob's t (Stokes 3-vectors)."""
    sa, tb = np.asarray(s, dtype=np.float64), np.asarray(t, dtype=np.float64)
    return float(sa[0] * tb[0] + sa[1] * tb[1] - sa[2] * tb[2])


@dataclass(frozen=True)
class WaveplateBasis:
    """Waveplate settings analysing one basis (angles of fast axes from H, degrees).

    Attributes:
        stokes: unit Stokes vector (S1, S2, S3) of outcome 0.
        needs_qwp: False when the basis is linear and a HWP alone realises it.
        hwp_deg: HWP angle, in (-45, 45]; for a linear basis it is phi / 2
            with or without the QWP.
        qwp_deg: QWP angle in (-90, 90] for an arm with a QWP before the HWP;
            for a linear basis it equals phi (the QWP then changes nothing).
        phi_deg: polarizer-equivalent angle in (-90, 90] of a linear basis, else None.
    """

    stokes: tuple[float, float, float]
    needs_qwp: bool
    hwp_deg: float
    qwp_deg: float
    phi_deg: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["stokes"] = list(self.stokes)
        return out


def waveplate_basis(stokes: ArrayLike) -> WaveplateBasis:
    """Plate angles that analyse the basis with Stokes vector ``stokes`` (shape (3,)).

    Raises:
        ValueError: if the vector is not a unit 3-vector.
    """
    s = np.asarray(stokes, dtype=np.float64)
    if s.shape != (3,) or abs(float(np.linalg.norm(s)) - 1.0) > 1e-6:
        raise ValueError(f"a basis is a unit Stokes 3-vector, got {s}")
    s = s / np.linalg.norm(s)
    s = np.where(np.abs(s) < 1e-15, 0.0, s) + 0.0  # rounding dust and -0.0 out of the report
    azimuth = math.degrees(math.atan2(s[1], s[0])) / 2.0
    if abs(s[2]) < LINEAR_TOL:
        phi = _wrap(azimuth, 180.0)
        return WaveplateBasis(tuple(map(float, s)), False, _wrap(phi / 2, 90.0), phi, phi)  # type: ignore[arg-type]
    # the outcome-0 Jones vector; after a QWP along the ellipse's major axis it is linear
    theta, varphi = math.acos(max(-1.0, min(1.0, s[0]))), math.atan2(s[2], s[1])
    psi = np.array([math.cos(theta / 2), np.exp(1j * varphi) * math.sin(theta / 2)])
    out = waveplate_jones(azimuth, math.pi / 2) @ psi
    out = out * np.exp(-1j * np.angle(out[int(np.argmax(np.abs(out)))]))
    hwp = _wrap(math.degrees(math.atan2(out[1].real, out[0].real)) / 2.0, 90.0)
    qwp = _wrap(azimuth, 180.0)
    if np.max(np.abs(analysed_stokes(hwp, qwp) - s)) > _SELF_CHECK_TOL:
        raise RuntimeError(f"waveplate solution for Stokes {s} failed its check")
    return WaveplateBasis(tuple(map(float, s)), True, hwp, qwp, None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class BenchBases:
    """How (and whether) one Bell pair with waveplates realises a strategy.

    Attributes:
        realizable: True when the strategy's vectors span at most 3 dimensions.
        dimension: d, the dimension the strategy's vectors span.
        bell_pairs_needed: floor(d/2) (0: deterministic, no entanglement).
        bell_state: the state the settings assume, "phi+" = (HH + VV)/sqrt 2.
        alice: Alice's bases by question x (empty when not realizable).
        bob: Bob's bases by question y (empty when not realizable).
        note: a sentence for people.
    """

    realizable: bool
    dimension: int
    bell_pairs_needed: int
    bell_state: str
    alice: tuple[WaveplateBasis, ...]
    bob: tuple[WaveplateBasis, ...]
    note: str

    def predicted_correlations(self) -> NDArray[np.float64]:
        """E[x, y] on |Phi+> for the listed bases, shape (m, n)."""
        return np.array([[phi_plus_correlation(a.stokes, b.stokes) for b in self.bob]
                         for a in self.alice])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (keys "A" and "B" hold the bases)."""
        return {"realizable": self.realizable, "dimension": self.dimension,
                "bell_pairs_needed": self.bell_pairs_needed, "bell_state": self.bell_state,
                "A": [b.to_dict() for b in self.alice], "B": [b.to_dict() for b in self.bob],
                "note": self.note}


def _frame(vectors: Sequence[NDArray[np.float64]], dim: int) -> NDArray[np.float64]:
    """Gram-Schmidt over the vectors in order: orthonormal rows spanning them, shape (k, dim)."""
    rows: list[NDArray[np.float64]] = []
    for vec in vectors:
        r = vec - sum(((row @ vec) * row for row in rows), np.zeros(dim))
        norm = float(np.linalg.norm(r))
        if norm > _FRAME_TOL:
            rows.append(r / norm)
        if len(rows) == dim:
            break
    return np.array(rows).reshape(len(rows), dim)


def bench_bases(strategy: QuantumStrategy) -> BenchBases:
    """Waveplate settings for each question, assuming |Phi+>, when d <= 3.

    The frame starts at Alice's first vector (her question 0 is analysed in
    H/V) and her next independent vector lies in the S1-S2 plane, so
    strategies spanning two dimensions use linear bases only.
    """
    d, pairs = strategy.dimension, strategy.bell_pairs_needed
    if d > 3:
        note = (f"the optimal strategy found spans {d} dimensions: it needs {pairs} Bell pairs "
                f"(local dimension {2 ** pairs}); one polarization pair with waveplates realises "
                "at most 3")
        return BenchBases(False, d, pairs, BELL_STATE, (), (), note)
    u, v = strategy.alice_vectors, strategy.bob_vectors
    frame = _frame(list(u) + list(v), d)
    cu = np.zeros((u.shape[0], 3))
    cv = np.zeros((v.shape[0], 3))
    cu[:, : frame.shape[0]] = u @ frame.T
    cv[:, : frame.shape[0]] = v @ frame.T
    cv[:, 2] *= -1.0  # Bob's Y flips sign on |Phi+>
    alice = tuple(waveplate_basis(c / np.linalg.norm(c)) for c in cu)
    bob = tuple(waveplate_basis(c / np.linalg.norm(c)) for c in cv)
    kind = "linear bases (HWP only)" if not any(b.needs_qwp for b in alice + bob) \
        else "elliptical bases (QWP then HWP)"
    note = (f"one Bell pair in |Phi+> = (HH + VV)/sqrt 2 realises the strategy with {kind}"
            if pairs else "a deterministic strategy: no entanglement needed")
    return BenchBases(True, d, pairs, BELL_STATE, alice, bob, note)
