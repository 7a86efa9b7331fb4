"""The paper's ECMP conjecture on small two-player games (issue #6 item 5).

Conjecture (paper): in equal-cost multipath routing, entanglement does not
reduce collisions when only M of N switches send.

Model ("activity" family, as in the issue): two switches are the players.
Each is idle (question 0) or active (question 1), the pair (x, y) drawn from
an activity distribution; each picks one of K paths (answer in range(K)).
They lose only when both are active and pick the same path; an idle switch
sends nothing and cannot collide. The distributions include "exactly M of N
switches send, uniformly", seen from two tagged switches among the N.

What the numbers must show, and why: "always use different paths" (Alice 0,
Bob 1) never collides, so for K >= 2 the classical value is 1 and nothing
can beat it. More is true for any N, M, K and any activity distribution:
an idle switch's answer is irrelevant, so each switch effectively has one
question (active) and measures one fixed measurement; one measurement per
party has a joint outcome distribution q(a_1, ..., a_N) (the measurements
act on separate systems and commute), so any entangled strategy wins with
sum_S P(S) Pr_q[no collision in S], a mixture of deterministic path
assignments: quantum value = classical value. This proves the conjecture in
this model; the computation below checks it (NPA level 1 = classical value).

A contrast ("pairwise" family): the usual two-player reduction of an
N-switch network plays two of the switches by the two players: the referee
names switch i to Alice and j to Bob (both active); with probability
``same_prob`` i = j, a consistency test (a = b required), otherwise i != j
(a != b required). This is the K-colouring game of the complete graph K_N.
For N > K it is not trivial, and for N = 3, K = 2 it is the 3-cycle XOR
game, with a quantum advantage. That advantage belongs to the test, not to
the network: the N switches would each measure one fixed measurement, which
the argument above shows is classical. It is reported to show which
reductions can and cannot speak to the conjecture.

prepare: the games (pure); run: classical value (exact enumeration),
see-saw lower bounds at local dimensions 2, 3, 4 and the certified NPA level-1
upper bound for each; analyze/save: the table as JSON and as text.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qnic.games import NonlocalGame

DEFAULT_PATHS: tuple[int, ...] = (2, 3, 4)
DEFAULT_DIMS: tuple[int, ...] = (2, 3, 4)
DEFAULT_PAIRWISE: tuple[tuple[int, int], ...] = ((3, 2), (4, 2), (4, 3), (5, 4))
ADVANTAGE_THRESHOLD = 1e-6
JSON_NAME = "ecmp_conjecture.json"
ARGUMENT = ("For any N switches, M senders and K paths, in the activity-only model quantum = "
            "classical: a switch's answer matters only when it is active, so each switch measures "
            "one fixed measurement; measurements of separate systems have a joint outcome "
            "distribution q(a_1..a_N), and any entangled strategy wins with "
            "sum_S P(S) Pr_q[no collision in S], a mixture of deterministic path assignments.")


@dataclass(frozen=True)
class ActivityModel:
    """Who sends: the distribution of (x, y), x, y in {0 idle, 1 active}.

    Attributes:
        name: short label, e.g. "2 of 3".
        description: one line for readers.
        prob: prob[x][y], float64 array of shape (2, 2) summing to 1.
    """

    name: str
    description: str
    prob: NDArray[np.float64] = field(repr=False)


def tagged_pair_activity(n_switches: int, m_active: int) -> ActivityModel:
    """Exactly M of N switches send (a uniformly random M-subset); the two players are two of them.

    P(both active) = M(M-1) / (N(N-1)), P(only one given one) = M(N-M) / (N(N-1)),
    P(neither) = (N-M)(N-M-1) / (N(N-1)).

    Raises:
        ValueError: unless 2 <= N and 0 <= M <= N.
    """
    if n_switches < 2 or not 0 <= m_active <= n_switches:
        raise ValueError(f"need N >= 2 and 0 <= M <= N, got N={n_switches}, M={m_active}")
    n, m = n_switches, m_active
    pairs = n * (n - 1)
    prob = np.array([[(n - m) * (n - m - 1), m * (n - m)],
                     [m * (n - m), m * (m - 1)]], dtype=np.float64) / pairs
    return ActivityModel(f"{m} of {n}", f"exactly {m} of {n} switches send; two of them play",
                         prob)


def independent_activity(p_active: float) -> ActivityModel:
    """Each switch sends independently with probability p.

    Raises:
        ValueError: unless 0 <= p <= 1.
    """
    if not 0.0 <= p_active <= 1.0:
        raise ValueError(f"p_active must be within [0, 1], got {p_active}")
    marginal = np.array([1.0 - p_active, p_active])
    return ActivityModel(f"indep p={p_active:g}",
                         f"each switch sends independently with probability {p_active:g}",
                         np.outer(marginal, marginal))


def default_activities() -> tuple[ActivityModel, ...]:
    """The activity distributions of the study."""
    return (tagged_pair_activity(2, 1), tagged_pair_activity(2, 2), independent_activity(0.5),
            tagged_pair_activity(3, 2), tagged_pair_activity(4, 2), tagged_pair_activity(4, 3))


def ecmp_game(k_paths: int, activity: ActivityModel) -> NonlocalGame:
    """Two switches, K paths: lose only when both are active and pick the same path.

    Raises:
        ValueError: if k_paths < 1.
    """
    if k_paths < 1:
        raise ValueError(f"k_paths must be >= 1, got {k_paths}")
    return NonlocalGame(activity.prob, lambda x, y, a, b: not (x == 1 and y == 1 and a == b),
                        outputs=k_paths)


def pairwise_test_game(n_switches: int, k_paths: int, same_prob: float = 0.5) -> NonlocalGame:
    """The two-player reduction of N switches: the K-colouring game of K_N with consistency tests.

    Alice is named switch i, Bob switch j; with probability ``same_prob`` i = j
    (uniform), which they win by answering alike; otherwise (i, j) is a
    uniform ordered pair of distinct switches, won by different paths.

    Raises:
        ValueError: if n_switches < 2, k_paths < 1 or same_prob is not in [0, 1].
    """
    if n_switches < 2 or k_paths < 1 or not 0.0 <= same_prob <= 1.0:
        raise ValueError(f"need N >= 2, K >= 1 and same_prob in [0, 1], got "
                         f"N={n_switches}, K={k_paths}, same_prob={same_prob}")
    n = n_switches
    prob = np.full((n, n), (1.0 - same_prob) / (n * (n - 1)))
    np.fill_diagonal(prob, same_prob / n)
    return NonlocalGame(prob, lambda i, j, a, b: (a == b) == (i == j), outputs=k_paths)


@dataclass(frozen=True)
class EcmpCase:
    """Bounds on one game's values.

    Attributes:
        family: "activity" (the ECMP model) or "pairwise" (the reduction).
        label: the activity model's name, or "N=3" for the pairwise family.
        k_paths: number of paths K (answers per player).
        classical: exact classical value.
        seesaw: see-saw lower bound on the quantum value per local dimension.
        npa1: certified NPA level-1 upper bound on the quantum value.
        npa1_gap: that bound minus the primal value the solver reached.
    """

    family: str
    label: str
    k_paths: int
    classical: float
    seesaw: dict[int, float]
    npa1: float
    npa1_gap: float

    @property
    def advantage_possible(self) -> bool:
        """NPA1 - classical > 1e-6: entanglement not excluded (False: provably no help)."""
        return self.npa1 - self.classical > ADVANTAGE_THRESHOLD

    @property
    def advantage_found(self) -> bool:
        """Best see-saw value - classical > 1e-6: an explicit entangled strategy does better."""
        return max(self.seesaw.values()) - self.classical > ADVANTAGE_THRESHOLD

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"family": self.family, "label": self.label, "k_paths": self.k_paths,
                "classical": self.classical,
                "seesaw": {str(d): v for d, v in self.seesaw.items()},
                "npa1_upper_bound": self.npa1, "npa1_gap": self.npa1_gap,
                "advantage_possible": self.advantage_possible,
                "advantage_found": self.advantage_found}


def solve_case(game: NonlocalGame, family: str, label: str, k_paths: int,
               dims: Sequence[int], restarts: int, seed: int) -> EcmpCase:
    """Classical value, see-saw at each dimension and NPA level 1 for one game."""
    npa = game.npa1_upper_bound()
    seesaw = {int(d): game.seesaw(dim=int(d), restarts=restarts, seed=seed).value for d in dims}
    return EcmpCase(family, label, k_paths, game.classical_value().value, seesaw,
                    npa.upper_bound, npa.gap)


@dataclass(frozen=True)
class EcmpStudy:
    """All cases of the study and how they were computed."""

    cases: tuple[EcmpCase, ...]
    dims: tuple[int, ...]
    restarts: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the finding stated."""
        return {"threshold": ADVANTAGE_THRESHOLD, "dims": list(self.dims),
                "restarts": self.restarts, "seed": self.seed,
                "finding": finding(self), "argument": ARGUMENT,
                "cases": [c.to_dict() for c in self.cases]}


