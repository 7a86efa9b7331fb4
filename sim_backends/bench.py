"""The simulated bench: source, two analyser arms, detectors (docs/physics.md).

A :class:`Bench` owns the virtual clock, the random generator and the motors
the rotator emulators turn. :meth:`Bench.detect` returns the detector pulses
(emission + detector jitter + cable delay) of an interval of bench time;
the simulated tagger adds its own jitter, delays, resolution and overflow.

Pairs are a Poisson process; thinning a Poisson process by independent
per-pair outcomes gives independent Poisson processes per outcome class, so
while both waveplates stand still only the pairs that produce a click are
drawn (cost proportional to clicks, not pairs). While a waveplate moves,
every pair is drawn with the angle at its own emission time.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from qnic.instruments.clock import VirtualClock
from qnic.sim.motion import RotatorMotion
from qnic.sim.params import ArmParams, BenchParams, DetectorParams
from qnic.sim.physics.optics import analyser_povm, joint_probabilities
from qnic.sim.physics.prng import seed_state
from qnic.sim.physics.pulse_stream import (
    NEVER_PS,
    DetectorTable,
    PulseState,
    PulseStream,
    detector_rates_hz,
)
from qnic.sim.physics.sampling import (
    exponential_knots,
    normal_knots,
    random_words,
    sample_classes,
    sorted_uniform,
)
from qnic.sim.physics.state import bell_family

PS = 1e12
# the jitter tables reach the 2^-33 quantile: 6.2 sigma; 6.5 bounds every draw
_JITTER_TAIL_SIGMAS = 6.5


class Bench:
    """One simulated SPDC bench.

    Args:
        params: the physics (see :mod:`qnic.sim.params`).
        clock: the virtual clock shared with every emulator of this bench.
    """

    def __init__(self, params: BenchParams, clock: VirtualClock | None = None) -> None:
        self.params = params
        self.name = params.name
        self.clock = clock if clock is not None else VirtualClock()
        self.rng = np.random.default_rng(params.seed)
        self.source_enabled = True
        self._rho = params.rho
        self._pump_deg = 45.0
        self._motors = {
            name: RotatorMotion(0.0, arm.rotator_speed_dps, arm.rotator_accel_dps2)
            for name, arm in params.arms.items()
        }
        self._qwp_motors = {
            name: RotatorMotion(0.0, arm.rotator_speed_dps, arm.rotator_accel_dps2)
            for name, arm in params.arms.items()
        }
        dets = self._detectors()
        self._channel_of = np.array([d.channel for d in dets], dtype=np.int32)
        self._gen_until_ps = NEVER_PS
        self._table, self._reach_ps = self._timing()
        self._pulses = PulseStream(self._table, PulseState(seed_state(self.rng)),
                                   normal_knots(), exponential_knots())
        # detector hooks (see set_detector_state), per detector index
        self._gate_open = np.ones(len(dets), dtype=np.bool_)
        self._efficiency_factor = np.ones(len(dets))
        self._dark_hz = np.array([d.dark_count_hz for d in dets])
        self._background_hz = np.array([d.background_hz for d in dets])
        self._noise = self._dark_hz + self._background_hz
        self._rates_key: tuple[float, ...] | None = None
        self._rates = np.zeros(12)

    # -- the source ---------------------------------------------------------
    @property
    def rho(self) -> np.ndarray:
        """The pairs' polarization state now (complex (4, 4))."""
        return self._rho

    def set_pump_polarization(self, pump_deg: float) -> None:
        """Turn the source's pump polarization (degrees; 45 = the Bell state,
        0 = the first ket alone, e.g. |HH>: a polarization reference)."""
        family = self.params.family
        if family is None:
            raise ValueError(f"bench {self.name!r}: the state is an explicit density matrix; "
                             "the pump polarization cannot change it")
        self._rho = bell_family(*family, pump_deg=pump_deg)
        self._pump_deg = float(pump_deg)
        self._rates_key = None

    def set_pair_rate(self, pair_rate_hz: float) -> None:
        """Set the source's pair rate (Hz, >= 0): the pump power turned up or
        down. Takes effect for pairs not yet generated."""
        rate = float(pair_rate_hz)
        if not (rate >= 0.0 and np.isfinite(rate)):
            raise ValueError(f"bench {self.name!r}: pair rate must be finite and >= 0 Hz, got {pair_rate_hz!r}")
        self.params = replace(self.params, pair_rate_hz=rate)
        self._rates_key = None

    # -- what emulators turn ---------------------------------------------
    def motor(self, arm: str) -> RotatorMotion:
        """The motor holding arm ``arm``'s half-wave plate."""
        try:
            return self._motors[arm]
        except KeyError:
            raise KeyError(f"bench {self.name!r} has no arm {arm!r} (arms: A, B)") from None

    def qwp_motor(self, arm: str) -> RotatorMotion:
        """The motor holding arm ``arm``'s quarter-wave plate (if enabled)."""
        return self._qwp_motors[arm]

    @property
    def channels(self) -> tuple[int, ...]:
        return self.params.channels

    # -- detector hooks: gate lines, SNSPD bias, stray light ---------------
    def _detector_index(self, channel: int) -> int:
        where = np.flatnonzero(self._channel_of == channel)
        if where.size == 0:
            raise KeyError(f"bench {self.name!r} has no detector on channel {channel} "
                           f"(channels: {sorted(self.channels)})")
        return int(where[0])

    def set_detector_state(self, channel: int, *, enabled: bool | None = None,
                           efficiency_factor: float | None = None,
                           dark_count_hz: float | None = None,
                           background_hz: float | None = None) -> None:
        """Change one detector from now on (the hook of gate-line and
        detector-controller emulators); arguments left None are kept.

        A disabled detector (gate low, latched or unbiased nanowire) emits no
        pulse at all, not even an afterpulse. ``efficiency_factor``
        multiplies the detector's ``efficiency`` (an SNSPD's bias
        dependence) and also the clicks of stray light, ``background_hz``
        (Hz at factor 1: "bright light" in tests); ``dark_count_hz``
        replaces the detector's intrinsic dark-count rate.

        Args:
            channel: the detector's tagger channel.
            enabled: False gates the detector off, True on.
            efficiency_factor: float >= 0, with efficiency * factor <= 1.
            dark_count_hz: intrinsic dark counts (Hz, >= 0).
            background_hz: stray-light clicks at factor 1 (Hz, >= 0).

        Raises:
            KeyError: no detector on ``channel``.
            ValueError: a value out of range.
        """
        i = self._detector_index(channel)
        if efficiency_factor is not None:
            eff = self._detectors()[i].efficiency
            if not (efficiency_factor >= 0 and eff * efficiency_factor <= 1.0):
                raise ValueError(f"channel {channel}: efficiency factor must be >= 0 and keep "
                                 f"efficiency {eff} * factor <= 1, got {efficiency_factor}")
            self._efficiency_factor[i] = efficiency_factor
        for name, value, store in (("dark_count_hz", dark_count_hz, self._dark_hz),
                                   ("background_hz", background_hz, self._background_hz)):
            if value is not None:
                if not value >= 0:
                    raise ValueError(f"channel {channel}: {name} must be >= 0, got {value}")
                store[i] = value
        if enabled is not None:
            self._gate_open[i] = bool(enabled)
        self._noise = (self._dark_hz + self._background_hz * self._efficiency_factor) * self._gate_open
        self._rates_key = None

    def detector_enabled(self, channel: int) -> bool:
        """Whether the detector on ``channel`` is gated on."""
        return bool(self._gate_open[self._detector_index(channel)])

    def light_rates_hz(self) -> dict[int, float]:
        """Each detector's mean rate of photon clicks now (Hz): pair photons
        plus stray light, at its nominal efficiency, gate open, before dead
        time (what a detector-controller emulator scales by its own model)."""
        rate = self.params.pair_rate_hz if self.source_enabled else 0.0
        p = self.outcome_probabilities(np.array([self.clock.now()]))[0].reshape(2, 2)
        eff = np.array([d.efficiency for d in self._detectors()])
        arms = self.params.arms
        trans = np.array([arms["A"].transmission] * 2 + [arms["B"].transmission] * 2)
        photon = rate * np.concatenate([p.sum(axis=1), p.sum(axis=0)]) * trans * eff
        return {int(c): float(r) for c, r in zip(self._channel_of, photon + self._background_hz)}

    def expected_rates_hz(self) -> dict[int, float]:
        """Each detector's mean click rate now (Hz), before dead time,
        afterpulsing and saturation: photon clicks times the efficiency
        factor, plus dark counts; zero while gated off."""
        light = np.array(list(self.light_rates_hz().values()))
        total = (light * self._efficiency_factor + self._dark_hz) * self._gate_open
        return {int(c): float(r) for c, r in zip(self._channel_of, total)}

    # -- physics -----------------------------------------------------------
    def _zero_deg(self, arm: ArmParams, t_s: np.ndarray | float) -> np.ndarray | float:
        """The arm's waveplate zero at bench time t (it drifts if asked)."""
        return arm.waveplate_zero_deg + self.params.drift_zero_deg_per_hour[arm.name] * t_s / 3600.0

    def _rho_at(self, t_s: float) -> np.ndarray:
        """The pairs' state at bench time t: its phase drifts if asked (the
        drift is slow, so one state serves a whole generation block)."""
        rate = self.params.drift_phase_deg_per_hour
        family = self.params.family
        if rate == 0.0 or family is None:
            return self._rho
        v, c, bell, phase = family
        return bell_family(v, c, bell, phase + rate * t_s / 3600.0, pump_deg=self._pump_deg)

    def _drift_key(self, t_s: float) -> tuple[float, ...]:
        p = self.params
        if p.drift_phase_deg_per_hour == 0.0 and not any(p.drift_zero_deg_per_hour.values()):
            return ()
        return (round(t_s, 3),)  # rates follow the drift, recomputed per generation call

    def _povm(self, arm: ArmParams, t_s: np.ndarray) -> np.ndarray:
        hwp = self._motors[arm.name].angle_at(t_s) - self._zero_deg(arm, t_s)
        qwp = None
        if arm.qwp_enabled:
            qwp = self._qwp_motors[arm.name].angle_at(t_s) - arm.qwp_zero_deg
        return analyser_povm(hwp, arm.extinction_ratio, arm.hwp_retardance_error_deg,
                             qwp, arm.qwp_retardance_error_deg)

    def outcome_probabilities(self, t_s: np.ndarray) -> np.ndarray:
        """P(a, b) for a pair emitted at each time (float64 (N, 4), column 2a+b)."""
        a, b = self.params.arms["A"], self.params.arms["B"]
        t_s = np.atleast_1d(t_s)
        t_mid = float(t_s[t_s.size // 2]) if t_s.size else 0.0
        return joint_probabilities(self._rho_at(t_mid), self._povm(a, t_s), self._povm(b, t_s))

    def predicted_coincidence_rates(self, motor_deg_a: float, motor_deg_b: float,
                                    window_ps: float) -> np.ndarray:
        """Expected coincidence rates (Hz), shape (2, 2) [a, b], with the HWP
        motors at the given angles (degrees): true pairs (pair rate x P(a, b)
        x both arms' transmission and efficiency) plus accidentals of the
        singles, R_a R_b 2 window (docs/conventions.md, docs/physics.md). Dead time is neglected."""
        t = np.array([self.clock.now()])
        povm = []
        for name, motor in (("A", motor_deg_a), ("B", motor_deg_b)):
            arm = self.params.arms[name]
            qwp = (self._qwp_motors[name].angle_at(t) - arm.qwp_zero_deg) if arm.qwp_enabled else None
            povm.append(analyser_povm(np.array([motor - self._zero_deg(arm, float(t[0]))]), arm.extinction_ratio,
                                      arm.hwp_retardance_error_deg, qwp, arm.qwp_retardance_error_deg))
        p = joint_probabilities(self._rho_at(float(t[0])), povm[0], povm[1])[0].reshape(2, 2)
        rate = self.params.pair_rate_hz if self.source_enabled else 0.0
        eff = {n: a.transmission * np.array([d.efficiency for d in a.detectors])
               for n, a in self.params.arms.items()}
        noise = {n: np.array([d.dark_count_hz + d.background_hz for d in a.detectors])
                 for n, a in self.params.arms.items()}
        true = rate * p * eff["A"][:, None] * eff["B"][None, :]
        singles_a = rate * p.sum(axis=1) * eff["A"] + noise["A"]
        singles_b = rate * p.sum(axis=0) * eff["B"] + noise["B"]
        return true + np.outer(singles_a, singles_b) * 2 * window_ps * 1e-12

    def _class_probabilities(self, p_ab: np.ndarray) -> np.ndarray:
        """Per-pair probabilities of the 9 click classes: both (a, b) x4,
        A only (a) x2, B only (b) x2, none. Shape (N, 9)."""
        a, b = self.params.arms["A"], self.params.arms["B"]
        gain = self._efficiency_factor * self._gate_open
        d_a = a.transmission * np.array([d.efficiency for d in a.detectors]) * gain[:2]
        d_b = b.transmission * np.array([d.efficiency for d in b.detectors]) * gain[2:]
        p = p_ab.reshape(-1, 2, 2)
        both = p * d_a[None, :, None] * d_b[None, None, :]
        a_only = (p * d_a[None, :, None] * (1 - d_b)[None, None, :]).sum(axis=2)
        b_only = (p * (1 - d_a)[None, :, None] * d_b[None, None, :]).sum(axis=1)
        clicks = np.concatenate([both.reshape(-1, 4), a_only, b_only], axis=1)
        return np.concatenate([clicks, 1.0 - clicks.sum(axis=1, keepdims=True)], axis=1)

    def _detectors(self) -> list[DetectorParams]:
        """Detectors in index order: A outcome 0, A 1, B 0, B 1."""
        return [d for name in ("A", "B") for d in self.params.arms[name].detectors]

    def _noise_hz(self) -> np.ndarray:
        return self._noise

    def _static_rates(self, t_s: float, pair_rate_hz: float) -> np.ndarray:
        """Rates (Hz) of the 12 click classes while every plate stands still
        (recomputed only when a plate angle or the source changed)."""
        key = tuple(float(m.angle_at(np.array([t_s]))[0])
                    for m in (*self._motors.values(), *self._qwp_motors.values())) + (pair_rate_hz,) \
            + self._drift_key(t_s)
        if key != self._rates_key:
            probs = self._class_probabilities(self.outcome_probabilities(np.array([t_s])))[0]
            self._rates = np.concatenate([pair_rate_hz * probs[:8], self._noise_hz()])
            self._rates_key = key
        return self._rates

    def _moving_events(self, t0_ps: int, t1_ps: int) -> tuple[np.ndarray, np.ndarray]:
        """Click events in [t0, t1) while a plate moves: every pair sees the
        angle at its own emission time. Sorted int64 times and int8 classes
        (see ``pulse_stream.CHAN_A``)."""
        span = t1_ps - t0_ps
        rng = self.rng
        times = self._pair_times(t0_ps, t1_ps)
        n = times.size
        if self._static_over(t0_ps, t1_ps):  # one set of angles for every pair
            probs = self._class_probabilities(self.outcome_probabilities(np.array([t0_ps / PS])))
        else:
            probs = self._class_probabilities(self.outcome_probabilities(times / PS))
        cls = (np.cumsum(probs, axis=1) < rng.random(n)[:, None]).sum(axis=1)
        keep = cls < 8
        noise = self._noise_hz()
        n_noise = int(rng.poisson(noise.sum() * span / PS))
        t_noise = sorted_uniform(rng, n_noise, t0_ps, span)
        c_noise = 8 + sample_classes(random_words(rng, n_noise), np.cumsum(noise / noise.sum())) \
            if n_noise else np.empty(0, np.int8)
        times = np.concatenate([times[keep], t_noise])
        cls = np.concatenate([cls[keep].astype(np.int8), c_noise])
        order = np.argsort(times, kind="stable")
        return times[order], cls[order]

    def _pair_times(self, t0_ps: int, t1_ps: int) -> np.ndarray:
        """Emission times (sorted int64 ps) of the pairs of [t0, t1).

        Poisson statistics: a Poisson process of the pair rate R. Thermal
        (one mode of coherence time tau): bench time is cut into modes of
        length tau on a fixed grid; each holds a Bose-Einstein number of
        pairs of mean mu = R tau (P(n) = mu^n / (1 + mu)^(n+1)), spread
        uniformly over it, so pairs bunch with g2(0) = 2 (docs/physics.md).
        The occupied modes are drawn by their geometric gaps, and each holds
        1 + BE(mu) pairs (the memoryless law)."""
        span = t1_ps - t0_ps
        rng = self.rng
        rate = self._pair_rate_hz()
        if self.params.pair_statistics != "thermal":
            return sorted_uniform(rng, int(rng.poisson(rate * span / PS)), t0_ps, span)
        tau_ps = self.params.coherence_time_ps
        mu = rate * tau_ps / PS
        first = int(np.floor(t0_ps / tau_ps))
        n_modes = int(np.ceil(t1_ps / tau_ps)) - first
        if mu <= 0 or n_modes <= 0:
            return np.empty(0, np.int64)
        p_occupied = mu / (1.0 + mu)
        chunks, last = [], -1
        while last < n_modes:
            expect = int((n_modes - last) * p_occupied * 1.05) + 16
            idx = last + np.cumsum(rng.geometric(p_occupied, size=expect))
            chunks.append(idx)
            last = int(idx[-1])
        idx = np.concatenate(chunks)
        idx = idx[idx < n_modes]
        sizes = rng.geometric(1.0 / (1.0 + mu), size=idx.size)
        starts = (first + idx) * tau_ps
        times = (np.repeat(starts, sizes) + rng.random(int(sizes.sum())) * tau_ps).astype(np.int64)
        times.sort()
        # a mode cut by a block edge keeps only its pairs inside the block
        return times[(times >= t0_ps) & (times < t1_ps)]

    def _split_by_motion(self, t0_ps: int, t1_ps: int) -> list[tuple[int, int]]:
        """Cut [t0, t1) where a motor starts or stops, so each piece is either
        static or moving throughout."""
        cuts = {t0_ps, t1_ps}
        for m in list(self._motors.values()) + list(self._qwp_motors.values()):
            seg = m._segment
            if seg is not None:
                for t in (seg.t0_s, seg.t1_s):
                    t_ps = int(round(t * PS))
                    if t0_ps < t_ps < t1_ps:
                        cuts.add(t_ps)
        edges = sorted(cuts)
        return list(zip(edges[:-1], edges[1:]))

    # -- pulse stream ----------------------------------------------------------
    def _timing(self) -> tuple[DetectorTable, tuple[int, int]]:
        """The detectors' table (jitter RMS: detector and tagger as one
        Gaussian, since the dead time is decided on this time too and a
        tagger jitter of a few ps is negligible beside a dead time of ns),
        and the look-ahead / look-back (ps) that cover every pulse's
        displacement by jitter and cable delay."""
        dets = self._detectors()
        sigma = np.array([np.hypot(d.jitter_ps, self.params.tagger.jitter_ps) for d in dets])
        delay = np.array([d.delay_ps for d in dets], dtype=np.int64)
        p = np.array([d.afterpulse_probability for d in dets])
        table = DetectorTable(
            sigma_ps=sigma, delay_ps=delay,
            dead_ps=np.array([int(round(d.dead_time_ns * 1e3)) for d in dets], dtype=np.int64),
            saturation_hz=np.array([d.saturation_hz for d in dets]),
            ap_log1mp=np.log1p(-p),
            ap_mean_ps=np.array([d.afterpulse_delay_ns * 1e3 for d in dets]),
            channel=self._channel_of)
        spread = int(np.ceil(_JITTER_TAIL_SIGMAS * sigma.max())) + 1
        return table, (max(0, -int(delay.min())) + spread, max(0, int(delay.max())) + spread)

    def detect_stream(self, t0_s: float, t1_s: float, *, copy: bool = True
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Every detector pulse in [t0, t1) of bench time, in time order.

        A pulse's time is emission + timing jitter + its detector's cable
        delay, after dead time, afterpulsing, dark counts, background and
        saturation. Successive calls continue one stream: events are
        generated a little beyond ``t1`` (the largest jitter-and-delay
        displacement) and what lands later is carried to the next call.

        Args:
            t0_s, t1_s: the interval (s of bench time).
            copy: False lets the arrays be views of the bench's scratch
                buffer, overwritten by the next call (for a consumer that
                copies them at once anyway, such as the simulated tagger).

        Returns:
            (int64 ps times, int32 channel numbers), sorted by time.
        """
        t0_ps, t1_ps = int(round(t0_s * PS)), int(round(t1_s * PS))
        if t1_ps < t0_ps:
            raise ValueError(f"interval ends before it starts ({t0_s} s to {t1_s} s)")
        ahead, behind = self._reach_ps
        if self._gen_until_ps < t0_ps - behind:  # nobody listened in between
            self._gen_until_ps = t0_ps - behind
        stream = self._pulses
        end_ps = t1_ps + ahead
        # (with nothing new to generate, t1 is at or before the last call's
        # end, and every pending pulse lies at or after it)
        pieces = self._split_by_motion(self._gen_until_ps, end_ps) if end_ps > self._gen_until_ps else []
        step = self._block_ps()
        for a, b in pieces:
            if self._static_over(a, b) and self.params.pair_statistics == "poisson":
                rates = self._static_rates(a / PS, self._pair_rate_hz())
                stream.static(a, b, step, ahead, t1_ps, rates, self._live(rates))
            else:  # a plate moves (or pairs bunch): every pair drawn, angle at its emission
                for x in range(a, b, step):
                    y = min(x + step, b)
                    rates = self._static_rates((x + y) / 2 / PS, self._pair_rate_hz())
                    stream.given(*self._moving_events(x, y), x, y, ahead, t1_ps, self._live(rates))
            self._gen_until_ps = b
        t, ch = stream.finish(copy)
        start = np.searchsorted(t, t0_ps, side="left")
        return t[start:], ch[start:]

    def _live(self, class_rates_hz: np.ndarray) -> np.ndarray:
        """Which detectors register (bool per detector index): gated on, and
        not saturated. A module whose raw rate (its expected rate of photon,
        dark and stray-light clicks) exceeds its maximum count rate latches
        and registers nothing while the light stays."""
        raw_hz = detector_rates_hz(class_rates_hz)
        return self._gate_open & (raw_hz <= self._table.saturation_hz)

    def _pair_rate_hz(self) -> float:
        return self.params.pair_rate_hz if self.source_enabled else 0.0

    def _click_rate_hz(self) -> float:
        """An upper estimate of the pulses per second (both photons of every
        pair click, plus noise)."""
        return 2.0 * self.params.pair_rate_hz + float(self._noise_hz().sum())

    def _block_ps(self) -> int:
        """Blocks of about ``_BLOCK_EVENTS`` clicks: cache-sized working
        arrays (and, while a plate moves, the steps of its angle at which
        saturation is judged)."""
        return max(int(self._BLOCK_EVENTS / max(self._click_rate_hz(), 1.0) * PS), 1)

    def _static_over(self, a_ps: int, b_ps: int) -> bool:
        motors = list(self._motors.values()) + list(self._qwp_motors.values())
        return self._pair_rate_hz() == 0.0 or all(m.is_static_over(a_ps / PS, b_ps / PS) for m in motors)

    def detect(self, t0_s: float, t1_s: float) -> dict[int, np.ndarray]:
        """Pulses of [t0, t1) split by channel (see :meth:`detect_stream`).

        Returns:
            channel -> sorted int64 array of pulse times (ps).
        """
        t, ch = self.detect_stream(t0_s, t1_s)
        return {c: t[ch == c] for c in self.channels}

    _BLOCK_EVENTS = 50_000
