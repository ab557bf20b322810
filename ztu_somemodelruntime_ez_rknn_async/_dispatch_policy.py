"""Assignment policy: which idle slot may take the next task (stride scheduling with a bounded lead).

Used by the dispatcher engine under its lock; it keeps the per-core schedule state and answers "may this
core run ahead?" and "which idle slot goes next?", nothing about threads or queues.

Assignment: one shared queue, weighted by a bounded lead
---------------------------------------------------------

The peer fixes each task's core at submission (``schedule[ticket % len(schedule)]``) and its workers only
take the *head* of one FIFO, so one slow task on a busy core idles every other core (head-of-line
blocking, peer-behavior.md §11.3).  Here every idle slot pulls from one shared FIFO, and the weights are
enforced by a stride/credit rule instead of by pre-assignment:

* core ``k`` with weight ``w_k`` advances a *pass* value by ``stride_k = S / w_k`` (``S`` = lcm of the
  weights) every time it takes a task, so ``pass_k / S`` is the number of schedule rounds it consumed;
* an idle slot of core ``k`` may take the head task only while ``pass_k < min_j(pass_j) + max_lead * S``,
  i.e. while its core is less than ``max_lead`` rounds ahead of the most lagging core; among several idle
  eligible slots the core with the smallest pass wins (ties: longest idle), which reproduces the
  round-robin schedule exactly when latencies are equal.

``max_lead`` therefore bounds how far the per-core counts can drift from the weights: every core's
rounds ``count_k / w_k`` stay within ``max_lead + 1 / w_k`` of the most lagging core, hence
``|count_k - n * w_k / W| < w_k * (max_lead + 1)`` (``<= max_lead`` with equal weights), while
jitter inside that bound never leaves a core idle.  ``max_lead=1`` is a strict lock-step schedule.

Measured with ``benchmarks/dispatch_overhead.py --simulate-only`` (a deterministic virtual-time
simulation of the policies: 3 equal cores, equal weights, 6000 tasks, queue of 6, producer always
ahead; fraction of the ideal ``total work / 3``):

=====================================  ========  ===========  ============  ===============
policy                                  +/-20 %   5 % of jobs  exponential   core 2 is 30 %
                                        jitter    4x longer    latencies     slower (+/-20 %)
=====================================  ========  ===========  ============  ===============
peer: fixed core + head-of-line FIFO     0.980      0.835         0.638          0.836
per-core queues, fixed round robin       0.994      0.926         0.808          0.836
shared queue, ``max_lead=1`` (strict)    0.993      0.861         0.707          0.836
shared queue, ``max_lead=2``             0.994      0.918         0.790          0.836
shared queue, ``max_lead=4`` (default)   0.998      0.955         0.844          0.837
shared queue, ``max_lead`` unbounded     1.000      1.000         0.999          1.000
=====================================  ========  ===========  ============  ===============

Every bounded policy loses the same 16 % in the last column: the weights say "equal shares", so
the slower core paces the others; only the unbounded queue recovers it, by ignoring the weights
(skew of 498 tasks out of 6000).

With real threads and sleep jobs (``dispatch_overhead.py --policies --repeat 3``, same scenario, on
this 2-CPU machine shared with other jobs) the default reached 0.74-0.75 of ideal at 0.5 ms, 0.90-0.92
at 2 ms and 0.96-0.98 at 10 ms, with or without 20 % jitter; the measured slot utilisation was
0.96-0.995 throughout, i.e. the gap to ideal at 0.5 ms is mostly ``time.sleep`` overshoot and GIL
contention, not idle slots.  Between policies the real-thread numbers differ by less than the run-to-run
noise (about +/-5 %; the benchmark's peer and per-core baselines have no callback thread at all, so they
are optimistic), which is why the choice rests on the deterministic simulation.

Choice: the shared queue with ``max_lead`` defaulting to four rounds per slot of a core
(:data:`DEFAULT_LEAD_ROUNDS`).  It keeps the peer's meaning of the weights (counts within
``w_k * (max_lead + 1)`` tasks of the schedule, exactly the schedule when every slot is idle), removes
head-of-line blocking (better than the peer in every scenario), and with the moderate jitter of a real
NPU it is within 0.2 % of work-conserving.  The default was two rounds until the session's own overhead
was small enough for the lead to show: with the default ``max_queue_size=3`` the simulation gives
0.994 / 0.918 for two rounds and 0.998 / 0.955 for four (jitter / long tails) with the same measured
count skew of 2-3 tasks out of 6000, and on the simulator (an A/B of two sessions in one process, 12
alternating chunks at 0.5 ms with +/-20 % jitter) four rounds cut the mean gap between two
runs of a core by ~2 us, +0.4 % throughput for both ``run_async`` and ``imap``.  A larger lead buys
more only with heavy-tailed latencies, at the price of a larger count skew; ``max_lead`` is a
constructor argument for that case.  Per-core queues with a fixed assignment land
close to ``max_lead=2`` (a little better with heavy tails at a queue of 6, worse at a queue of 3:
0.893 vs 0.918), while ``max_lead=3`` already beats them everywhere; they were rejected because a task
bound to a core at submission can never move to an idle core, so their behaviour depends on the
queue size, and the producer blocks on one core's full queue while other cores idle.

A stalled core stops pacing the others
--------------------------------------

The lead alone turns one hung job into a hung session: while a core's only slot is stuck in a runtime
call (the session reports ``RunTimeoutError`` to the caller, but the call itself may never return) its
pass stops, so after ``max_lead`` rounds every other core parks for as long as the call hangs.  The
weights share work among *working* cores; they must not idle healthy cores behind a stuck one.  So:

* a core is **stalled** when every one of its slots (worker or inline borrower) has been running its
  current job for longer than ``limit = max(stall_floor_s, stall_factor * p90)``, ``p90`` being the 90th
  percentile of the last :data:`STALL_WINDOW` run times (all slots);
* the minimum pass of the lead rule is taken over the cores that are not stalled;
* when a job of a stalled core ends, the core **rejoins at the pass of the most lagging working core**
  (never lower than its own).  The rounds it missed are not owed: letting it catch up would park the
  cores that kept the session serving for as many rounds as it was stuck, with only the rejoined core
  running.  The per-core counts then follow the weights again *from that point*; over the whole run the
  stalled core is short by the rounds it missed (a hang is not a share).

Defaults: ``stall_factor=8`` and ``stall_floor_s=0.25``.  NPU run times are close to deterministic (the
+/-20 % jitter above), and with exponential latencies a run exceeds 8 x p90 (about 18 x the mean) with
probability e^-18: a working core is essentially never taken for stalled by the factor.  The floor
covers what the p90 does not see: host-side pauses (GIL hand-offs, the OS preempting a thread on a busy
2-CPU board, a garbage collection) reach tens of milliseconds, and sub-millisecond models would
otherwise get a limit of a few milliseconds.  A false stall is cheap anyway (the others run a little
beyond the lead; the core rejoins without catching up), and so is a late one: a hang costs the other
cores at most ``limit`` of parking once, after which the hung core is excluded until it returns; 0.25 s
is far below any useful ``run_timeout_ms``.  ``stall_floor_s=math.inf`` disables the rule.

Why a p90 of recent samples rather than an exponential average: it reuses the latency reservoir the
statistics already fill (nothing is added per task), needs no warm-up rule, and is not inflated by the
hung call's own huge sample when it finally returns (an average would be, delaying the detection of the
next hang).  The limit is computed only when needed.

Cost: nothing per task while the lead does not park anybody (the fast path compares passes as before;
every task only stamps its slot's start time and clears it at the end).  Only when a slot would be
parked by the lead does the *slow path* read the clock; while no core is stalled that is all it does
until the cached earliest moment a core could stall (the lead binds often with near-zero run times:
about 2 tasks in 3 in the zero-latency benchmark).  Past it, it looks at each core's newest job start,
and computes the p90 only if some core has been busy for longer than the floor.  Because a core stalls
without any event, a slot parked by the lead *while tasks are queued* sleeps with a timeout (until the
earliest moment a core could become stalled, at most ``stall_floor_s``) and applies the rule again when
it expires; at least one parked slot always sleeps that way (the engine kicks one if needed).  Slots
that park with nothing queued sleep without a timeout, as before.
"""
from __future__ import annotations

