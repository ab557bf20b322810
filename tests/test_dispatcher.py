"""Tests for the dispatcher with fake jobs (Events and tiny sleeps, no C).

No assertion depends on wall-clock speed: timing is controlled with Events, waits are bounded by
generous limits that only turn a hang into a failure, and pacing is checked on an injected clock.
"""
from __future__ import annotations

import gc
import logging
import math
import random
import sys
import threading
import time
import weakref
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ztu_somemodelruntime_ez_rknn_async._dispatch_policy import DEFAULT_LEAD_ROUNDS
from ztu_somemodelruntime_ez_rknn_async.dispatcher import Dispatcher, DispatcherStats, WorkerSlot
from ztu_somemodelruntime_ez_rknn_async.errors import SessionClosedError, SubmitTimeoutError

LONG = 30.0  # bound that only turns a hang into a failure


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LONG
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


def make_slots(cores: Sequence[int] = (0, 1, 2), per_core: int = 1, context: Any = None) -> List[WorkerSlot]:
    return [WorkerSlot(core, i, context) for i in range(per_core) for core in cores]


def make(
    cores: Sequence[int] = (0, 1, 2),
    per_core: int = 1,
    weights: Optional[Mapping[int, int]] = None,
    slots: Optional[Sequence[WorkerSlot]] = None,
    **kwargs: Any,
) -> Dispatcher:
    options: Dict[str, Any] = dict(max_queue_size=64, submit_timeout_s=LONG, sequential=True, pacing=False)
    options.update(kwargs)
    return Dispatcher(
        slots or make_slots(cores, per_core), schedule_weights=weights or {c: 1 for c in cores}, name="t", **options
    )


class Recorder:
    """deliver() callback recording every outcome (thread-safe: called on one thread anyway)."""

    def __init__(self) -> None:
        self.outcomes: List[Tuple[Any, Any]] = []
        self.calls: Dict[Any, int] = {}
        self.lock = threading.Lock()
        self.threads: set[str] = set()

    def __call__(self, key: Any) -> Callable[[Any, Optional[BaseException]], None]:
        def deliver(result: Any, error: Optional[BaseException]) -> None:
            with self.lock:
                self.outcomes.append((key, error if error is not None else result))
                self.calls[key] = self.calls.get(key, 0) + 1
                self.threads.add(threading.current_thread().name)

        return deliver

    @property
    def keys(self) -> List[Any]:
        with self.lock:
            return [k for k, _ in self.outcomes]

    def count(self) -> int:
        with self.lock:
            return len(self.outcomes)


def const(value: Any) -> Callable[[WorkerSlot], Any]:
    return lambda slot: value


def sleeper(seconds: float) -> Callable[[WorkerSlot], None]:
    def job(slot: WorkerSlot) -> None:
        if seconds:
            time.sleep(seconds)

    return job


def appender(target: List[str], item: str) -> Callable[[WorkerSlot], None]:
    return lambda slot: target.append(item)


class Gates:
    """Jobs that announce they started and block until released."""

    def __init__(self, n: int) -> None:
        self.started = [threading.Event() for _ in range(n)]
        self.release = [threading.Event() for _ in range(n)]
        self.slots: List[Optional[WorkerSlot]] = [None] * n

    def job(self, i: int) -> Callable[[WorkerSlot], int]:
        def run(slot: WorkerSlot) -> int:
            self.slots[i] = slot
            self.started[i].set()
            assert self.release[i].wait(LONG), f"job {i} never released"
            return i

        return run

    def open_all(self) -> None:
        for e in self.release:
            e.set()


@pytest.fixture()
def closing() -> Iterator[List[Dispatcher]]:
    """Dispatchers appended here are closed after the test even when it fails."""
    made: List[Dispatcher] = []
    yield made
    for d in made:
        d.close(wait=False)


def check_balance(stats: DispatcherStats) -> None:
    in_flight = stats.queue_depth + stats.running
    assert stats.submitted == stats.completed + stats.failed + stats.cancelled + in_flight


# -- construction -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "slots, weights, kwargs",
    [
        pytest.param([], {0: 1}, {}, id="no-slots"),
        pytest.param(make_slots([0]), {}, {}, id="no-weights"),
        pytest.param(make_slots([0]), {0: 0}, {}, id="zero-weight"),
        pytest.param(make_slots([0, 1]), {0: 1}, {}, id="slot-core-without-weight"),
        pytest.param(make_slots([0]), {0: 1, 1: 1}, {}, id="weighted-core-without-slot"),
        pytest.param([WorkerSlot(0, 0, None)] * 2, {0: 1}, {}, id="duplicate-slot"),
        pytest.param(make_slots([0]), {0: 1}, {"max_queue_size": 0}, id="queue-size-0"),
        pytest.param(make_slots([0]), {0: 1}, {"backlog_limit": 0}, id="backlog-0"),
        pytest.param(make_slots([0]), {0: 1}, {"submit_timeout_s": -1}, id="negative-timeout"),
        pytest.param(make_slots([0]), {0: 1}, {"max_lead": 0}, id="lead-0"),
    ],
)
def test_invalid_configuration_is_rejected(
    slots: List[WorkerSlot], weights: Dict[int, int], kwargs: Dict[str, Any]
) -> None:
    options: Dict[str, Any] = dict(max_queue_size=4, submit_timeout_s=1.0, sequential=True, pacing=False)
    options.update(kwargs)
    with pytest.raises(ValueError):
        Dispatcher(slots, schedule_weights=weights, **options)


def test_one_named_thread_per_slot_plus_the_callback_thread(closing: List[Dispatcher]) -> None:
    d = make(per_core=2)
    closing.append(d)
    names = {t.name for t in threading.enumerate()}
    expected = {f"t-core{c}-{i}" for c in range(3) for i in range(2)} | {"t-callback"}
    assert expected <= names
    d.close()
    names = {t.name for t in threading.enumerate()}
    assert not expected & names


