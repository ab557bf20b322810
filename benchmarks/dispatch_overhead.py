"""Dispatcher overhead and core utilisation with fake jobs (no NPU, no C).

Two measurements:

* **zero-latency rate**: trivial jobs (``lambda slot: None``) pushed through ``Dispatcher.submit`` as
  fast as one producer thread can, with ordered and unordered delivery: tasks/s end to end (submit
  to last delivery);
* **fraction of ideal**: 3 fake cores (one slot each) running ``time.sleep`` jobs of 0.5/2/10 ms, with
  and without uniform +/-20 % jitter, fed by one producer through a queue of ``--queue`` tasks.
  ``ideal`` = sum of the requested sleeps / 3 (perfect packing on 3 cores); the ratio printed is
  ideal / elapsed.  ``util`` is the measured busy time / (3 x elapsed), which discounts sleep overshoot
  on a loaded machine.

``--policies`` also runs the alternatives considered for assignment (see the dispatcher docstring):
the shared queue with several ``max_lead`` bounds (``inf`` = purely work-conserving), the peer's fixed
core per ticket with a head-of-line FIFO, and per-core queues with a fixed round-robin assignment.

Usage::

    python benchmarks/dispatch_overhead.py [--json] [--policies] [--seconds 0.6] [--repeat 1]
"""
from __future__ import annotations

import argparse
import collections
import json
import random
import statistics
import sys
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

from _common import import_package

import_package()  # from a source checkout too

from ztu_somemodelruntime_ez_rknn_async.dispatcher import Dispatcher, WorkerSlot  # noqa: E402

CORES = 3


class _Done:
    """Counts deliveries; sets an event at the target."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self.event = threading.Event()

    def __call__(self, result: Any, error: Optional[BaseException]) -> None:
        self.count += 1  # only ever called on the one callback thread
        if self.count == self.target:
            self.event.set()


def zero_latency_rate(n: int, *, sequential: bool, queue: int, per_core: int = 1) -> float:
    """Tasks/s for trivial jobs, submit of the first to delivery of the last."""
    slots = [WorkerSlot(c, i, None) for i in range(per_core) for c in range(CORES)]
    d = Dispatcher(
        slots,
        schedule_weights={c: 1 for c in range(CORES)},
        max_queue_size=queue,
        submit_timeout_s=60.0,
        sequential=sequential,
        pacing=False,
        name="bench",
    )
    done = _Done(n)

    def job(slot: WorkerSlot) -> None:
        return None

    submit = d.submit
    start = time.perf_counter()
    for _ in range(n):
        submit(job, done)
    done.event.wait()
    elapsed = time.perf_counter() - start
    d.close()
    return n / elapsed


def _durations(latency_s: float, jitter: float, seconds: float, seed: int) -> List[float]:
    n = max(60, int(seconds * CORES / latency_s))
    rnd = random.Random(seed)
    return [latency_s * (1.0 + jitter * (2.0 * rnd.random() - 1.0)) for _ in range(n)]


def _sleep_job(t: float) -> Callable[[WorkerSlot], None]:
    def job(slot: WorkerSlot) -> None:
        time.sleep(t)

    return job


def run_dispatcher(durations: Sequence[float], *, queue: int, max_lead: Optional[int]) -> Tuple[float, float]:
    """Elapsed seconds and measured busy seconds for the project's dispatcher."""
    slots = [WorkerSlot(c, 0, None) for c in range(CORES)]
    d = Dispatcher(
        slots,
        schedule_weights={c: 1 for c in range(CORES)},
        max_queue_size=queue,
        submit_timeout_s=60.0,
        sequential=True,
        pacing=False,
        name="bench",
        max_lead=max_lead,
    )
    done = _Done(len(durations))
    jobs = [_sleep_job(t) for t in durations]
    start = time.perf_counter()
    for job in jobs:
        d.submit(job, done)
    done.event.wait()
    elapsed = time.perf_counter() - start
    busy = sum(d.stats().busy_s_per_core.values())
    d.close()
    return elapsed, busy