import math
from functools import reduce
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Protocol, Sequence, TypeVar

__all__ = ["DEFAULT_LEAD_ROUNDS", "NOT_RUNNING", "STALL_FACTOR", "STALL_FLOOR_S", "STALL_WINDOW", "CoreState", "Schedule"]

#: Default ``max_lead``: this many schedule rounds per slot of the largest core.
DEFAULT_LEAD_ROUNDS = 4
#: ``started`` of a slot that is not running a job (so a core with such a slot is never stalled).
NOT_RUNNING = math.inf
#: Default ``stall_factor``: a slot is stalled after this many typical (p90) run times.
STALL_FACTOR = 8.0
#: Default ``stall_floor_s``: never call a slot stalled before it has run this long.
STALL_FLOOR_S = 0.25
#: Recent run times (any slot, worker or inline) whose p90 is the typical run time.
STALL_WINDOW = 64
# Bound on one timed re-check sleep of a slot parked by the lead (also keeps it below TIMEOUT_MAX).
_MAX_RECHECK_S = 60.0
_MIN_RECHECK_S = 0.001


class _Running(Protocol):
    started: float  # clock() when its current job started, NOT_RUNNING when it runs none


class CoreState:
    """Per-core scheduling state and counters (guarded by the engine lock)."""

    __slots__ = ("core", "weight", "stride", "passv", "tasks", "busy", "nslots", "members", "stalled")

    def __init__(self, core: int, weight: int, stride: int) -> None:
        self.core = core
        self.weight = weight
        self.stride = stride
        self.passv = 0  # stride * tasks taken: schedule rounds consumed, in units of 1/S
        self.tasks = 0
        self.busy = 0.0
        self.nslots = 0
        self.members: List[_Running] = []  # its slots' workers (registered by the engine)
        self.stalled = False  # excluded from the minimum pass since the last time one of its jobs ended

    def take(self) -> None:
        """A slot of this core took a task (queued or inline): it counts toward the core's share."""
        self.passv += self.stride
        self.tasks += 1