# -- ordering ---------------------------------------------------------------------------------------------


@settings(max_examples=25)
@given(
    sequential=st.booleans(),
    # One choice per completion, drawn up front: which started jobs are running depends on thread
    # timing, so the choice is mapped onto them at run time (draws must not depend on that state).
    choices=st.lists(st.integers(0, 10_000), min_size=1, max_size=10),
)
def test_delivery_order_under_random_completion_orders(sequential: bool, choices: List[int]) -> None:
    n = len(choices)
    d = make(per_core=2, sequential=sequential)
    try:
        gates = Gates(n)
        rec = Recorder()
        for i in range(n):
            d.submit(gates.job(i), rec(i))
        released: List[int] = []
        while len(released) < n:
            # Only a started job can complete: pick the next completion among those.
            def startable() -> List[int]:
                return [i for i in range(n) if gates.started[i].is_set() and i not in released]

            wait_until(lambda: bool(startable()), "a job to start")
            candidates = startable()
            i = candidates[choices[len(released)] % len(candidates)]
            released.append(i)
            gates.release[i].set()
            if not sequential:
                # Wait for this delivery so that completion order is exactly the release order.
                wait_until(lambda: rec.count() == len(released), "the delivery")
        wait_until(lambda: rec.count() == n, "all deliveries")
        assert rec.keys == (list(range(n)) if sequential else released)
        assert rec.threads == {"t-callback"}
    finally:
        d.close()


@settings(max_examples=20)
@given(n=st.integers(1, 25), close_after=st.integers(0, 25), sequential=st.booleans(), seed=st.integers(0, 2**16))
def test_every_accepted_submission_is_delivered_exactly_once_across_close(
    n: int, close_after: int, sequential: bool, seed: int
) -> None:
    rnd = random.Random(seed)
    d = make(sequential=sequential, max_queue_size=32)
    gates = Gates(n)
    rec = Recorder()
    for i in range(n):
        d.submit(gates.job(i), rec(i))
        if rnd.random() < 0.5:
            gates.release[i].set()
    # Release a random subset, close while the rest are queued or running, then let everything end.
    for i in rnd.sample(range(n), min(close_after, n)):
        gates.release[i].set()
    d.close(wait=False)
    gates.open_all()
    d.close()
    assert sorted(rec.calls) == list(range(n))
    assert set(rec.calls.values()) == {1}
    for key, outcome in rec.outcomes:
        assert outcome == key or isinstance(outcome, SessionClosedError)
    if sequential:
        assert rec.keys == list(range(n))
    stats = d.stats()
    check_balance(stats)
    assert stats.completed + stats.cancelled == n
    assert stats.cancelled == sum(isinstance(o, SessionClosedError) for _, o in rec.outcomes)
    assert stats.delivered == n
    with pytest.raises(SessionClosedError):
        d.submit(gates.job(0), rec("late"))


@settings(max_examples=15)
@given(close_at=st.integers(0, 120), sequential=st.booleans())
def test_exactly_once_with_concurrent_submitters_and_close(close_at: int, sequential: bool) -> None:
    d = make(per_core=2, sequential=sequential, max_queue_size=4)
    rec = Recorder()
    accepted: List[Any] = []
    rejected: List[Any] = []
    record_lock = threading.Lock()

    def submitter(tag: int) -> None:
        for k in range(50):
            key = (tag, k)
            try:
                d.submit(sleeper(0.0001 if k % 3 == 0 else 0.0), rec(key))
            except SessionClosedError:
                with record_lock:
                    rejected.append(key)
            else:
                with record_lock:
                    accepted.append(key)

    threads = [threading.Thread(target=submitter, args=(tag,)) for tag in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: rec.count() >= close_at or not any(t.is_alive() for t in threads), "deliveries")
    d.close()
    for t in threads:
        t.join(LONG)
    assert sorted(rec.calls) == sorted(accepted)
    assert set(rec.calls.values()) == {1}
    assert len(accepted) + len(rejected) == 150
    stats = d.stats()
    check_balance(stats)
    assert stats.submitted == len(accepted) == stats.delivered
    if sequential:
        # Delivery order is the acceptance order: per submitter, its own keys come out in order.
        for tag in range(3):
            mine = [k for k in rec.keys if k[0] == tag]
            assert mine == sorted(mine)


# -- assignment -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [{0: 1, 1: 1, 2: 1}, {0: 2, 1: 1}], ids=["1-1-1", "2-1"])
@pytest.mark.parametrize("max_lead", [1, None], ids=["lead1", "lead-default"])
@pytest.mark.parametrize("jitter", [False, True], ids=["instant", "jitter"])
def test_per_core_counts_follow_the_weights(
    weights: Dict[int, int], max_lead: Optional[int], jitter: bool
) -> None:
    n = 240 if not jitter else 60
    d = make(cores=sorted(weights), weights=weights, max_lead=max_lead)
    rnd = random.Random(1)
    delays = [rnd.random() * 0.002 if jitter else 0.0 for _ in range(n)]
    rec = Recorder()
    for i in range(n):
        d.submit(sleeper(delays[i]), rec(i))
    wait_until(lambda: rec.count() == n, "all deliveries")
    stats = d.stats()
    d.close()
    total = sum(weights.values())
    lead = max_lead if max_lead is not None else DEFAULT_LEAD_ROUNDS
    for core, w in weights.items():
        # Bounded lead: rounds (count / weight) of any two cores differ by less than lead + 1 / w.
        bound = lead if len(set(weights.values())) == 1 else w * (lead + 1)
        assert abs(stats.tasks_per_core[core] - n * w / total) <= bound, stats.tasks_per_core
    assert sum(stats.tasks_per_core.values()) == n


