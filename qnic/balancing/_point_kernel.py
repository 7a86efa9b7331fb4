"""One study point compiled end to end: arrivals, routing and service in one numba loop.

The loop runs step by step (each step starts from the last one's queues, so
nothing vectorizes across steps); within a step it draws the N requests,
routes them, lets them arrive and lets every server work, on arrays of one
step (N and M long) that stay in cache. The numbers it draws come from
counter-based SplitMix64 streams (Steele, Lea and Flood, "Fast splittable
pseudorandom number generators", OOPSLA 2014: the output function of
java.util.SplittableRandom), one counter per role, so every role's draws do
not depend on what the others drew:

- workload: one 64-bit draw per request (the high 32 bits decide C against
  ``c_threshold``, the low 32 bits the subtype, by multiply-shift);
- pairs: server pairs (u, v) of the pairwise strategies (one draw per
  pair), and the servers of ``random`` (32 bits each, two per draw) and
  ``power-of-two`` (one draw per request);
- nature: 32 bits per heralded pair, two pairs per draw (the joint outcome,
  against thresholds P * 2^32);
- service: the order of service (same-step rule) and geometric times.

A uniform integer below n is ``(r32 * n) >> 32`` of a 32-bit draw r32
(Lemire's multiply-shift; its bias is below n / 2^32).
"""

from __future__ import annotations

import math

import numpy as np

from qnic.instruments.kernel_cache import cached_njit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_S32, _S11 = np.uint64(32), np.uint64(11)
_LOW32 = np.uint64(0xFFFFFFFF)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2^-53

# routing modes (qnic.balancing.fused.MODES names them)
RANDOM, ROUND_ROBIN, POWER_OF_TWO, PAIR_TABLE, HASH_SUBTYPE = 0, 1, 2, 3, 4
# server rules
C_PAIRS_FIRST, SAME_STEP = 0, 1
# fields of the int64 result array
Q_SUM, FINAL, WINS, C_REQUESTS, PAIR_JOBS = 0, 1, 2, 3, 4


