"""XOR games (docs/balancing.md, docs/commands.md): classical value, Tsirelson SDP, strategies, waveplates.

``XorGame(prob, pred)`` is the entry point; the named games (CHSH, odd
cycles, the paper's graph games) build one.
"""

from qnic.games.classical import (
    MAX_ENUMERATED_QUESTIONS,
    ClassicalBracket,
    ClassicalResult,
    ClassicalTooLargeError,
)
from qnic.games.library import (
    chained_bell_game,
    chsh_game,
    graph_game,
    odd_cycle_game,
    random_edge_labels,
    random_graph_game,
)
from qnic.games.sdp import DualCertificate, QuantumValue, SolveError, tsirelson_matrix
from qnic.games.strategy import (
    QuantumStrategy,
    clifford_generators,
    maximally_entangled_state,
)
from qnic.games.waveplates import (
    BELL_STATE,
    BenchBases,
    WaveplateBasis,
    analysed_stokes,
    phi_plus_correlation,
    waveplate_basis,
)
from qnic.games.xor import InvalidGameError, XorGame

__all__ = [
    "BELL_STATE",
    "MAX_ENUMERATED_QUESTIONS",
    "BenchBases",
    "ClassicalBracket",
    "ClassicalResult",
    "ClassicalTooLargeError",
    "DualCertificate",
    "InvalidGameError",
    "QuantumStrategy",
    "QuantumValue",
    "SolveError",
    "WaveplateBasis",
    "XorGame",
    "analysed_stokes",
    "chained_bell_game",
    "chsh_game",
    "clifford_generators",
    "graph_game",
    "maximally_entangled_state",
    "odd_cycle_game",
    "phi_plus_correlation",
    "random_edge_labels",
    "random_graph_game",
    "tsirelson_matrix",
    "waveplate_basis",
]

# Beyond XOR (issue #6 item 5): games with more outputs, see-saw and NPA level 1.
from qnic.games.nonlocal_game import (
    MAX_CLASSICAL_STRATEGIES,
    NonlocalClassicalResult,
    NonlocalGame,
    chsh_nonlocal_game,
    linear_game,
    magic_square_game,
)
from qnic.games.npa import NpaBound, NpaCertificate
from qnic.games.seesaw import SeesawResult

__all__ += [
    "MAX_CLASSICAL_STRATEGIES",
    "NonlocalClassicalResult",
    "NonlocalGame",
    "NpaBound",
    "NpaCertificate",
    "SeesawResult",
    "chsh_nonlocal_game",
    "linear_game",
    "magic_square_game",
]

# Games of more than two players (issue #18 item 3): multi-player XOR games, GHZ strategies.
from qnic.games.multiparty import (
    MAX_MULTIPARTY_STRATEGIES,
    MultipartyClassicalResult,
    MultipartyXorGame,
    mermin_game,
)
from qnic.games.multiparty_quantum import GhzStrategy, MultipartyQuantumValue, ghz_state

__all__ += [
    "MAX_MULTIPARTY_STRATEGIES",
    "GhzStrategy",
    "MultipartyClassicalResult",
    "MultipartyQuantumValue",
    "MultipartyXorGame",
    "ghz_state",
    "mermin_game",
]
