"""The networked system's parts (docs/network.md), in one process: shared randomness,
the pair oracle's statistics, the strategies' predictions, the report, and the
roles talking over real loopback sockets inside one event loop.

Statistical checks use fixed seeds and a tolerance of 4 standard deviations of
a binomial fraction, sqrt(p (1 - p) / n), stated at each check.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from typing import Any

import pytest

from qnic.experiments.net.backend import Backend, ServiceTimes
from qnic.experiments.net.coordinator import Coordinator
from qnic.experiments.net.loadgen import LoadGenerator, TraceSpec, make_trace
from qnic.experiments.net.node import BalancerNode
from qnic.experiments.net.report import game_rounds, percentiles, strategy_metrics
from qnic.experiments.net.shared import HashRing, server_pair
from qnic.experiments.net.source import PairSource, PairTable
from qnic.experiments.net.strategies import (
    NETWORK_STRATEGIES,
    predicted_win,
    same_backend_probability,
    win_given,
)
from qnic.experiments.net.study import CHSH_RULES
from qnic.experiments.net.wire import Address, Delay, parse_address

LOCAL = Address("127.0.0.1", 0)
IDEAL = PairTable.from_correlations([[math.cos(math.pi / 4), math.cos(math.pi / 4)],
                                     [math.cos(math.pi / 4), -math.cos(math.pi / 4)]], "ideal")
QUANTUM_WIN = math.cos(math.pi / 8) ** 2


def four_sigma(p: float, n: int) -> float:
    return 4.0 * math.sqrt(p * (1.0 - p) / n)


# -- shared randomness and addresses -------------------------------------------

def test_server_pair_is_shared_distinct_and_uniform() -> None:
    pairs = [server_pair(7, 3, i, 5) for i in range(20000)]
    assert pairs == [server_pair(7, 3, i, 5) for i in range(20000)]  # both partners compute it
    assert all(u != v and 0 <= u < 5 and 0 <= v < 5 for u, v in pairs)
    assert pairs != [server_pair(8, 3, i, 5) for i in range(20000)]
    counts = [sum(1 for u, _ in pairs if u == b) for b in range(5)]
    # each backend is u with probability 1/5: 4 sigma of a binomial count
    assert all(abs(c - 4000) <= 4 * math.sqrt(20000 * 0.2 * 0.8) for c in counts)


def test_hash_ring_keeps_keys_and_bounds_loads() -> None:
    ring = HashRing(8, balance=1.25)
    idle = [0] * 8
    assert ring.lookup(42, idle) == ring.lookup(42, idle)
    assert len({ring.lookup(k, idle) for k in range(200)}) == 8
    home = ring.lookup(42, idle)
    loads = [1] * 8
    loads[home] = 10  # over ceil(1.25 * 18 / 8) = 3: the key spills to the next backend
    assert ring.lookup(42, loads) != home
    alive = [True] * 8
    alive[home] = False
    assert ring.lookup(42, idle, alive) != home


@pytest.mark.parametrize(("text", "message"), [
    ("localhost", "expected host:port"), (":80", "expected host:port"),
    ("127.0.0.1:http", "is not a number"), ("127.0.0.1:70000", "outside 0..65535")])
def test_bad_addresses_are_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_address(text, "--source")
    assert parse_address("127.0.0.1:8080") == Address("127.0.0.1", 8080)


def test_bad_delays_and_traces_are_named() -> None:
    with pytest.raises(ValueError, match="one-way delay"):
        Delay(-1.0)
    with pytest.raises(ValueError, match="jitter"):
        Delay(10.0, 20.0)
    with pytest.raises(ValueError, match="arrival model"):
        TraceSpec(2, 10, model="bursty")
    with pytest.raises(ValueError, match="c_probability"):
        TraceSpec(2, 10, c_probability=1.5)


def test_the_same_seed_gives_the_same_trace() -> None:
    spec = TraceSpec(4, 4000, "poisson", rate_hz=4000.0, c_probability=0.3, c_subtypes=3, seed=11)
    trace = make_trace(spec)
    assert trace == make_trace(spec)
    assert trace != make_trace(TraceSpec(4, 4000, "poisson", rate_hz=4000.0, c_probability=0.3,
                                         c_subtypes=3, seed=12))
    assert [t[0] for t in trace] == sorted(t[0] for t in trace)
    assert {t[3] for t in trace if t[2]} == {0, 1, 2} and {t[3] for t in trace if not t[2]} == {-1}
    c = sum(t[2] for t in trace)
    assert abs(c / len(trace) - 0.3) <= four_sigma(0.3, len(trace))  # 4 sigma, binomial
    # Poisson: 1000 arrivals per node at 1000 Hz each span about a second
    per_node = [t[0] for t in trace if t[1] == 0]
    assert len(per_node) == 1000 and 0.85e6 < per_node[-1] < 1.15e6
    step = make_trace(TraceSpec(2, 6, "step", step_us=100.0))
    assert [(t[0], t[1]) for t in step] == [(0.0, 0), (0.0, 1), (100.0, 0), (100.0, 1),
                                            (200.0, 0), (200.0, 1)]


# -- the pair oracle ------------------------------------------------------------

def _oracle_rounds(source: PairSource, rounds: int, seed: int) -> tuple[int, dict[tuple[int, int], list[int]]]:
    """Play ``rounds`` CHSH rounds through the oracle, each side measuring first half the time."""
    rng = random.Random(seed)
    source._delivered[(0, 0, 0)] = source._delivered[(0, 1, 0)] = time.monotonic()
    wins = 0
    agree: dict[tuple[int, int], list[int]] = {(x, y): [0, 0] for x in (0, 1) for y in (0, 1)}
    for i in range(rounds):
        x, y = rng.getrandbits(1), rng.getrandbits(1)
        if rng.getrandbits(1):
            a = source.measure(0, i, 0, x)
            b = source.measure(0, i, 1, y)
        else:
            b = source.measure(0, i, 1, y)
            a = source.measure(0, i, 0, x)
        same = CHSH_RULES[0][x][a] == CHSH_RULES[1][y][b]
        wins += int(same == bool(x and y))
        agree[(x, y)][0] += int(a == b)
        agree[(x, y)][1] += 1
    return wins, agree


def test_the_oracle_gives_the_tables_correlations_whichever_side_measures_first() -> None:
    source = PairSource(LOCAL, IDEAL, block=1 << 20, seed=3)
    n = 40000
    wins, agree = _oracle_rounds(source, n, seed=4)
    # ideal CHSH: win cos^2(pi/8); tolerance 4 sigma of a binomial fraction over n rounds
    assert abs(wins / n - QUANTUM_WIN) <= four_sigma(QUANTUM_WIN, n)
    for (x, y), (k, m) in agree.items():
        p_agree = IDEAL.prob[x][y][0][0] + IDEAL.prob[x][y][1][1]
        assert abs(k / m - p_agree) <= four_sigma(p_agree, m), (x, y)
    assert source.counts["pairs_measured_twice"] == n


def test_a_memory_that_decoheres_loses_the_advantage() -> None:
    source = PairSource(LOCAL, IDEAL, block=1 << 20, coherence_us=1e-6, seed=5)
    n = 20000
    wins, _ = _oracle_rounds(source, n, seed=6)
    # every stored half is depolarized: outcomes are fair coins, the game is won half the time
    assert abs(wins / n - 0.5) <= four_sigma(0.5, n)
    assert source.counts["depolarized"] >= 2 * n * 0.99


def test_the_oracle_refuses_halves_it_never_delivered() -> None:
    source = PairSource(LOCAL, IDEAL, block=16)
    assert source.measure(0, 5, 0, 1) == -1
    source._delivered[(0, 0, 0)] = time.monotonic()
    assert source.measure(0, 5, 0, 1) in (0, 1)
    assert source.measure(0, 16, 0, 1) == -1  # block 1 was not delivered


def test_pair_tables_check_their_numbers() -> None:
    with pytest.raises(ValueError, match="16 numbers"):
        PairTable.from_flat([0.25] * 15, (2, 2))
    with pytest.raises(ValueError, match="sum to"):
        PairTable.from_flat([0.3] * 16, (2, 2))
    with pytest.raises(ValueError, match="within"):
        PairTable.from_correlations([[1.5, 0], [0, 0]])
    assert IDEAL.chsh_value() == pytest.approx(2 * math.sqrt(2))


def test_predictions() -> None:
    same = same_backend_probability(IDEAL.flat(), (CHSH_RULES[0], CHSH_RULES[1]))
    assert predicted_win("quantum", 0.5, 8, same) == pytest.approx(QUANTUM_WIN)
    assert predicted_win("classical-best", 0.5, 8) == 0.75
    assert predicted_win("dedicated-c", 0.5, 8) == 0.75
    assert predicted_win("classical-best", 0.2, 8) == pytest.approx(0.96)
    assert predicted_win("random", 0.5, 4) == pytest.approx(0.25 / 4 + 0.75 * 0.75)
    assert predicted_win("coordinator", 0.5, 4) == 1.0
    assert predicted_win("consistent-hash", 0.5, 4) is None
    assert win_given("classical-best", 4) == [[1.0, 1.0], [1.0, 0.0]]
    q = win_given("quantum", 4, 1, same)
    assert q is not None and q[0][0] == pytest.approx(QUANTUM_WIN) == q[1][1]


def test_game_rounds_and_percentiles() -> None:
    even = [(0, 1, 0, 3, 0, 0, 0), (1, 0, -1, 2, 0, 0, 0), (2, 1, 0, 1, 0, 0, 0)]
    odd = [(0, 1, 0, 3, 0, 0, 0), (1, 1, 0, 2, 0, 0, 0)]  # round 2 never decided on the odd side
    # round 0 won (both C, same backend), round 1 lost (C and E on one backend)
    played = game_rounds([even, odd])
    assert (played.wins, played.rounds, played.mix) == (1, 2, [[0, 1], [0, 1]])
    assert played.mixed == 0 and played.fallback_mix == [[0, 0], [0, 0]]
    fell = [(0, 1, 0, 3, 1, 0, 0), (1, 0, -1, 2, 0, 0, 0)]  # round 0: the even side fell back
    kept = [(0, 1, 0, 3, 0, 0, 0), (1, 1, 0, 2, 0, 0, 0)]
    played = game_rounds([fell, kept])
    assert played.mixed == 1 and played.fallback_mix == [[0, 0], [0, 0]] and played.mix[0][1] == 1
    from qnic.experiments.net.report import predicted_rate

    # round 0 half the time, round 1 (E, C) by the strategy: 0.9 in this table
    assert predicted_rate(played, [[1.0, 0.9], [0.9, 0.5]], None) == pytest.approx((0.5 + 0.9) / 2)
    assert percentiles([]) == {"p50": None, "p99": None, "p999": None}
    values = list(range(1, 1001))
    assert percentiles(values) == {"p50": 500.0, "p99": 990.0, "p999": 999.0}


# -- the roles over loopback, in one event loop -----------------------------------

async def _in_process(strategies: list[str], table: PairTable, requests: int, backends: int = 2,
                      nodes: int = 2, seed: int = 0, kill_source: bool = False,
                      c_probability: float = 0.5, block: int = 4096, c_subtypes: int = 1,
                      cache_size: int = 2, step_us: float = 20.0) -> dict[str, dict[str, Any]]:
    servers: list[Any] = []

    async def up(server: Any) -> Address:
        servers.append(server)
        return await server.start()

    backend_addrs = [await up(Backend(LOCAL, b, ServiceTimes(0, 0, 0, cache_size)))
                     for b in range(backends)]
    source = PairSource(LOCAL, table, block=block, seed=seed + 1)
    source_addr = await up(source)
    coord_addr = await up(Coordinator(LOCAL, backends))
    node_objs = [BalancerNode(LOCAL, n, backend_addrs, source_addr, coord_addr, seed=seed + 10 + n)
                 for n in range(nodes)]
    node_addrs = [await up(n) for n in node_objs]
    loadgen = LoadGenerator(LOCAL, node_addrs, seed=seed + 2)
    spec = TraceSpec(nodes, requests, "step", step_us=step_us, c_probability=c_probability,
                     c_subtypes=c_subtypes, seed=seed)
    rows = {}
    try:
        if kill_source:
            await source.close()
        for name in strategies:
            for b in servers[:backends]:
                b.on_control({"op": "reset"})
            for n, node in enumerate(node_objs):
                await node._configure({"strategy": name, "seed": seed, "rule": CHSH_RULES[n % 2]})
            for node in node_objs:
                await node._pairs_ready(10.0)
            load = await loadgen.run(spec, timeout_s=20.0)
            stats = [node.on_control({"op": "stats"}) for node in node_objs]
            backend_stats = [b.on_control({"op": "stats"}) for b in servers[:backends]]
            same = same_backend_probability(table.flat(), (CHSH_RULES[0], CHSH_RULES[1]))
            rows[name] = strategy_metrics(name, load, stats, backend_stats,
                                          win_given(name, backends, c_subtypes, same), None,
                                          c_subtypes, win_given("classical-best", backends,
                                                                c_subtypes))
            rows[name]["nodes"] = stats
            rows[name]["source"] = source.on_control({"op": "stats"})
    finally:
        for server in reversed(servers):
            await server.close()
    return rows


def test_every_strategy_routes_the_same_trace_and_wins_as_predicted() -> None:
    names = list(NETWORK_STRATEGIES)
    rows = asyncio.run(_in_process(names, IDEAL, requests=4000, backends=4))
    assert len({row["trace_digest"] for row in rows.values()}) == 1
    for name, row in rows.items():
        assert row["requests"] == {"sent": 4000, "served": 4000, "failed": 0}, name
        assert row["rounds"] == 2000, name
        assert row["messages_between_balancers"] == 0, name
        predicted = row["win_rate_predicted"]
        if predicted is not None and predicted < 1:
            # 4 sigma of a binomial fraction over the 2000 rounds
            assert abs(row["win_rate"] - predicted) <= four_sigma(predicted, 2000), name
    assert rows["coordinator"]["win_rate"] == 1.0
    assert rows["quantum"]["pairs_used"] == 4000 and rows["quantum"]["fallbacks"] == 0
    for name in ("quantum", "classical-best", "dedicated-c", "random", "round-robin",
                 "consistent-hash"):
        assert rows[name]["coordination_messages"] == 0, name
    assert rows["coordinator"]["coordination_messages"] == 4000
    assert rows["power-of-two"]["coordination_messages"] == 8000
    # the best classical strategy cannot pass 3/4: at most 4 sigma above it
    assert rows["classical-best"]["win_rate"] <= 0.75 + four_sigma(0.75, 2000)
    assert rows["quantum"]["win_rate"] > 0.75 + four_sigma(0.75, 2000)


def test_a_node_without_its_source_falls_back_and_counts_it() -> None:
    rows = asyncio.run(_in_process(["quantum"], IDEAL, requests=2000, kill_source=True))
    row = rows["quantum"]
    assert row["requests"]["served"] == 2000
    assert row["fallbacks"] == 2000 and row["pairs_used"] == 0
    assert all(n["source_lost"] for n in row["nodes"])
    assert abs(row["win_rate"] - 0.75) <= four_sigma(0.75, 1000)  # the best classical rule


def test_pairs_come_in_blocks_ahead_of_use() -> None:
    # 64-pair blocks against 1000 rounds per node: the node asks ahead block by block; a
    # round whose block has not arrived yet is decided classically and counted
    rows = asyncio.run(_in_process(["quantum"], IDEAL, requests=2000, block=64))
    row = rows["quantum"]
    assert row["requests"]["served"] == 2000
    assert row["pairs_used"] + row["fallbacks"] == 2000
    # each node asks for the next blocks as its rounds reach them (1000 rounds span 16),
    # well past the 3 it asks for at the start
    assert row["source"]["pairs_distributed"] >= 2 * 8 * 64


def test_the_xor_game_of_subtypes_is_solved_for_the_nodes() -> None:
    from qnic.experiments.net.study import xor_setup

    one = xor_setup(1, 0.5, IDEAL)  # one subtype: the CHSH game
    assert one.info["quantum_value"] == pytest.approx(QUANTUM_WIN, abs=1e-6)
    same = same_backend_probability(one.table.flat(), one.rules)
    assert predicted_win("xor", 0.5, 8, xor_same=same) == pytest.approx(QUANTUM_WIN, abs=1e-6)
    two = xor_setup(2, 0.7, IDEAL)
    assert two.table.questions == (3, 3)
    assert two.info["classical_value"] == pytest.approx(0.79)
    assert two.info["quantum_value"] == pytest.approx(0.835, abs=1e-3)
    same = same_backend_probability(two.table.flat(), two.rules)
    assert predicted_win("xor", 0.7, 8, subtypes=2, xor_same=same) == pytest.approx(
        two.info["quantum_value"], abs=1e-6)
    # classical-best plays the solved classical strategy: it reaches the classical value
    assert predicted_win("classical-best", 0.7, 8, subtypes=2,
                         classical_bits=two.classical) == pytest.approx(0.79)
    # always separating would lose more: both C of one subtype is (0.35)^2 + (0.35)^2
    assert predicted_win("classical-best", 0.7, 8, subtypes=2) == pytest.approx(0.755)


def test_the_live_demo_adds_its_chunks_up() -> None:
    from qnic.experiments.net.live import Tally, sigmas_from_prediction

    tally = Tally()
    row = {"win_rate": 0.8, "rounds": 100, "win_rate_predicted": 0.85,
           "requests": {"served": 200, "failed": 0}, "pairs_used": 200, "fallbacks": 0,
           "latency_us": {"p50": 1000.0, "p99": 3000.0}, "decision_us": {"p99": 20.0}}
    tally.add(row)
    tally.add({**row, "win_rate": 0.9, "latency_us": {"p50": 2000.0, "p99": 5000.0}})
    s = tally.summary()
    assert s["win_rate"] == pytest.approx(0.85) and s["rounds"] == 200
    assert s["win_rate_predicted"] == pytest.approx(0.85)
    assert s["latency_p50_us"] == 1500.0 and s["served"] == 400
    assert sigmas_from_prediction(s) == pytest.approx(0.0)


def test_a_line_from_another_node_is_counted() -> None:
    # the count that shows balancers do not talk can rise: a peer that says it is a node
    async def main() -> tuple[int, int]:
        backends = [Backend(LOCAL, b, ServiceTimes(0, 0, 0, 1)) for b in range(2)]
        addresses = [await b.start() for b in backends]
        node = BalancerNode(LOCAL, 0, addresses)
        address = await node.start()
        await node._configure({"strategy": "random"})
        reader, writer = await asyncio.open_connection(address.host, address.port)
        # lines on one connection are handled in order: the ping's answer comes after them
        writer.write(b'HELLO node 1\nREQ 1 1 0\nREQ 2 0 -1\n{"op": "ping"}\n')
        await reader.readline()
        counted, routed = node.counts["messages_between_balancers"], node.seq
        writer.close()
        await writer.wait_closed()
        for server in (node, *backends):
            await server.close()
        return counted, routed

    assert asyncio.run(main()) == (2, 0)  # counted, and not routed as requests


class _Wire:
    """Stands for a socket: keeps what is written."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        """Nothing to close."""


def test_power_of_two_sends_to_the_shorter_queue_whichever_answers_first() -> None:
    from qnic.experiments.net.wire import Link

    async def main() -> tuple[int, int, list[bytes]]:
        node = BalancerNode(LOCAL, 0, [Address("127.0.0.1", 1)] * 4)
        wires = [_Wire() for _ in range(4)]
        node._backends = [Link(w) for w in wires]  # type: ignore[arg-type]
        node.strategy = NETWORK_STRATEGIES["power-of-two"]
        node.request(7, 0, -1, Link(_Wire()))  # type: ignore[arg-type]
        (tag, pending), = node._waiting.items()
        first, second = pending.candidates
        node._on_backend(second, ["LOAD", str(tag), "1"])  # the second probed answers first
        node._on_backend(first, ["LOAD", str(tag), "5"])
        await asyncio.sleep(0)  # the links write out at the end of the loop pass
        return first, second, [w.data for w in wires]

    first, second, written = asyncio.run(main())
    assert written[second].endswith(b"JOB 7 0 -1\n")
    assert b"JOB" not in written[first]


def test_consistent_hashing_keeps_a_keys_requests_together() -> None:
    # 4 C subtypes, 4 backends caching one key each. Hashing by key sends each key's
    # requests to one backend (where the ring and the load bound allow), so they hit its
    # cache more often than random routing does. About 2000 type-C requests each: the
    # difference of two binomial fractions near 0.3 has sigma sqrt(2 * 0.21 / 2000) ~ 0.015;
    # 4 sigma required
    rows = asyncio.run(_in_process(["random", "consistent-hash"], IDEAL, requests=4000,
                                   backends=4, c_subtypes=4, cache_size=1, step_us=200.0))
    hashed, spread = rows["consistent-hash"]["cache_hit_rate"], rows["random"]["cache_hit_rate"]
    assert hashed - spread > 4 * math.sqrt(2 * 0.3 * 0.7 / 2000)
