"""Motion of a simulated rotator: a trapezoidal velocity profile in virtual time.

The analysed basis follows the waveplate while it moves, so the bench asks a
:class:`RotatorMotion` for the angle at every photon's emission time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class _Segment:
    t0_s: float
    t1_s: float
    start_deg: float
    end_deg: float
    v_max_dps: float
    accel_dps2: float

    def angle_at(self, t_s: np.ndarray) -> np.ndarray:
        """Angle (degrees, not wrapped) at times within [t0, t1]."""
        dist = abs(self.end_deg - self.start_deg)
        sign = 1.0 if self.end_deg >= self.start_deg else -1.0
        tau = np.clip(t_s - self.t0_s, 0.0, self.t1_s - self.t0_s)
        a, v = self.accel_dps2, self.v_max_dps
        t_acc = v / a
        if dist < v * t_acc:  # triangular profile: never reaches v_max
            t_acc = math.sqrt(dist / a)
            v = a * t_acc
        t_total = self.t1_s - self.t0_s
        t_dec = t_total - t_acc
        d_acc = 0.5 * a * t_acc**2
        s = np.where(
            tau < t_acc,
            0.5 * a * tau**2,
            np.where(
                tau < t_dec,
                d_acc + v * (tau - t_acc),
                dist - 0.5 * a * np.maximum(t_total - tau, 0.0) ** 2,
            ),
        )
        return self.start_deg + sign * s


class RotatorMotion:
    """Angle of one simulated motor as a function of virtual time.

    Args:
        angle_deg: the angle at power-up (degrees).
        v_max_dps: top speed in degrees per second (float, > 0).
        accel_dps2: acceleration in degrees per second squared (float, > 0).
    """

    def __init__(self, angle_deg: float = 0.0, v_max_dps: float = 430.0,
                 accel_dps2: float = 4000.0) -> None:
        if v_max_dps <= 0 or accel_dps2 <= 0:
            raise ValueError("velocity and acceleration must be positive")
        self.v_max_dps = v_max_dps
        self.accel_dps2 = accel_dps2
        self._rest_deg = float(angle_deg)
        self._rest_since_s = -math.inf
        self._segment: _Segment | None = None

    def duration_s(self, distance_deg: float, v_max_dps: float | None = None) -> float:
        """Time a move of ``distance_deg`` takes at the given top speed."""
        dist = abs(distance_deg)
        v = self.v_max_dps if v_max_dps is None else v_max_dps
        a = self.accel_dps2
        if dist == 0:
            return 0.0
        if dist < v * v / a:
            return 2.0 * math.sqrt(dist / a)
        return dist / v + v / a

    def move(self, now_s: float, target_deg: float, v_max_dps: float | None = None) -> float:
        """Start a move from the angle at ``now_s`` to ``target_deg`` (degrees,
        unwrapped). Return the time the move ends."""
        start = float(self.angle_at(np.array([now_s]))[0])
        v = self.v_max_dps if v_max_dps is None else v_max_dps
        t1 = now_s + self.duration_s(target_deg - start, v)
        self._segment = _Segment(now_s, t1, start, float(target_deg), v, self.accel_dps2)
        self._rest_deg = float(target_deg)
        self._rest_since_s = t1
        return t1

    def stop(self, now_s: float) -> None:
        """Stop at once where the motor is at ``now_s`` (an idealised stop)."""
        here = float(self.angle_at(np.array([now_s]))[0])
        self._segment = None
        self._rest_deg = here
        self._rest_since_s = now_s

    def set_angle(self, angle_deg: float, now_s: float) -> None:
        """Teleport (used for power-up state and for homing resets)."""
        self._segment = None
        self._rest_deg = float(angle_deg)
        self._rest_since_s = now_s

    def is_moving(self, now_s: float) -> bool:
        return self._segment is not None and now_s < self._segment.t1_s

    def is_static_over(self, t0_s: float, t1_s: float) -> bool:
        """True when the angle does not change within [t0, t1] (times are
        compared to 1 ps, the resolution bench time is kept in)."""
        seg = self._segment
        return seg is None or seg.t1_s <= t0_s + 1e-12 or seg.t0_s >= t1_s - 1e-12

    def angle_at(self, t_s: np.ndarray) -> np.ndarray:
        """Angle in degrees (unwrapped) at each time of ``t_s`` (float64 seconds)."""
        t_s = np.asarray(t_s, dtype=np.float64)
        seg = self._segment
        if seg is None:
            return np.full(t_s.shape, self._rest_deg)
        out = seg.angle_at(t_s)
        out = np.where(t_s >= seg.t1_s, seg.end_deg, out)
        # before the segment started the motor stood at its start angle
        return np.where(t_s <= seg.t0_s, seg.start_deg, out)