@settings(max_examples=10)
@given(
    weights=st.lists(st.integers(1, 3), min_size=2, max_size=3),
    per_core=st.integers(1, 2),
    max_lead=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_counts_stay_within_the_lead_bound_for_any_weights(
    weights: List[int], per_core: int, max_lead: int, seed: int
) -> None:
    rnd = random.Random(seed)
    schedule = dict(enumerate(weights))
    d = make(cores=sorted(schedule), per_core=per_core, weights=schedule, max_lead=max_lead)
    rec = Recorder()
    n = 90
    for i in range(n):
        d.submit(sleeper(rnd.choice([0.0, 0.0, 0.0003])), rec(i))
    wait_until(lambda: rec.count() == n, "all deliveries")
    counts = d.stats().tasks_per_core
    d.close()
    total = sum(weights)
    for core, w in schedule.items():
        assert abs(counts[core] - n * w / total) < w * (max_lead + 1), (schedule, counts)


def test_an_idle_core_does_not_wait_behind_a_busy_one_but_its_lead_is_bounded(closing: List[Dispatcher]) -> None:
    d = make(max_lead=2)
    closing.append(d)
    core0_release = threading.Event()

    def job(slot: WorkerSlot) -> int:
        if slot.core == 0:
            assert core0_release.wait(LONG)
        return slot.core

    rec = Recorder()
    for i in range(20):
        d.submit(job, rec(i))
    # Core 0 is stuck on its first task; cores 1 and 2 keep going until they are 2 rounds ahead.
    wait_until(lambda: d.stats().completed == 6, "cores 1 and 2 to run ahead")
    stats = d.stats()
    assert stats.tasks_per_core == {0: 1, 1: 3, 2: 3}
    assert stats.queue_depth == 20 - 7
    core0_release.set()
    wait_until(lambda: rec.count() == 20, "all deliveries")
    assert rec.keys == list(range(20))


# -- a stalled core stops pacing the others ---------------------------------------------------------------


class HangOnce:
    """A job that blocks (until released) on the first task each slot of ``cores`` gets; quick otherwise."""

    def __init__(self, cores: Sequence[int]) -> None:
        self.cores = set(cores)
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.hung: List[WorkerSlot] = []

    def __call__(self, slot: WorkerSlot) -> int:
        with self.lock:
            hang = slot.core in self.cores and slot not in self.hung
            if hang:
                self.hung.append(slot)
        if hang:
            assert self.release.wait(LONG), "hung job never released"
        return slot.core

    def count(self) -> int:
        with self.lock:
            return len(self.hung)


@pytest.mark.parametrize("one_by_one", [False, True], ids=["burst", "one-by-one"])
def test_a_hung_job_does_not_stop_the_other_cores(closing: List[Dispatcher], one_by_one: bool) -> None:
    # Before the stall rule, cores 1 and 2 parked for good once max_lead rounds ahead of the hung core.
    d = make()
    closing.append(d)
    gates = Gates(1)
    rec = Recorder()
    d.submit(gates.job(0), rec("hung"), ordered=False)
    assert gates.started[0].wait(LONG)
    hung_core = gates.slots[0].core  # type: ignore[union-attr]
    for i in range(20):
        d.submit(const(i), rec(i))
        if one_by_one:
            # Each lands on an idle slot parked by the lead (with nothing queued when it parked): the
            # submission itself must get a parked slot to look again.
            wait_until(lambda: rec.count() == i + 1, f"delivery {i}")
    wait_until(lambda: rec.count() == 20, "the 20 quick jobs")
    assert not gates.release[0].is_set() and rec.keys == list(range(20))
    stats = d.stats()
    assert stats.tasks_per_core[hung_core] == 1 and stats.running == 1
    assert d._engine.schedule.stalls == 1
    gates.open_all()
    wait_until(lambda: rec.count() == 21, "the hung job")
    d.close()


@pytest.mark.parametrize("weights", [{0: 1, 1: 1, 2: 1}, {0: 2, 1: 1, 2: 1}], ids=["1-1-1", "2-1-1"])
def test_a_stalled_core_rejoins_and_the_counts_follow_the_weights_again(
    closing: List[Dispatcher], weights: Dict[int, int]
) -> None:
    d = make(cores=sorted(weights), weights=weights, max_lead=2)
    closing.append(d)
    hang = HangOnce([0])
    rec = Recorder()
    d.submit(hang, rec("hung"), ordered=False)
    wait_until(lambda: hang.count() == 1, "core 0 to hang")
    for i in range(60):
        d.submit(const(i), rec(i))
    wait_until(lambda: rec.count() == 60, "the other cores to serve everything")
    before = d.stats().tasks_per_core
    assert before[0] == 1
    hang.release.set()
    wait_until(lambda: rec.count() == 61, "the hung job")
    # Core 0 rejoins at the pass of the most lagging working core: it does not owe the ~20 rounds it
    # missed (catching up would park cores 1 and 2 meanwhile), so the new tasks follow the weights.
    n = 120
    rnd = random.Random(3)
    for i in range(n):
        d.submit(sleeper(rnd.choice([0.0, 0.0, 0.0003])), rec(("after", i)))
    wait_until(lambda: rec.count() == 61 + n, "the tasks after the rejoin")
    after = d.stats().tasks_per_core
    d.close()
    total = sum(weights.values())
    lead = 2
    for core, w in weights.items():
        delta = after[core] - before[core] - (1 if core == 0 else 0)
        # Rounds differ by less than lead + 1/w before and after: twice that on the difference.
        assert abs(delta - n * w / total) < 2 * w * (lead + 1), (before, after)
    assert after[0] - before[0] > 1  # it takes tasks again


def test_the_stall_limit_scales_with_the_typical_run_time_on_the_dispatcher_clock(
    closing: List[Dispatcher],
) -> None:
    clock = FakeClock(tick=0.0)
    d = make(clock=clock, stall_floor_s=0.05, max_lead=2)  # default stall_factor: 8
    closing.append(d)
    engine = d._engine
    for _ in range(3):  # typical run time 1 s (fake): stall limit 8 s
        d.run_inline(lambda slot: clock.advance(1.0), LONG)
    gates = Gates(1)
    rec = Recorder()
    d.submit(gates.job(0), rec("hung"), ordered=False)
    assert gates.started[0].wait(LONG)
    for i in range(20):
        d.submit(const(i), rec(i))
    wait_until(lambda: d.stats().completed == 6, "the other cores to reach the lead")
    assert d.stats().queue_depth == 14

    def parked_slots_look_again() -> None:
        seen = engine.rechecks
        wait_until(lambda: engine.rechecks >= seen + 2, "parked slots to look again")

    parked_slots_look_again()  # no fake time passed: the lead holds
    clock.advance(5.0)  # past the floor, not past 8 x the typical run time
    parked_slots_look_again()
    assert d.stats().completed == 6 and engine.schedule.stalls == 0
    clock.advance(3.5)
    wait_until(lambda: rec.count() == 20, "the quick jobs once core 0 is stalled")
    assert engine.schedule.stalls == 1
    gates.open_all()
    wait_until(lambda: rec.count() == 21, "the hung job")
    d.close()


@settings(max_examples=12, deadline=None)
@given(
    weights=st.lists(st.integers(1, 3), min_size=2, max_size=3),
    per_core=st.integers(1, 2),
    max_lead=st.integers(1, 3),
    hang_mask=st.integers(1, 6),
    n=st.integers(5, 40),
    inline_every=st.integers(0, 5),
    one_by_one=st.booleans(),
)
def test_hung_cores_never_stop_the_working_ones(
    weights: List[int], per_core: int, max_lead: int, hang_mask: int, n: int, inline_every: int, one_by_one: bool
) -> None:
    schedule = dict(enumerate(weights))
    hung_cores = [c for c in schedule if hang_mask >> c & 1][: len(schedule) - 1]  # at least one works
    d = make(
        cores=sorted(schedule), per_core=per_core, weights=schedule, max_lead=max_lead, sequential=False,
        stall_floor_s=0.01,
    )
    hang = HangOnce(hung_cores)
    rec = Recorder()
    try:
        for i in range(n):
            d.submit(hang, rec(i))
            if inline_every and i % inline_every == 0:
                assert d.run_inline(lambda slot: slot.core, LONG) in schedule
            if one_by_one:
                wait_until(lambda: rec.count() + hang.count() == i + 1, f"task {i}")
        # Every task that does not hang completes while the hung ones stay blocked.
        wait_until(lambda: rec.count() + hang.count() == n, "every task that does not hang")
        assert not hang.release.is_set()
        hang.release.set()
        wait_until(lambda: rec.count() == n, "the hung tasks")
    finally:
        hang.release.set()
        d.close()
    assert sorted(rec.calls) == list(range(n)) and set(rec.calls.values()) == {1}
    stats = d.stats()
    check_balance(stats)
    assert stats.completed == n and stats.running == stats.queue_depth == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"stall_factor": 0.5}, {"stall_factor": math.inf}, {"stall_floor_s": 0}, {"stall_floor_s": -1.0},
     {"stall_floor_s": math.nan}],
    ids=["factor-below-1", "factor-inf", "floor-0", "floor-negative", "floor-nan"],
)
def test_invalid_stall_settings_are_rejected(kwargs: Dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="stall_"):
        make(**kwargs)