@cached_njit()
def mix(z: np.uint64) -> np.uint64:
    """SplitMix64's output function of a counter value (uint64 -> uint64)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@cached_njit()
def below(r32: np.uint64, n: np.uint64) -> np.int64:
    """A uniform integer in [0, n) from a 32-bit draw (multiply-shift)."""
    return np.int64((r32 * n) >> _S32)


@cached_njit()
def unit(r: np.uint64) -> float:
    """A uniform float in [0, 1) from a 64-bit draw (its top 53 bits)."""
    return float(r >> _S11) * _TO_UNIT



# columns of the per-server state (int32 (M, W), W a power of two >= 5 + K): QLEN
# requests waiting or in service; REM steps left of the job in service; INS its
# requests; SAME_STEP: JOBS jobs waiting, PAIRS of them pair jobs; C_PAIRS_FIRST:
# E_WAIT type-E requests and C0 + j type-C requests of subtype j waiting (so the
# column of a request of class c is E_WAIT + c, without a branch)
QLEN, REM, INS, JOBS, PAIRS, E_WAIT, C0 = 0, 1, 2, 3, 4, 4, 5


@cached_njit()
def state_width(subtypes: int) -> int:
    """Columns of the server state: the power of two >= 5 + K (rows align to cache lines)."""
    width = 8
    while width < C0 + subtypes:
        width *= 2
    return width


@cached_njit()
def draw_classes(ctr: np.uint64, classes: np.ndarray, c_threshold: np.uint64,
                 subtypes: np.uint64) -> tuple[np.uint64, int]:
    """Fill int64 (N,) with 0 (E) or 1 + subtype (C); returns the counter and the C count."""
    n_c = 0
    for i in range(classes.size):
        ctr += GOLDEN
        r = mix(ctr)
        is_c = np.int64((r >> _S32) < c_threshold)  # branch-free: C or E is a coin flip
        classes[i] = is_c * (1 + below(r & _LOW32, subtypes))
        n_c += int(is_c)
    return ctr, n_c


@cached_njit()
def distinct(r: np.uint64, n_srv: np.uint64) -> tuple[np.int64, np.int64]:
    """Two distinct uniform servers (u, v) from one 64-bit draw."""
    m = np.int64(n_srv)
    u = below(r >> _S32, n_srv)
    v = u + 1 + below(r & _LOW32, n_srv - np.uint64(1))
    if v >= m:
        v -= m
    return u, v


@cached_njit()
def route_pairs(ctr: np.uint64, nat: np.uint64, classes: np.ndarray, servers: np.ndarray,
                n_srv: np.uint64, full_questions: bool, table_a: np.ndarray,
                table_b: np.ndarray, cum: np.ndarray, has_source: bool, hash_subtype: bool,
                ) -> tuple[np.uint64, np.uint64]:
    """Route balancers 2k and 2k + 1 as pairs (in place); returns both counters.

    Per pair one draw makes the pair's distinct servers (u, v). PAIR_TABLE:
    each side's output bit ``table[question, own outcome]`` picks u (0) or v
    (1), the joint outcome drawn from ``cum`` (uint64 (Q * Q, 3): per setting
    x * Q + y, the cumulative P of outcomes 00, 01, 10 times 2^32) with 32
    bits of a nature draw per pair.
    HASH_SUBTYPE: a second draw makes the servers w_A, w_B of the two sides'
    subtypes (one server when the subtypes agree); C goes there, E of A to u,
    E of B to v.
    """
    n_q = table_b.shape[0]
    rn = np.uint64(0)
    for k in range(classes.size // 2):
        ctr += GOLDEN
        u, v = distinct(mix(ctr), n_srv)
        ca, cb = classes[2 * k], classes[2 * k + 1]
        if hash_subtype:
            ctr += GOLDEN
            w = mix(ctr)
            wa = below(w >> _S32, n_srv)
            wb = wa if cb == ca else below(w & _LOW32, n_srv)
            servers[2 * k] = wa if ca > 0 else u
            servers[2 * k + 1] = wb if cb > 0 else v
            continue
        if full_questions:
            x, y = ca, cb
        else:
            x, y = min(ca, 1), min(cb, 1)
        a, b = 0, 0
        if has_source:
            if k & 1:
                p = rn & _LOW32
            else:
                nat += GOLDEN
                rn = mix(nat)
                p = rn >> _S32
            s = x * n_q + y
            idx = np.int64(p >= cum[s, 0]) + np.int64(p >= cum[s, 1]) + np.int64(p >= cum[s, 2])
            a, b = int(idx >> 1), int(idx & 1)
        servers[2 * k] = u + (v - u) * np.int64(table_a[x, a])  # branch-free: the bits
        servers[2 * k + 1] = u + (v - u) * np.int64(table_b[y, b])  # are random
    return ctr, nat


@cached_njit()
def route_singles(mode: int, ctr: np.uint64, t: int, servers: np.ndarray, offsets: np.ndarray,
                  state: np.ndarray, n_srv: np.uint64) -> np.uint64:
    """RANDOM, ROUND_ROBIN or POWER_OF_TWO (the shorter queue at the start of the step)."""
    n, m = servers.size, np.int64(n_srv)
    if mode == ROUND_ROBIN:
        shift = t % m
        for i in range(n):
            s = offsets[i] + shift
            servers[i] = s - m if s >= m else s
        return ctr
    if mode == RANDOM:
        for i in range(0, n - 1, 2):
            ctr += GOLDEN
            r = mix(ctr)
            servers[i] = below(r >> _S32, n_srv)
            servers[i + 1] = below(r & _LOW32, n_srv)
        if n & 1:
            ctr += GOLDEN
            servers[n - 1] = below(mix(ctr) >> _S32, n_srv)
        return ctr
    for i in range(n):
        ctr += GOLDEN
        r = mix(ctr)
        s1, s2 = distinct(r, n_srv)
        servers[i] = s1 + (s2 - s1) * np.int64(state[QLEN, s2] < state[QLEN, s1])
    return ctr


@cached_njit()
def game_wins(classes: np.ndarray, servers: np.ndarray) -> int:
    """Pairs (2k, 2k + 1) that share a server exactly when both are C of one subtype."""
    wins = 0
    for k in range(classes.size // 2):
        ca, cb = classes[2 * k], classes[2 * k + 1]
        want_same = np.int64(ca > 0) & np.int64(ca == cb)
        wins += int(np.int64(servers[2 * k] == servers[2 * k + 1]) == want_same)
    return wins


@cached_njit()
def arrive(rule: int, classes: np.ndarray, servers: np.ndarray, state: np.ndarray,
           subtypes: int, open_c: np.ndarray) -> None:
    """Requests join their servers' queues.

    C_PAIRS_FIRST: E to column E_WAIT, C of subtype j to column C0 + j (they
    pair at service). SAME_STEP: two C of one subtype that reach a server in
    this step become one pair job (JOBS, and PAIRS); every other request is a
    single job (JOBS). ``open_c`` (M * (K + 1), int8, zero between steps;
    slot s * (K + 1) + c) marks a C of class c waiting at server s for a
    partner of this step.
    """
    if rule == C_PAIRS_FIRST:
        for i in range(classes.size):
            state[E_WAIT + classes[i], servers[i]] += 1
        return
    for i in range(classes.size):  # branch-free: C or E is random from request to request
        s, c = servers[i], classes[i]
        key = s * (subtypes + 1) + c  # E's slot stays 0: it never waits for a partner
        o = np.int64(open_c[key])
        open_c[key] = (1 - o) * np.int64(c > 0)
        state[JOBS, s] += 1 - o  # the second C of a pair joins the first's job
        if o:  # rare: one random access per request for the rest
            state[PAIRS, s] += 1
    for i in range(classes.size):
        open_c[servers[i] * (subtypes + 1) + classes[i]] = 0


@cached_njit()
def start_c_pairs_first(state: np.ndarray, m: int, subtypes: int) -> int:
    """The paper's rule at an idle server: the job started (1: one request, 2: a pair).

    Two waiting C of one subtype first (the subtype with the most waiting,
    ties: the lowest), else one E, else a lone C (the lowest subtype).
    """
    best, best_n = -1, 1
    for j in range(subtypes):
        if state[C0 + j, m] > best_n:
            best, best_n = j, state[C0 + j, m]
    if best >= 0:
        state[C0 + best, m] -= 2
        return 2
    if state[E_WAIT, m] > 0:
        state[E_WAIT, m] -= 1
        return 1
    for j in range(subtypes):
        if state[C0 + j, m] > 0:
            state[C0 + j, m] -= 1
            return 1
    return 0


@cached_njit()
def serve_unit(rule: int, ctr: np.uint64, subtypes: int, state: np.ndarray,
               stats: np.ndarray) -> np.uint64:
    """:func:`serve` for one-step jobs: a job starts and ends within the step.

    C_PAIRS_FIRST: two C of one subtype if two wait, else one E, else one C
    (branch-free for one subtype); SAME_STEP: a pair job with probability
    (pair jobs) / (jobs waiting), else a single job (one service draw per
    server, idle or not).
    Sets QLEN, the requests left; ``stats[0]`` = requests in the system,
    ``stats[1]`` += pair jobs started.
    """
    total, started = 0, 0
    for m in range(state.shape[1]):
        if rule == C_PAIRS_FIRST and subtypes == 1:
            c, e = np.int64(state[C0, m]), np.int64(state[E_WAIT, m])
            pair = np.int64(c >= 2)  # branch-free: which job is random from server to server
            take_e = (1 - pair) * np.int64(e > 0)
            c -= 2 * pair + (1 - pair) * (1 - take_e) * np.int64(c > 0)
            e -= take_e
            state[C0, m], state[E_WAIT, m], state[QLEN, m] = c, e, c + e
            total += int(c + e)
            started += int(pair)
            continue
        if rule == C_PAIRS_FIRST:
            started += start_c_pairs_first(state, m, subtypes) == 2
        else:
            p, w = np.int64(state[PAIRS, m]), np.int64(state[JOBS, m])
            ctr += GOLDEN  # a draw per server, busy or not: no branch on a random state
            pair = np.int64(unit(mix(ctr)) * w < p)
            state[PAIRS, m] = p - pair
            state[JOBS, m] = w - np.int64(w > 0)
            started += int(pair)
        q = waiting_requests(rule, state, m, subtypes)
        state[QLEN, m] = q
        total += q
    stats[0] = total
    stats[1] += started
    return ctr


@cached_njit()
def waiting_requests(rule: int, state: np.ndarray, m: int, subtypes: int) -> int:
    """Requests waiting (not in service) at server m."""
    if rule == SAME_STEP:
        return state[JOBS, m] + state[PAIRS, m]
    w = state[E_WAIT, m]
    for j in range(subtypes):
        w += state[C0 + j, m]
    return w


@cached_njit()
def serve(rule: int, ctr: np.uint64, subtypes: int, service_steps: int, log_q: float,
          state: np.ndarray, stats: np.ndarray) -> np.uint64:
    """Each idle server with work starts a job, each busy one works one step.

    SAME_STEP: of the waiting jobs one uniformly at random (one service
    draw). Service lasts ``service_steps`` or, when ``log_q < 0``, a geometric
    number of steps (one service draw). Sets QLEN per server; ``stats[0]``
    = requests in the system, ``stats[1]`` += pair jobs started.
    """
    total = 0
    for m in range(state.shape[1]):
        if state[REM, m] == 0:
            if waiting_requests(rule, state, m, subtypes) == 0:
                state[QLEN, m] = 0
                continue
            if rule == C_PAIRS_FIRST:
                job = start_c_pairs_first(state, m, subtypes)
            else:
                ctr += GOLDEN
                state[JOBS, m] -= 1
                if unit(mix(ctr)) * (state[JOBS, m] + 1) < state[PAIRS, m]:
                    state[PAIRS, m] -= 1
                    job = 2
                else:
                    job = 1
            state[INS, m] = job
            stats[1] += job == 2
            if log_q < 0.0:
                ctr += GOLDEN
                state[REM, m] = 1 + int(math.floor(math.log(1.0 - unit(mix(ctr))) / log_q))
            else:
                state[REM, m] = service_steps
        state[REM, m] -= 1
        if state[REM, m] == 0:
            state[INS, m] = 0
        q = waiting_requests(rule, state, m, subtypes) + state[INS, m]
        state[QLEN, m] = q
        total += q
    stats[0] = total
    return ctr


@cached_njit()
def run_point(mode: int, rule: int, n_bal: int, n_srv: int, steps: int, warmup: int,
              c_threshold: np.uint64, subtypes: int, service_steps: int, log_q: float,
              seeds: np.ndarray, offsets: np.ndarray, full_questions: bool,
              table_a: np.ndarray, table_b: np.ndarray, cum: np.ndarray, has_source: bool,
              out: np.ndarray) -> float:
    """Simulate one point; returns the time-averaged requests per server after the warm-up.

    Args:
        mode: RANDOM, ROUND_ROBIN, POWER_OF_TWO, PAIR_TABLE or HASH_SUBTYPE.
        rule: C_PAIRS_FIRST or SAME_STEP.
        n_bal, n_srv: N balancers, M servers (>= 2).
        steps, warmup: steps simulated, first steps left out of the mean.
        c_threshold: P(C) * 2^32 (a 32-bit draw below it makes a C).
        subtypes: K type-C subtypes.
        service_steps, log_q: fixed service time, or log(1 - 1/mean) < 0 for geometric.
        seeds: uint64 (4,): workload, pairs, nature and service counters.
        offsets: int64 (N,): round-robin offsets in [0, M).
        full_questions: PAIR_TABLE asks question = class (K + 1 questions)
            instead of C or E.
        table_a, table_b: int8 (Q, 2) output bits per question and outcome.
        cum: uint64 (Q * Q, 3) cumulative joint outcome probabilities times 2^32.
        has_source: draw outcomes (quantum strategies).
        out: int64 (5,) out: [unused, final requests, game wins, C requests, pair jobs].
    """
    workload, pairs, nature, service = seeds[0], seeds[1], seeds[2], seeds[3]
    m_u = np.uint64(n_srv)
    classes = np.zeros(n_bal, dtype=np.int64)
    servers = np.zeros(n_bal, dtype=np.int64)
    state = np.zeros((state_width(subtypes), n_srv), dtype=np.int32)
    open_c = np.zeros(n_srv * (subtypes + 1), dtype=np.int8)
    stats = np.zeros(2, dtype=np.int64)  # requests in the system, pair jobs started
    queue_sum, wins, c_requests = 0.0, 0, 0
    pairwise = mode == PAIR_TABLE or mode == HASH_SUBTYPE
    unit_service = service_steps == 1 and log_q == 0.0
    for t in range(steps):
        workload, n_c = draw_classes(workload, classes, c_threshold, np.uint64(subtypes))
        c_requests += n_c
        if pairwise:
            pairs, nature = route_pairs(pairs, nature, classes, servers, m_u, full_questions,
                                        table_a, table_b, cum, has_source,
                                        mode == HASH_SUBTYPE)
        else:
            pairs = route_singles(mode, pairs, t, servers, offsets, state, m_u)
        wins += game_wins(classes, servers)
        arrive(rule, classes, servers, state, subtypes, open_c)
        if unit_service:
            service = serve_unit(rule, service, subtypes, state, stats)
        else:
            service = serve(rule, service, subtypes, service_steps, log_q, state, stats)
        if t >= warmup:
            queue_sum += stats[0] / n_srv
    out[FINAL] = stats[0]
    out[WINS] = wins
    out[C_REQUESTS] = c_requests
    out[PAIR_JOBS] = stats[1]
    return queue_sum / (steps - warmup)