def run_peer_fifo(durations: Sequence[float], *, queue: int) -> Tuple[float, float]:
    """The peer's scheme: core fixed per ticket (round robin), workers only take the queue head."""
    cond = threading.Condition()
    fifo: Deque[Tuple[int, float]] = collections.deque()
    busy = [0.0] * CORES
    state = {"stop": False, "left": len(durations)}
    finished = threading.Event()

    def worker(core: int) -> None:
        while True:
            with cond:
                while not state["stop"] and not (fifo and fifo[0][0] == core):
                    cond.wait()
                if state["stop"]:
                    return
                _, t = fifo.popleft()
                cond.notify_all()
            t0 = time.perf_counter()
            time.sleep(t)
            busy[core] += time.perf_counter() - t0
            with cond:
                state["left"] -= 1
                if state["left"] == 0:
                    finished.set()

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in range(CORES)]
    for th in threads:
        th.start()
    start = time.perf_counter()
    for ticket, t in enumerate(durations):
        with cond:
            while len(fifo) >= queue:
                cond.wait()
            fifo.append((ticket % CORES, t))
            cond.notify_all()
    finished.wait()
    elapsed = time.perf_counter() - start
    with cond:
        state["stop"] = True
        cond.notify_all()
    for th in threads:
        th.join()
    return elapsed, sum(busy)


def run_per_core_queues(durations: Sequence[float], *, queue: int) -> Tuple[float, float]:
    """Fixed round-robin assignment into one queue per core (no head-of-line blocking between cores)."""
    conds = [threading.Condition() for _ in range(CORES)]
    queues: List[Deque[float]] = [collections.deque() for _ in range(CORES)]
    busy = [0.0] * CORES
    left = [len(durations)]
    left_lock = threading.Lock()
    finished = threading.Event()
    per_queue = max(1, queue // CORES)

    def worker(core: int) -> None:
        cond, q = conds[core], queues[core]
        while True:
            with cond:
                while not q:
                    cond.wait()
                t = q.popleft()
                cond.notify_all()
            if t < 0:
                return
            t0 = time.perf_counter()
            time.sleep(t)
            busy[core] += time.perf_counter() - t0
            with left_lock:
                left[0] -= 1
                if left[0] == 0:
                    finished.set()

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in range(CORES)]
    for th in threads:
        th.start()
    start = time.perf_counter()
    for ticket, t in enumerate(durations):
        core = ticket % CORES
        cond, q = conds[core], queues[core]
        with cond:
            while len(q) >= per_queue:
                cond.wait()
            q.append(t)
            cond.notify_all()
    finished.wait()
    elapsed = time.perf_counter() - start
    for core in range(CORES):
        with conds[core]:
            queues[core].append(-1.0)
            conds[core].notify_all()
    for th in threads:
        th.join()
    return elapsed, sum(busy)


def fraction_table(
    *, seconds: float, queue: int, policies: bool, repeat: int
) -> List[Dict[str, Any]]:
    runners: Dict[str, Callable[[Sequence[float]], Tuple[float, float]]] = {
        "shared queue, max_lead=default(2)": lambda d: run_dispatcher(d, queue=queue, max_lead=None),
    }
    if policies:
        runners.update(
            {
                "shared queue, max_lead=1 (lock-step)": lambda d: run_dispatcher(d, queue=queue, max_lead=1),
                "shared queue, max_lead=4": lambda d: run_dispatcher(d, queue=queue, max_lead=4),
                "shared queue, max_lead=inf": lambda d: run_dispatcher(d, queue=queue, max_lead=10**9),
                "peer: fixed core + head-of-line FIFO": lambda d: run_peer_fifo(d, queue=queue),
                "per-core queues, fixed round robin": lambda d: run_per_core_queues(d, queue=queue),
            }
        )
    rows: List[Dict[str, Any]] = []
    for latency_ms in (0.5, 2.0, 10.0):
        for jitter in (0.0, 0.2):
            for name, runner in runners.items():
                ratios: List[float] = []
                utils: List[float] = []
                for rep in range(repeat):
                    durations = _durations(latency_ms / 1000.0, jitter, seconds, seed=rep)
                    elapsed, busy = runner(durations)
                    ratios.append(sum(durations) / CORES / elapsed)
                    utils.append(busy / CORES / elapsed)
                rows.append(
                    {
                        "policy": name,
                        "latency_ms": latency_ms,
                        "jitter": jitter,
                        "tasks": len(durations),
                        "fraction_of_ideal": statistics.median(ratios),
                        "utilisation": statistics.median(utils),
                    }
                )
    return rows