def test_the_stall_rule_can_be_disabled(closing: List[Dispatcher]) -> None:
    d = make(stall_floor_s=math.inf, max_lead=2)
    closing.append(d)
    gates = Gates(1)
    rec = Recorder()
    d.submit(gates.job(0), rec("hung"), ordered=False)
    assert gates.started[0].wait(LONG)
    for i in range(20):
        d.submit(const(i), rec(i))
    wait_until(lambda: d.stats().completed == 6, "cores 1 and 2 to reach the lead")
    # Parked without a timeout: nothing but the end of the hung job can move them again.
    assert all(w.timeout < 0 for w in d._engine.idle) and len(d._engine.idle) == 2
    gates.open_all()
    wait_until(lambda: rec.count() == 21, "everything")
    d.close()


def test_a_slot_is_never_used_by_two_threads_at_once() -> None:
    class Ctx:
        def __init__(self) -> None:
            self.in_use = False
            self.violations = 0
            self.guard = threading.Lock()

    slots = [WorkerSlot(core, i, Ctx()) for core in range(3) for i in range(2)]
    d = make(slots=slots, max_queue_size=8)
    rnd = random.Random(7)

    def job(slot: WorkerSlot) -> None:
        ctx = slot.context
        assert isinstance(ctx, Ctx)
        with ctx.guard:
            if ctx.in_use:
                ctx.violations += 1
            ctx.in_use = True
        time.sleep(rnd.random() * 0.0005)
        with ctx.guard:
            ctx.in_use = False

    rec = Recorder()
    errors: List[BaseException] = []

    def inline_user() -> None:
        try:
            for _ in range(30):
                d.run_inline(job, LONG)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    users = [threading.Thread(target=inline_user) for _ in range(2)]
    for t in users:
        t.start()
    for i in range(150):
        d.submit(job, rec(i))
    for t in users:
        t.join(LONG)
    wait_until(lambda: rec.count() == 150, "all deliveries")
    d.close()
    assert not errors
    assert [k for k, o in rec.outcomes if o is not None] == []
    assert sum(s.context.violations for s in slots) == 0  # type: ignore[attr-defined]
    stats = d.stats()
    assert stats.inline_runs == 60
    assert sum(stats.tasks_per_slot) == 210 == sum(stats.tasks_per_core.values())


# -- back-pressure ----------------------------------------------------------------------------------------


