"""The load-balancing decision layer (docs/balancing.md; the paper's section 4.1).

Pairs of load balancers route type-C (co-locate) and type-E (exclusive)
requests without talking: per request each balancer measures its share of a
heralded photon pair in the basis its request type selects, and its own
outcome bit picks one of the pair's two servers (CHSH: wins with
cos^2(pi/8) ~ 0.854, against 0.75 for any classical strategy; 1/2 + S/8 for a
bench of CHSH value S). Classical strategies sit behind the same interface.

Heralding: on a photonic bench most clicks have no partner; coincidence
matching tells each node which of its clicks belong to a distributed pair
(:func:`heralded_pairs`), and the decision layer consumes only matched pairs.
Quantum strategies consume heralded (coincidence-matched) pairs; a deployment
needs heralded or stored pairs. Every report of this package says so
(:data:`HERALDING_NOTE`).

Modules: ``game`` (the game, strategies as angles and flips), ``sources``
(ideal, visibility, measured statistics), ``decisions`` (one balancer's
rule, pair strategies), ``buffer`` (heralded pairs per setting),
``queueing`` (server rules, the step-block server bank), ``routing`` (the
study's strategies), ``subtypes`` (the game with K type-C subtypes),
``simulate`` (one study point, compiled end to end in ``_point_kernel``),
``analysis`` (knees, intervals).
"""

from qnic.balancing.analysis import (
    Estimate,
    Knee,
    KneeStatus,
    binomial_sigma,
    find_knee,
    mean_ci,
)
from qnic.balancing.buffer import PairBuffer, PairsExhausted, heralded_pairs
from qnic.balancing.decisions import (
    Balancer,
    HasCorrelations,
    PairStrategy,
    SideRule,
    always_separate,
    dedicated_c,
    quantum_chsh,
    xor_pair_strategy,
)
from qnic.balancing.game import (
    CLASSICAL_CHSH_WIN,
    HERALDING_NOTE,
    QUANTUM_CHSH_WIN,
    TSIRELSON_BOUND,
    RequestType,
    XorStrategy,
    chsh_strategy,
    lb_wins,
    win_probability_from_s,
)
from qnic.balancing.queueing import ServerBank, ServerRule, ServiceModel, ServiceTime
from qnic.balancing.routing import (
    DEFAULT_STRATEGIES,
    STRATEGIES,
    StrategyError,
    StrategyInfo,
    StrategyOptions,
    make_router,
    pair_strategy,
    validate_strategies,
)
from qnic.balancing.simulate import (
    PointResult,
    PointSpec,
    simulate_point,
    simulate_point_blocks,
)
from qnic.balancing.subtypes import (
    solved_subtype_strategy,
    subtype_game,
    subtype_win_probability,
)
from qnic.balancing.sources import (
    CHSHInputError,
    MeasuredCHSH,
    OutcomeTable,
    ideal_table,
    load_chsh_result,
    measured_table,
    visibility_table,
)

__all__ = [
    "CLASSICAL_CHSH_WIN",
    "DEFAULT_STRATEGIES",
    "HERALDING_NOTE",
    "QUANTUM_CHSH_WIN",
    "STRATEGIES",
    "TSIRELSON_BOUND",
    "Balancer",
    "CHSHInputError",
    "Estimate",
    "HasCorrelations",
    "Knee",
    "KneeStatus",
    "MeasuredCHSH",
    "OutcomeTable",
    "PairBuffer",
    "PairStrategy",
    "PairsExhausted",
    "PointResult",
    "PointSpec",
    "RequestType",
    "ServerBank",
    "ServerRule",
    "ServiceModel",
    "ServiceTime",
    "SideRule",
    "StrategyError",
    "StrategyInfo",
    "StrategyOptions",
    "XorStrategy",
    "always_separate",
    "binomial_sigma",
    "chsh_strategy",
    "dedicated_c",
    "find_knee",
    "heralded_pairs",
    "ideal_table",
    "lb_wins",
    "win_probability_from_s",
    "load_chsh_result",
    "make_router",
    "mean_ci",
    "measured_table",
    "pair_strategy",
    "quantum_chsh",
    "simulate_point",
    "simulate_point_blocks",
    "solved_subtype_strategy",
    "subtype_game",
    "subtype_win_probability",
    "validate_strategies",
    "visibility_table",
    "xor_pair_strategy",
]