# --------------------------------------------------------------------------------------------------------
# Deterministic discrete-event simulation of the assignment policies (no threads, no noise)
# --------------------------------------------------------------------------------------------------------


def simulate(
    policy: str,
    durations: Sequence[float],
    *,
    speeds: Sequence[float] = (1.0, 1.0, 1.0),
    queue: int = 6,
    max_lead: Optional[int] = None,
) -> Tuple[float, List[int]]:
    """Makespan and per-core counts of one policy in virtual time (equal weights).

    The producer is infinitely fast: it refills the queue whenever a task leaves it.  ``policy`` is
    ``"lead"`` (the dispatcher's rule; ``max_lead=None`` = unbounded), ``"peer"`` (fixed core per
    ticket, workers only take the queue head) or ``"percore"`` (fixed core per ticket, one queue per
    core of ``queue // cores`` tasks; the producer blocks on the full queue of the next ticket's core).
    """
    cores = len(speeds)
    n = len(durations)
    free_at = [0.0] * cores
    running = [False] * cores
    counts = [0] * cores
    now = 0.0
    produced = 0
    done = 0
    shared: Deque[int] = collections.deque()
    per_core: List[Deque[int]] = [collections.deque() for _ in range(cores)]
    per_cap = max(1, queue // cores)

    def refill() -> None:
        nonlocal produced
        if policy == "percore":
            while produced < n and len(per_core[produced % cores]) < per_cap:
                per_core[produced % cores].append(produced)
                produced += 1
        else:
            while produced < n and len(shared) < queue:
                shared.append(produced)
                produced += 1

    def start(core: int, ticket: int) -> None:
        running[core] = True
        counts[core] += 1
        free_at[core] = now + durations[ticket] / speeds[core]

    refill()
    while done < n:
        progress = True
        while progress:
            progress = False
            if policy == "lead":
                lowest = min(counts)
                idle = [c for c in range(cores) if not running[c]]
                eligible = [c for c in idle if max_lead is None or counts[c] < lowest + max_lead]
                if shared and eligible:
                    core = min(eligible, key=lambda c: counts[c])
                    start(core, shared.popleft())
                    progress = True
            elif policy == "peer":
                if shared and not running[shared[0] % cores]:
                    ticket = shared.popleft()
                    start(ticket % cores, ticket)
                    progress = True
            else:
                for core in range(cores):
                    if not running[core] and per_core[core]:
                        start(core, per_core[core].popleft())
                        progress = True
            if progress:
                refill()
        busy = [c for c in range(cores) if running[c]]
        core = min(busy, key=lambda c: free_at[c])
        now = free_at[core]
        running[core] = False
        done += 1
    return now, counts


def simulation_table(*, n: int = 6000, queue: int = 6) -> List[Dict[str, Any]]:
    """Fraction of ideal for each policy in virtual time (ideal: total work / total speed)."""
    rnd = random.Random(42)
    uniform = [1.0 + 0.2 * (2.0 * rnd.random() - 1.0) for _ in range(n)]
    tail = [(4.0 if rnd.random() < 0.05 else 1.0) * (1.0 + 0.2 * (2.0 * rnd.random() - 1.0)) for _ in range(n)]
    scenarios: List[Tuple[str, List[float], Tuple[float, ...]]] = [
        ("equal latency", [1.0] * n, (1.0, 1.0, 1.0)),
        ("+/-20% jitter", uniform, (1.0, 1.0, 1.0)),
        ("5% of tasks 4x longer", tail, (1.0, 1.0, 1.0)),
        ("+/-20% jitter, core 2 30% slower", uniform, (1.0, 1.0, 1.0 / 1.3)),
    ]
    policies: List[Tuple[str, str, Optional[int]]] = [
        ("shared queue, max_lead=1 (lock-step)", "lead", 1),
        ("shared queue, max_lead=2 (default)", "lead", 2),
        ("shared queue, max_lead=4", "lead", 4),
        ("shared queue, max_lead=inf", "lead", None),
        ("peer: fixed core + head-of-line FIFO", "peer", None),
        ("per-core queues, fixed round robin", "percore", None),
    ]
    rows: List[Dict[str, Any]] = []
    for scenario, durations, speeds in scenarios:
        ideal = sum(durations) / sum(speeds)
        for name, policy, lead in policies:
            makespan, counts = simulate(policy, durations, speeds=speeds, queue=queue, max_lead=lead)
            rows.append(
                {
                    "scenario": scenario,
                    "policy": name,
                    "queue": queue,
                    "fraction_of_ideal": ideal / makespan,
                    "max_count_skew": max(counts) - min(counts),
                }
            )
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--policies", action="store_true", help="also measure the alternative policies")
    parser.add_argument("--seconds", type=float, default=0.6, help="approximate duration of each sleep run")
    parser.add_argument("--tasks", type=int, default=30000, help="tasks for the zero-latency runs")
    parser.add_argument("--queue", type=int, default=6, help="max_queue_size for the sleep runs")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions (median reported)")
    parser.add_argument("--simulate-only", action="store_true", help="only the virtual-time policy simulation")
    args = parser.parse_args(argv)

    simulated = simulation_table(queue=args.queue) if (args.policies or args.simulate_only) else []
    if args.simulate_only:
        if args.json:
            json.dump({"simulated_policies": simulated}, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            _print_simulated(simulated)
        return 0

    rates: Dict[str, float] = {}
    for sequential in (True, False):
        for queue in (3, 64):
            key = f"sequential={sequential},max_queue_size={queue}"
            rates[key] = statistics.median(
                zero_latency_rate(args.tasks, sequential=sequential, queue=queue) for _ in range(args.repeat)
            )
    rows = fraction_table(seconds=args.seconds, queue=args.queue, policies=args.policies, repeat=args.repeat)

    if args.json:
        json.dump(
            {"zero_latency_tasks_per_s": rates, "sleep_jobs": rows, "simulated_policies": simulated},
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return 0
    print("zero-latency dispatch rate (3 slots, trivial jobs):")
    for key, rate in rates.items():
        print(f"  {key:<40} {rate:10.0f} tasks/s")
    print(f"\nsleep jobs on 3 fake cores (max_queue_size={args.queue}): fraction of ideal / utilisation")
    for row in rows:
        print(
            f"  {row['latency_ms']:5.1f} ms jitter={row['jitter']:.1f}  {row['policy']:<40} "
            f"{row['fraction_of_ideal']:.3f} / {row['utilisation']:.3f}  ({row['tasks']} tasks)"
        )
    if simulated:
        _print_simulated(simulated)
    return 0


def _print_simulated(rows: Sequence[Dict[str, Any]]) -> None:
    print("\nvirtual-time simulation of the assignment policies (3 cores, equal weights): fraction of ideal")
    for row in rows:
        print(
            f"  {row['scenario']:<34} {row['policy']:<40} {row['fraction_of_ideal']:.3f}"
            f"  (count skew {row['max_count_skew']}, queue {row['queue']})"
        )


if __name__ == "__main__":
    raise SystemExit(main())