def test_a_full_queue_times_out_and_close_wakes_a_blocked_submitter() -> None:
    d = make(cores=[0], max_queue_size=2, submit_timeout_s=0.05)
    gates = Gates(3)
    rec = Recorder()
    for i in range(3):  # one running, two waiting
        d.submit(gates.job(i), rec(i))
    assert gates.started[0].wait(LONG)
    assert d.stats().queue_depth == 2
    with pytest.raises(SubmitTimeoutError) as info:
        d.submit(gates.job(0), rec("x"))
    assert isinstance(info.value, TimeoutError)
    assert "max_queue_size=2" in str(info.value) and "0.05" in str(info.value)

    # A submitter with a long timeout is woken by close() and gets SessionClosedError.
    d2 = make(cores=[0], max_queue_size=1, submit_timeout_s=LONG)
    gates2 = Gates(2)
    d2.submit(gates2.job(0), rec("a"))
    d2.submit(gates2.job(1), rec("b"))
    outcome: List[BaseException] = []

    def blocked() -> None:
        try:
            d2.submit(gates2.job(1), rec("c"))
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=blocked)
    t.start()
    wait_until(lambda: d2._engine.space_waiters == 1, "the submitter to block")
    d2.close(wait=False)
    t.join(LONG)
    assert not t.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], SessionClosedError)
    gates.open_all()
    gates2.open_all()
    d.close()
    d2.close()
    assert sorted(map(str, rec.calls)) == ["0", "1", "2", "a", "b"]


def test_a_full_callback_backlog_times_out() -> None:
    d = make(backlog_limit=2, submit_timeout_s=0.05)
    gates = Gates(3)
    rec = Recorder()
    for i in range(3):
        d.submit(gates.job(i), rec(i))
    gates.release[1].set()
    gates.release[2].set()
    # Ticket 0 still runs: tickets 1 and 2 are complete but cannot be delivered in order.
    wait_until(lambda: d.stats().backlog == 2, "the backlog to fill")
    with pytest.raises(SubmitTimeoutError, match="backlog_limit=2"):
        d.submit(gates.job(0), rec("x"))
    gates.open_all()
    d.close()
    assert rec.keys == [0, 1, 2]


def test_submit_and_run_inline_from_a_deliver_callback_do_not_deadlock() -> None:
    d = make(backlog_limit=1, max_queue_size=2)
    rec = Recorder()
    inline_results: List[int] = []
    done = threading.Event()
    gates = Gates(4)

    def deliver_and_submit(result: Any, error: Optional[BaseException]) -> None:
        # The backlog is full (tickets 1..3 wait behind 0): a submit that waited for the backlog
        # would wait for this very thread.
        for k in range(6):
            d.submit(const(k), rec(("nested", k)))
        inline_results.append(d.run_inline(lambda slot: 42, LONG))
        done.set()

    d.submit(gates.job(0), deliver_and_submit)
    for i in range(1, 3):
        d.submit(gates.job(i), rec(i))
    for i in (1, 2):
        gates.release[i].set()
    wait_until(lambda: d.stats().backlog >= 1, "the backlog to fill")
    gates.release[0].set()
    assert done.wait(LONG)
    wait_until(lambda: rec.count() == 8, "the nested deliveries")
    d.close()
    assert inline_results == [42]
    assert rec.keys == [1, 2] + [("nested", k) for k in range(6)]


def test_close_from_a_deliver_callback_returns_and_cancels_the_rest() -> None:
    closed = threading.Event()
    d = make(cores=[0], on_closed=closed.set)
    gates = Gates(5)
    rec = Recorder()
    returned = threading.Event()

    def close_here(result: Any, error: Optional[BaseException]) -> None:
        d.close()  # wait=True from the callback thread: must signal, not join itself
        returned.set()

    d.submit(gates.job(0), close_here)
    for i in range(1, 5):
        d.submit(gates.job(i), rec(i))
    gates.release[0].set()
    assert returned.wait(LONG)
    # The worker took task 1 as soon as task 0 finished, before the callback closed: it runs to the end.
    gates.open_all()
    assert closed.wait(LONG)
    assert rec.keys == [1, 2, 3, 4]
    assert rec.outcomes[0] == (1, 1)
    assert all(isinstance(o, SessionClosedError) for _, o in rec.outcomes[1:])
    assert d.stats().cancelled == 3
    d.close()  # idempotent


def test_close_from_a_job_returns() -> None:
    d = make(cores=[0])
    rec = Recorder()
    d.submit(lambda slot: d.close(), rec(0))
    d.submit(lambda slot: 1, rec(1))
    wait_until(lambda: rec.count() == 2, "the deliveries")
    d.close()
    assert rec.outcomes[0] == (0, None)
    assert isinstance(rec.outcomes[1][1], (SessionClosedError, int))


def test_deliver_exceptions_go_to_unraisablehook_and_later_deliveries_happen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    d = make()
    rec = Recorder()

    def bad(result: Any, error: Optional[BaseException]) -> None:
        raise ValueError("from deliver")

    d.submit(lambda slot: 0, rec(0))
    d.submit(lambda slot: 1, bad)
    d.submit(lambda slot: 2, rec(2))
    d.close()
    assert rec.keys == [0, 2]
    assert len(seen) == 1 and isinstance(seen[0].exc_value, ValueError) and seen[0].object is bad
    assert d.stats().callback_errors == 1


def test_job_exceptions_are_delivered() -> None:
    d = make()
    rec = Recorder()
    boom = KeyError("job")

    def failing(slot: WorkerSlot) -> None:
        raise boom

    d.submit(failing, rec(0))
    d.submit(lambda slot: 1, rec(1))
    with pytest.raises(KeyError):
        d.run_inline(failing, LONG)
    d.close()
    assert rec.outcomes == [(0, boom), (1, 1)]
    stats = d.stats()
    assert (stats.failed, stats.completed, stats.inline_runs, stats.inline_failed) == (1, 1, 1, 1)