def run_study(paths: Sequence[int] = DEFAULT_PATHS, dims: Sequence[int] = DEFAULT_DIMS,
              activities: Sequence[ActivityModel] | None = None,
              pairwise: Sequence[tuple[int, int]] = DEFAULT_PAIRWISE,
              restarts: int = 10, seed: int = 0) -> EcmpStudy:
    """Solve every (activity model, K) game and every pairwise (N, K) game.

    Args:
        paths: numbers of paths K of the activity family.
        dims: local dimensions of the see-saw.
        activities: activity models (default ``default_activities()``).
        pairwise: (N, K) of the pairwise-test family (may be empty).
        restarts: see-saw restarts per game and dimension.
        seed: see-saw seed (the same for every game).
    """
    models = default_activities() if activities is None else tuple(activities)
    cases = [solve_case(ecmp_game(k, model), "activity", model.name, k, dims, restarts, seed)
             for model, k in product(models, paths)]
    cases += [solve_case(pairwise_test_game(n, k), "pairwise", f"N={n}", k, dims, restarts, seed)
              for n, k in pairwise]
    return EcmpStudy(tuple(cases), tuple(int(d) for d in dims), restarts, seed)


def finding(study: EcmpStudy) -> str:
    """The conclusion in one paragraph, from the numbers."""
    activity = [c for c in study.cases if c.family == "activity"]
    pairwise = [c for c in study.cases if c.family == "pairwise"]
    parts = []
    if activity:
        excluded = sum(not c.advantage_possible for c in activity)
        perfect = sum(c.classical >= 1.0 - 1e-12 for c in activity)
        parts.append(f"ECMP activity model: NPA level 1 equals the classical value in {excluded} "
                     f"of {len(activity)} cases (entanglement provably does not help there); "
                     f"the classical value is 1 in {perfect} of them (dedicated paths never collide).")
    if pairwise:
        found = [f"{c.label} K={c.k_paths}" for c in pairwise if c.advantage_found]
        open_ = [f"{c.label} K={c.k_paths}" for c in pairwise
                 if c.advantage_possible and not c.advantage_found]
        parts.append("Pairwise-test reduction (not the network): quantum beats classical in "
                     f"{', '.join(found) or 'no case'}; undecided (NPA1 above classical, "
                     f"no see-saw gain) in {', '.join(open_) or 'no case'}.")
    return " ".join(parts)