class _OnCore(Protocol):
    core: CoreState


W = TypeVar("W", bound=_OnCore)


class Schedule:
    """The stride schedule over ``schedule_weights`` (guarded by the engine lock).

    Args:
        weights: Core -> weight (validated by the dispatcher: >= 1, every core has a slot).
        slot_cores: The core of every slot, one entry per slot.
        max_lead: Rounds a core may run ahead of the most lagging one; ``None``: two rounds per slot of
            the largest core.
        clock: The dispatcher's clock (the one that stamps ``started`` and measures run times).
        recent_runs: ``recent_runs(k)``: the last ``k`` run times (at most), in any order.
        stall_factor: A core is stalled once each of its slots has run its job for longer than
            ``max(stall_floor_s, stall_factor * p90 of the recent run times)``.
        stall_floor_s: See ``stall_factor``; ``math.inf`` disables the stall rule.
    """

    __slots__ = ("cores", "core_list", "weighted", "lead_units", "clock", "recent_runs", "stall_factor",
                 "stall_floor_s", "detect", "recheck_s", "quiet_until", "nstalled", "stalls", "newly_stalled")

    def __init__(
        self,
        weights: Mapping[int, int],
        slot_cores: Iterable[int],
        max_lead: Optional[int],
        clock: Callable[[], float] = lambda: 0.0,
        recent_runs: Callable[[int], List[float]] = lambda k: [],
        stall_factor: float = STALL_FACTOR,
        stall_floor_s: float = STALL_FLOOR_S,
    ) -> None:
        scale = reduce(_lcm, weights.values(), 1)
        self.cores: Dict[int, CoreState] = {
            core: CoreState(core, weight, scale // weight) for core, weight in sorted(weights.items())
        }
        self.core_list: List[CoreState] = list(self.cores.values())
        self.weighted = len(self.core_list) > 1
        for core in slot_cores:
            self.cores[core].nslots += 1
        if max_lead is None:
            # Default measured in benchmarks/dispatch_overhead.py (see the module docstring).
            max_lead = DEFAULT_LEAD_ROUNDS * max(1, max(c.nslots for c in self.core_list))
        self.lead_units = max_lead * scale
        self.clock = clock
        self.recent_runs = recent_runs
        self.stall_factor = stall_factor
        self.stall_floor_s = stall_floor_s
        # Whether the stall rule can ever matter: with one core the lead never parks anybody.
        self.detect = self.weighted and math.isfinite(stall_floor_s)
        # After a slow-path evaluation that left a slot parked: when to look again (clock seconds).
        self.recheck_s = min(stall_floor_s, _MAX_RECHECK_S)
        # No core can become stalled before this clock time (while none is): the slow path is then one
        # clock read.  Only moves forward: every job starts after the moment it was computed.
        self.quiet_until = -math.inf
        self.nstalled = 0  # cores with the stalled flag
        self.stalls = 0  # times a core was found stalled (statistics, tests)
        # A core was found stalled since the engine last looked: other parked slots may be eligible now.
        self.newly_stalled = False

    # -- the lead rule ---------------------------------------------------------------------------------------

    def eligible(self, core: CoreState) -> bool:
        """Whether a slot of ``core`` may take the head task (its core is within the lead)."""
        if not self.weighted:
            return True
        passv = core.passv
        if passv < min(c.passv for c in self.core_list) + self.lead_units:
            return True
        if not self.detect:
            return False
        working = self._working_floor()
        return working is not None and passv < working + self.lead_units

    def pick_idle(self, idle: Sequence[W]) -> Optional[W]:
        """The idle worker that should take the next task, or None if no idle core may run ahead."""
        if not idle:
            return None
        if not self.weighted:
            return idle[0]
        best = _lowest(idle, min(c.passv for c in self.core_list) + self.lead_units)
        if best is None and self.detect:
            working = self._working_floor()
            if working is not None:
                best = _lowest(idle, working + self.lead_units)
        return best

    @staticmethod
    def pick_inline(idle: Sequence[W]) -> Optional[W]:
        """Any idle slot for an inline run; prefer the core most behind its weighted share (ties: longest
        idle)."""
        best: Optional[W] = None
        for worker in idle:
            if best is None or worker.core.passv < best.core.passv:
                best = worker
        return best

    # -- the stall rule (slow path: only when the lead parks a slot) -----------------------------------------

    def stall_limit(self) -> float:
        """How long every slot of a core must have been running its job for the core to be stalled."""
        recent = sorted(self.recent_runs(STALL_WINDOW))
        if not recent:
            return self.stall_floor_s
        p90 = recent[min(len(recent) - 1, max(0, math.ceil(0.9 * len(recent)) - 1))]
        return max(self.stall_floor_s, self.stall_factor * p90)

    def _working_floor(self) -> Optional[int]:
        """The minimum pass over the cores that are not stalled, or None when no core is or can be stalled
        yet (the plain minimum stands); marks the stalled cores and sets :attr:`recheck_s`."""
        now = self.clock()
        floor_s = self.stall_floor_s
        if now < self.quiet_until and not self.nstalled:  # the common case: jobs younger than the floor
            self.recheck_s = max(self.quiet_until - now, _MIN_RECHECK_S)
            return None
        horizon = now - floor_s  # a job started after this is not stalled, whatever the limit
        limit = -1.0
        quiet = now + floor_s  # a job that starts from now on is not stalled before this
        wait = min(floor_s, _MAX_RECHECK_S)
        working: Optional[int] = None
        for c in self.core_list:
            newest = NOT_RUNNING  # the most recent job start over its slots (NOT_RUNNING if one runs none)
            for m in c.members:
                if newest == NOT_RUNNING or m.started > newest:
                    newest = m.started
                    if newest == NOT_RUNNING:
                        break
            if newest > horizon:
                if newest != NOT_RUNNING:
                    quiet = min(quiet, newest + floor_s)
                    wait = min(wait, newest + floor_s - now)
            else:
                if limit < 0.0:
                    limit = self.stall_limit()
                if newest < now - limit:
                    if not c.stalled:
                        c.stalled = True
                        self.nstalled += 1
                        self.stalls += 1
                        self.newly_stalled = True
                    continue
                quiet = now  # its limit may still shrink with new samples: no shortcut meanwhile
                wait = min(wait, newest + limit - now)
            if working is None or c.passv < working:
                working = c.passv
        self.quiet_until = quiet
        self.recheck_s = max(wait, _MIN_RECHECK_S)
        if working is None:  # every core stalled: nobody to keep pace with (the caller's core is idle anyway)
            return min(c.passv for c in self.core_list)
        return working

    def rejoin(self, core: CoreState) -> None:
        """A job of a core found stalled ended: it paces the others again, from the pass of the most
        lagging working core (rounds it missed while stalled are not owed: catching up would park the
        cores that kept the session serving)."""
        core.stalled = False
        self.nstalled -= 1
        others = [c.passv for c in self.core_list if c is not core and not c.stalled]
        if others:
            core.passv = max(core.passv, min(others))


def _lowest(idle: Sequence[W], limit: int) -> Optional[W]:
    """The idle worker of the core with the smallest pass below ``limit`` (ties: longest idle)."""
    best: Optional[W] = None
    best_pass = limit
    for worker in idle:  # idle is in idle-since order, so ties go to the longest idle slot
        p = worker.core.passv
        if p < best_pass:
            best, best_pass = worker, p
    return best


def _lcm(a: int, b: int) -> int:
    return a * b // math.gcd(a, b)