# -- run_inline -------------------------------------------------------------------------------------------


def test_run_inline_runs_on_the_callers_thread() -> None:
    d = make()
    assert d.run_inline(lambda slot: threading.current_thread().name, LONG) == threading.current_thread().name
    d.close()


def test_run_inline_times_out_when_every_slot_is_busy_and_close_wakes_it() -> None:
    d = make(cores=[0])
    gates = Gates(1)
    rec = Recorder()
    d.submit(gates.job(0), rec(0))
    assert gates.started[0].wait(LONG)
    with pytest.raises(SubmitTimeoutError, match="no free slot"):
        d.run_inline(lambda slot: None, 0.05)
    outcome: List[BaseException] = []

    def waiter() -> None:
        try:
            d.run_inline(lambda slot: None, LONG)
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=waiter)
    t.start()
    wait_until(lambda: len(d._engine.waiters) == 1, "the borrower to wait")
    d.close(wait=False)
    t.join(LONG)
    assert len(outcome) == 1 and isinstance(outcome[0], SessionClosedError)
    gates.open_all()
    d.close()
    assert rec.outcomes == [(0, 0)]
    with pytest.raises(SessionClosedError):
        d.run_inline(lambda slot: None, LONG)


def test_a_waiting_run_inline_goes_before_queued_tasks() -> None:
    d = make(cores=[0])
    gates = Gates(1)
    order: List[str] = []
    rec = Recorder()
    d.submit(gates.job(0), rec(0))
    for i in range(3):
        d.submit(appender(order, f"queued{i}"), rec(i + 1))
    t = threading.Thread(target=lambda: d.run_inline(lambda slot: order.append("inline"), LONG))
    t.start()
    wait_until(lambda: len(d._engine.waiters) == 1, "the borrower to wait")
    gates.open_all()
    t.join(LONG)
    wait_until(lambda: rec.count() == 4, "the deliveries")
    d.close()
    assert order == ["inline", "queued0", "queued1", "queued2"]


# -- shutdown ---------------------------------------------------------------------------------------------


def test_close_is_bounded_when_a_job_hangs(caplog: pytest.LogCaptureFixture) -> None:
    closed = threading.Event()
    d = make(cores=[0, 1], close_timeout_s=0.05, on_closed=closed.set)
    gates = Gates(1)
    rec = Recorder()
    d.submit(gates.job(0), rec(0))
    assert gates.started[0].wait(LONG)
    with caplog.at_level(logging.WARNING, logger="ztu_somemodelruntime_ez_rknn_async.dispatcher"):
        d.close()
    assert "still busy: core0-0" in caplog.text
    assert [(s.core, s.index) for s in d.busy_slots()] == [(0, 0)]
    assert not closed.is_set()  # the context of the hung slot is still in use
    # the hung task was resolved when close() gave up on it, so nobody waits on the hung job
    wait_until(lambda: rec.count() == 1, "the closed delivery")
    assert isinstance(rec.outcomes[0][1], SessionClosedError) and "still running" in str(rec.outcomes[0][1])
    gates.open_all()
    assert closed.wait(LONG)  # the last thread out runs on_closed
    assert d.busy_slots() == ()
    time.sleep(0.05)
    assert rec.count() == 1  # the late outcome is dropped: delivered exactly once


def test_on_closed_runs_once_after_every_thread_left() -> None:
    calls: List[List[str]] = []

    def on_closed() -> None:
        me = threading.current_thread()
        calls.append([t.name for t in threading.enumerate() if t.name.startswith("t-") and t is not me])

    d = make(per_core=2, on_closed=on_closed)
    for i in range(10):
        d.submit(lambda slot: None, lambda r, e: None)
    d.close()
    d.close()
    assert len(calls) == 1
    assert calls[0] == []  # no other dispatcher thread still alive when the hook runs


def test_dropping_the_owner_stops_the_threads() -> None:
    class Owner:
        def __init__(self, on_closed: Callable[[], None]) -> None:
            self.dispatcher = Dispatcher(
                make_slots(),
                schedule_weights={0: 1, 1: 1, 2: 1},
                max_queue_size=64,
                submit_timeout_s=LONG,
                sequential=True,
                pacing=False,
                name="owned",
                on_closed=on_closed,
            )

    closed = threading.Event()
    owner = Owner(closed.set)
    ref = weakref.ref(owner)
    rec = Recorder()
    gates = Gates(6)
    for i in range(6):
        owner.dispatcher.submit(gates.job(i), rec(i))
        gates.release[i].set()
    del owner
    gc.collect()
    assert ref() is None
    wait_until(lambda: not any(t.name.startswith("owned") for t in threading.enumerate()), "threads to exit")
    assert closed.wait(LONG)  # on_closed ran even though nobody called close()
    assert rec.count() == 6  # every accepted submission was still delivered (result or closed)


def test_submit_after_close_raises() -> None:
    d = make()
    d.close()
    with pytest.raises(SessionClosedError):
        d.submit(lambda slot: None, lambda r, e: None)
    assert d.closed


def test_context_manager_closes() -> None:
    with make() as d:
        d.submit(lambda slot: None, lambda r, e: None)
    assert d.closed


# -- pacing -----------------------------------------------------------------------------------------------


class FakeClock:
    """Fake monotonic clock: each read advances it by ``tick``; jobs advance it explicitly.

    Only reads made by the thread that created it advance it (worker threads reading it concurrently
    must not perturb what the test measures).  It remembers the last value each thread read, so a test
    can see the exact acceptance time the dispatcher stamped on a submission (the last read ``submit``
    makes on the caller's thread).
    """

    def __init__(self, tick: float) -> None:
        self.now = 100.0
        self.tick = tick
        self.lock = threading.Lock()
        self.owner = threading.get_ident()
        self.last_read: Dict[int, float] = {}

    def __call__(self) -> float:
        me = threading.get_ident()
        with self.lock:
            if me == self.owner:
                self.now += self.tick
            self.last_read[me] = self.now
            return self.now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds

    def mine(self) -> float:
        with self.lock:
            return self.last_read[threading.get_ident()]