def summary_text(study: EcmpStudy) -> str:
    """A readable table of every case and the finding."""
    dims = "".join(f"{'seesaw d=' + str(d):>13}" for d in study.dims)
    title = (f"ECMP conjecture: classical (exact), see-saw (lower), NPA1 (certified upper); "
             f"{study.restarts} restarts, seed {study.seed}")
    head = (f"{'family':<9}{'case':<14}{'K':>2}{'classical':>12}{dims}{'NPA1':>12}"
            f"{'NPA1-cl':>11}  verdict")
    lines = [title, head]
    for c in study.cases:
        if not c.advantage_possible:
            verdict = "no advantage (proved)"
        elif c.advantage_found:
            verdict = "quantum advantage"
        else:
            verdict = "undecided"
        values = "".join(f"{c.seesaw[d]:13.6f}" for d in study.dims)
        lines.append(f"{c.family:<9}{c.label:<14}{c.k_paths:>2}{c.classical:12.6f}{values}"
                     f"{c.npa1:12.6f}{c.npa1 - c.classical:11.2e}  {verdict}")
    lines += [finding(study), ARGUMENT]
    return "\n".join(lines)


def save_study(study: EcmpStudy, out_dir: Path) -> Path:
    """Write ``ecmp_conjecture.json`` into out_dir (created if needed) and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / JSON_NAME
    path.write_text(json.dumps(study.to_dict(), indent=1) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Run the default study, print the table and write the JSON (``python -m``; argv: [out_dir])."""
    args = list(argv) if argv is not None else sys.argv[1:]
    study = run_study()
    print(summary_text(study))
    print(f"wrote {save_study(study, Path(args[0] if args else '.'))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