@pytest.mark.parametrize("pacing", [True, False])
def test_pacing_spaces_accepted_submissions_on_the_clock(pacing: bool) -> None:
    clock = FakeClock(tick=0.001)
    d = make(pacing=pacing, clock=clock)
    # One inline run of 0.03 (fake) seconds seeds the EMA: interval = EMA / 3 cores.
    d.run_inline(lambda slot: clock.advance(0.03), LONG)
    gates = Gates(6)
    rec = Recorder()
    accepted: List[float] = []
    for i in range(6):
        d.submit(gates.job(i), rec(i))  # jobs stay blocked: the EMA does not move meanwhile
        accepted.append(clock.mine())
    stats = d.stats()
    gates.open_all()
    d.close()
    interval = (0.03 + clock.tick) / 3  # the inline run's measured time (one tick for the reads)
    if pacing:
        assert stats.pacing_interval_s == pytest.approx(interval)
        assert stats.paced_submits == 5  # all but the first, which came long after construction
        for a, b in zip(accepted, accepted[1:]):
            assert b - a >= interval - 1e-9
    else:
        assert stats.paced_submits == 0
        assert stats.pacing_interval_s == 0.0
    assert rec.keys == list(range(6))


def test_pacing_wait_is_woken_by_close() -> None:
    clock = FakeClock(tick=0.0)
    d = make(pacing=True, clock=clock, submit_timeout_s=1e6)
    d.run_inline(lambda slot: clock.advance(3e5), LONG)  # interval: 1e5 fake seconds
    d.submit(lambda slot: None, lambda r, e: None)  # first one goes through (timer from construction)
    outcome: List[BaseException] = []

    def paced() -> None:
        try:
            d.submit(lambda slot: None, lambda r, e: None)
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=paced)
    t.start()
    wait_until(lambda: d._engine.space_waiters == 1, "the paced submitter to wait")
    d.close(wait=False)
    t.join(LONG)
    assert len(outcome) == 1 and isinstance(outcome[0], SessionClosedError)
    d.close()


def test_a_rejected_submission_does_not_move_the_pacing_timer() -> None:
    clock = FakeClock(tick=0.0)
    d = make(cores=[0], pacing=True, clock=clock, max_queue_size=1, submit_timeout_s=0.0)
    gates = Gates(3)
    rec = Recorder()
    d.run_inline(lambda slot: clock.advance(1.0), LONG)
    d.submit(gates.job(0), rec(0))
    before = d._engine.last_accept
    clock.advance(2.0)
    d.submit(gates.job(1), rec(1))  # queued
    accepted = d._engine.last_accept
    assert accepted > before
    clock.advance(2.0)
    with pytest.raises(SubmitTimeoutError, match="max_queue_size"):
        d.submit(gates.job(2), rec(2))
    assert d._engine.last_accept == accepted  # peer bug §21.1.9: the timer moved here
    gates.open_all()
    d.close()


# -- statistics -------------------------------------------------------------------------------------------


def test_stats_add_up() -> None:
    d = make(per_core=2, weights={0: 1, 1: 1, 2: 1})
    rec = Recorder()
    gates = Gates(4)

    def maybe_fail(i: int) -> Callable[[WorkerSlot], int]:
        def job(slot: WorkerSlot) -> int:
            if i % 5 == 0:
                raise RuntimeError(i)
            return i

        return job

    for i in range(30):
        d.submit(maybe_fail(i), rec(i))
    for i in range(3):
        d.run_inline(lambda slot: None, LONG)
    wait_until(lambda: rec.count() == 30, "deliveries")
    for i in range(4):
        d.submit(gates.job(i), rec(100 + i))
    d.close(wait=False)
    gates.open_all()
    d.close()
    s = d.stats()
    check_balance(s)
    assert s.submitted == 34 and s.failed == 6 and s.delivered == 34
    assert s.completed + s.cancelled == 28
    assert s.inline_runs == 3
    ran = s.completed + s.failed + s.inline_runs
    assert sum(s.tasks_per_core.values()) == ran == sum(s.tasks_per_slot)
    assert s.run_latency.count == ran
    assert s.queue_wait.count == s.completed + s.failed
    assert s.run_latency.p50 <= s.run_latency.p90 <= s.run_latency.p99
    assert s.queue_depth == s.running == s.backlog == 0
    assert all(0.0 <= u for u in s.utilisation_per_core.values())
    assert sum(s.busy_s_per_core.values()) == pytest.approx(sum(s.busy_s_per_slot))


def test_latency_percentiles_on_a_fake_clock() -> None:
    clock = FakeClock(tick=0.0)
    d = make(cores=[0], clock=clock)
    def takes(seconds: float) -> Callable[[WorkerSlot], None]:
        return lambda slot: clock.advance(seconds)

    for ms in range(1, 101):
        d.run_inline(takes(ms / 1000.0), LONG)
    s = d.stats()
    d.close()
    assert s.run_latency.count == 100
    assert (s.run_latency.p50, s.run_latency.p90, s.run_latency.p99) == pytest.approx((0.050, 0.090, 0.099))
    assert s.run_latency.mean == pytest.approx(0.0505)
    assert s.busy_s_per_core[0] == pytest.approx(5.05)
    assert s.utilisation_per_core[0] == pytest.approx(1.0)  # the fake clock only moved inside jobs
    assert s.queue_wait.count == 0  # inline runs do not queue


def test_results_and_callbacks_are_not_retained_after_delivery() -> None:
    class Result:
        pass

    d = make()
    refs: List["weakref.ReferenceType[Any]"] = []
    delivered = threading.Event()

    def deliver(result: Any, error: Optional[BaseException]) -> None:
        refs.append(weakref.ref(result))
        delivered.set()

    d.submit(lambda slot: Result(), deliver)
    assert delivered.wait(LONG)
    callback_ref = weakref.ref(deliver)
    del deliver
    wait_until(lambda: d.stats().delivered == 1, "the delivery to be counted")
    gc.collect()
    assert refs[0]() is None  # the dispatcher dropped the result once it was delivered
    assert callback_ref() is None  # ... and the callback
    d.close()


def test_interpreter_exit_delivers_pending_outcomes_and_runs_on_closed(tmp_path: Any) -> None:
    import os
    import pathlib
    import subprocess

    import ztu_somemodelruntime_ez_rknn_async as pkg

    script = tmp_path / "exit_script.py"
    script.write_text(
        "import time\n"
        "from ztu_somemodelruntime_ez_rknn_async.dispatcher import Dispatcher, WorkerSlot\n"
        "def deliver(k):\n"
        "    return lambda r, e: print('delivered', k, type(e).__name__ if e else r, flush=True)\n"
        "d = Dispatcher([WorkerSlot(0, 0, None)], schedule_weights={0: 1}, max_queue_size=8,\n"
        "               submit_timeout_s=5, sequential=True, pacing=False, name='x',\n"
        "               on_closed=lambda: print('on_closed', flush=True))\n"
        "d.submit(lambda slot: time.sleep(0.2) or 'slow', deliver(0))\n"
        "for k in range(1, 4):\n"
        "    d.submit(lambda slot: 'quick', deliver(k))\n"
        "keep = d  # still referenced at exit: only the atexit hook closes it\n"
    )
    root = pathlib.Path(pkg.__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env, check=True
    ).stdout.splitlines()
    assert out[0] == "delivered 0 slow"
    # The others were either run or cancelled by the exit-time close, but every one was delivered.
    assert [line.split()[1] for line in out[1:4]] == ["1", "2", "3"]
    assert all(line.split()[2] in ("quick", "SessionClosedError") for line in out[1:4])
    assert out[4:] == ["on_closed"]


def test_an_unordered_submission_neither_waits_for_nor_holds_back_ordered_ones() -> None:
    """The session's internal futures are unordered: a hung one must not stall later ordered callbacks."""
    d = make(cores=[0], per_core=2)  # two slots, one core: no weighted lead holds the free slot back
    gates = Gates(1)
    rec = Recorder()
    d.submit(gates.job(0), rec("hung-internal"), ordered=False)
    assert gates.started[0].wait(LONG)
    for i in range(5):
        d.submit(const(i), rec(i))
    d.submit(const("late-internal"), rec("late-internal"), ordered=False)
    wait_until(lambda: rec.count() == 6, "every outcome but the hung one")
    assert [k for k in rec.keys if k != "late-internal"] == [0, 1, 2, 3, 4]
    gates.open_all()
    d.close()
    assert rec.keys[-1] == "hung-internal" and rec.count() == 7


def test_a_non_blocking_submit_fails_at_once_when_the_queue_is_full() -> None:
    d = make(cores=[0], max_queue_size=1, submit_timeout_s=LONG)
    gates = Gates(2)
    rec = Recorder()
    d.submit(gates.job(0), rec(0))
    assert gates.started[0].wait(LONG)
    d.submit(gates.job(1), rec(1))  # fills the queue
    with pytest.raises(SubmitTimeoutError, match="max_queue_size=1"):
        d.submit(const("x"), rec("x"), block=False)  # would wait LONG if it blocked
    gates.open_all()
    d.close()
    assert sorted(rec.calls) == [0, 1]


# ---------------------------------------------------------------------- deadlines (expire_after_s)


def test_a_deadline_resolves_a_hung_job_once_in_its_place_in_the_order() -> None:
    gates = Gates(1)
    rec = Recorder()
    with make(cores=(0, 1)) as d:
        d.submit(gates.job(0), rec("hung"), expire_after_s=0.05, expired_error=lambda: TimeoutError("expired"))
        assert gates.started[0].wait(LONG)
        for i in range(5):
            d.submit(const(i), rec(i))  # served by the other slot, delivered after the hung task's error
        wait_until(lambda: rec.count() == 6, "the deadline and the later tasks")
        assert rec.keys == ["hung", 0, 1, 2, 3, 4]
        assert isinstance(rec.outcomes[0][1], TimeoutError) and str(rec.outcomes[0][1]) == "expired"
        gates.open_all()  # the late outcome is dropped
        wait_until(lambda: d.stats().running == 0, "the hung job to return")
    assert rec.calls["hung"] == 1 and rec.count() == 6


def test_a_deadline_removes_a_task_still_waiting_and_spares_finished_ones() -> None:
    gates = Gates(1)
    rec = Recorder()
    ran: List[str] = []
    with make(cores=(0,)) as d:
        d.submit(gates.job(0), rec("hung"))
        assert gates.started[0].wait(LONG)
        d.submit(appender(ran, "queued"), rec("queued"), expire_after_s=0.05)  # default: TimeoutError
        wait_until(lambda: rec.count() == 0 and d.stats().queue_depth == 0, "the queued task to expire")
        gates.open_all()
        wait_until(lambda: rec.count() == 2, "both outcomes")
        d.submit(const("fast"), rec("fast"), expire_after_s=0.05)
        wait_until(lambda: rec.count() == 3, "the fast task")
        time.sleep(0.15)  # its deadline passes after it completed: nothing more is delivered
    assert rec.keys == ["hung", "queued", "fast"] and ran == []
    assert isinstance(rec.outcomes[1][1], TimeoutError) and rec.outcomes[2][1] == "fast"
    assert rec.calls == {"hung": 1, "queued": 1, "fast": 1}
