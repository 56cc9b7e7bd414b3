"""How to heal a latency or bandwidth toxic on a real Toxiproxy 2.12.0 without wedging it,
when clients disconnect around the heal (upstream issue #558). Prints figures; asserts nothing.

    .venv/bin/python bench/bench_toxic_heal.py                      # every scenario, ~4 min
    .venv/bin/python bench/bench_toxic_heal.py --scenario probe-timeout --rounds 5
    .venv/bin/python bench/bench_toxic_heal.py --scenario upstream-dies --rounds 40 --cap 12 \\
        --method tox0+delete --method tox0+grace+delete             # the PATCH-then-DELETE race

Why removals are slow (toxiproxy v2.12.0 source, link.go / toxic_collection.go): DELETE
(``ToxicCollection.RemoveToxic``) holds the proxy's collection lock while, for every link (one
per connection and direction), it interrupts the toxic and flushes the chunks queued in front
of it with ``WriteOutput(chunk, 5 s)``. A link whose writer just failed on a dead peer waits
for that lock (``RemoveLink``) instead of reading, so each queued chunk costs 5 s. A toxic
blocked on a bare ``stub.Output <- c`` (latency, bandwidth pieces, noop: its writer is gone, or
stuck writing to a peer that stopped reading) cannot be interrupted at all, and
``InterruptToxic`` then waits forever. While the lock is held, ``GET /proxies``,
``GET /proxies/<p>/toxics`` and every *new connection* through the proxy (the accept loop calls
``StartLink``) wait too; only ``GET /version`` answers. The API answers 503 after 25 s
(``http.TimeoutHandler``) while the removal goes on.

``PATCH {"toxicity": 0}`` (``UpdateToxic``) takes the same lock but never flushes: it
interrupts the toxic and restarts the stub, and ``ToxicStub.Run`` runs a ``NoopToxic``
whenever ``rand.Float32() >= toxicity`` -- always for 0 -- in open links and in new ones. Held
data is forwarded at once. A DELETE sent right after it can still meet a writer that died on
the data the PATCH released and has not yet left the link table (``tox0+delete`` below);
waiting ``GRACE`` first lets those writers go.

Scenarios (each round: a fresh toxiproxy-server, SIGKILLed at the end of the round so a wedged
server never leaks into the next; an HTTP upstream answering each request in ``--parts``
separate TCP writes; a "survivor": a keep-alive connection that keeps reading, whose answer is
held by the toxic when the heal starts):

* ``probe-timeout``: latency 2 s downstream; ``--clients`` httpx clients (as harness.probe)
  time out after 0.5 s and close while their answers sit in the toxic; heal 0.3 s later.
* ``stalled-reader``: latency downstream; the clients ask for an endless stream and never
  read (their buffers fill); the heal starts and 0.3 s later the clients reset. Any call that
  takes the lock wedges; rounds are capped.
* ``upstream-dies``: latency 2 s *upstream*; the clients send requests in ``--parts`` writes;
  the upstream server resets those connections after 0.4 s (a killed service); heal 0.4 s later.
* ``bandwidth-reset``: bandwidth 2 KB/s downstream; clients reset (SO_LINGER 0, as HAProxy
  does) after 0.5 s and the heal starts at once (bandwidth's writers find a dead peer within
  ~100 ms by themselves, latency's only when the toxic releases data).

Heal methods, alternated round by round so machine noise hits all alike:

* ``delete``: DELETE the toxic (what the nemesis does; its 20 s timeout + one retry only
  changes when it gives up, not when the lock is released);
* ``delete-2s-retry``: DELETE with a 2 s client timeout, repeated until it answers;
* ``neutral+grace+delete``: PATCH neutral attributes (latency 0 / bandwidth rate 0), GRACE, DELETE;
* ``tox0``: PATCH toxicity 0 only (the toxic stays, inert);
* ``tox0+delete``: PATCH toxicity 0, then DELETE at once;
* ``tox0+grace+delete``: PATCH toxicity 0, wait GRACE, DELETE (the recommended heal);
* ``disable+delete+enable``: disable the proxy (closes every connection), DELETE, enable;
* ``disable+tox0+delete+enable``: the same with toxicity 0 before the DELETE;
* ``recreate``: DELETE the proxy and create it again (a new toxic collection).

What it showed (2.12.0 on the 2-core dev machine; medians): DELETE 10 s in the three
disconnect scenarios with 4-write answers (5 s per queued chunk; with 8 writes a 503 at 25 s
and the lock held 30 s), new connections blocked as long; tox0+grace+delete ~5 ms to inert
(the PATCH; up to 5 s for bandwidth, its own interrupt path), 0.5 s to removed, no wedge in
120 racy rounds, while tox0+delete without the grace wedged for good in 4 of 120 (~3 %);
bandwidth ``rate: 0`` is no neutral value (its Pipe then loops sending empty pieces: data
stops until the DELETE); a client that stopped reading wedges every method that keeps
connections (only disable-first or recreate get through, by dropping them).

Columns, in seconds from the heal's start: ``heal`` the method's calls; ``clean`` when the
toxic stopped acting as the method sees it (the PATCH's answer for tox0, the DELETE's for
delete, the enable for disable); ``lock`` when ``GET /proxies/<p>/toxics`` first answered
(collection lock free; polled after the method); ``fresh`` when a brand-new connection first
got a whole answer within 0.3 s (floor ~0.13: the first try starts at 0.1); ``held`` when the
survivor's held answer arrived. ``x rec`` is the ratio of ``fresh`` medians to the recommended
method's (``tox0+grace+delete``): how much longer new traffic waited. ``survivor`` kept/dropped;
``wedged`` rounds whose lock was still held at the cap; ``after`` the toxic at the end
(gone / inert / ACTIVE).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.tools import find_toxiproxy_server
from harness.toxiproxy import ProxySpec, ToxicSpec, ToxiproxyClient, ToxiproxyError, ToxiproxyUnreachable
from tests.toxiproxy.traffic import PART, REQUEST, PartsUpstream, read_answer, reset_close

FRESH_DEADLINE = 0.3
"""A fresh connection counts as healthy when its whole answer arrives within this."""

FRESH_START = 0.1
"""Seconds after the heal's start before the first fresh connection: one opened earlier is
accepted before the heal takes the lock and is healed with the old ones."""

GRACE = 0.5
"""Seconds between the PATCH and the DELETE in the ``+grace+`` methods."""

STEP_TIMEOUT = 10.0
"""Client timeout of the calls inside a method (a bandwidth toxic's own interrupt path may
legitimately take 5 s: ``WriteOutput(p, 5 s)``)."""

RECOMMENDED = "tox0+grace+delete"


# -- the upstream and the clients --------------------------------------------------------------

class Victims:
    """The clients that go away around the heal (see the scenarios)."""

    def __init__(self, kind: str, count: int, port: int, parts: int) -> None:
        self.kind, self.count, self.port, self.parts = kind, count, port, parts
        self.sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for _ in range(self.count):
            if self.kind == "httpx":
                thread = threading.Thread(target=self._httpx_probe, daemon=True)
                thread.start()
                self._threads.append(thread)
                continue
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sockets.append(sock)
            if self.kind == "stall":
                sock.sendall(b"GET /stream HTTP/1.1\r\n\r\n")
            elif self.kind == "parts-upstream":
                lines = [b"GET /parts HTTP/1.1\r\n"] + [b"X-Part: %d\r\n" % i for i in range(self.parts - 2)]
                for piece in [*lines, b"\r\n"]:
                    sock.sendall(piece)
                    time.sleep(0.01)
            else:
                sock.sendall(REQUEST)

    def _httpx_probe(self) -> None:
        # As harness.probe does: a request with a timeout; on timeout httpx closes the socket.
        with httpx.Client(timeout=0.5, trust_env=False) as client, contextlib.suppress(httpx.HTTPError):
            client.get(f"http://127.0.0.1:{self.port}/parts")

    def before_heal(self) -> None:
        for thread in self._threads:
            thread.join()
        if self.kind == "reset":
            time.sleep(0.5)
            self.close()

    def at_heal(self) -> None:
        if self.kind == "stall":  # they give up while the heal is in flight
            threading.Timer(0.3, self.close).start()

    def close(self) -> None:
        for sock in self.sockets:
            reset_close(sock)


class Survivor:
    """A keep-alive connection that keeps reading: opened clean before the toxic, then one
    request whose answer the toxic holds when the heal starts."""

    def __init__(self, port: int, cap: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=cap + 5)
        self.sock.sendall(REQUEST)
        read_answer(self.sock)
        self.arrived: float | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)

    def hold(self) -> None:
        self.sock.sendall(REQUEST)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            read_answer(self.sock)
            self.arrived = time.perf_counter()

    def state(self) -> str:
        """'kept' if the held answer arrived and one more request is answered within 1 s."""
        self._thread.join(timeout=2)
        try:
            if self.arrived is None:
                return "dropped"
            self.sock.settimeout(1.0)
            self.sock.sendall(REQUEST)
            read_answer(self.sock)
            return "kept"
        except (OSError, EOFError):
            return "dropped"
        finally:
            self.sock.close()


class FreshProbe:
    """From FRESH_START after the heal's start: new connections, one at a time, until one
    gets a whole answer within FRESH_DEADLINE. ``ok_at`` = seconds from the heal's start."""

    def __init__(self, port: int, started: float, cap: float) -> None:
        self.port, self.started, self.cap = port, started, cap
        self.ok_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        time.sleep(FRESH_START)
        while not self._stop.is_set() and time.perf_counter() - self.started < self.cap:
            with contextlib.suppress(OSError, EOFError), \
                    socket.create_connection(("127.0.0.1", self.port), timeout=FRESH_DEADLINE) as sock:
                sock.settimeout(FRESH_DEADLINE)
                begun = time.perf_counter()
                sock.sendall(REQUEST)
                read_answer(sock)
                if time.perf_counter() - begun <= FRESH_DEADLINE:
                    self.ok_at = time.perf_counter() - self.started
                    return
            time.sleep(0.05)

    def wait(self, until: float) -> None:
        self._thread.join(timeout=max(0.0, until - time.perf_counter()))
        self._stop.set()


# -- Toxiproxy ---------------------------------------------------------------------------------

@contextlib.contextmanager
def toxiproxy(log_dir: Path) -> Iterator[str]:
    """A fresh toxiproxy-server; SIGKILLed on exit (it may be wedged)."""
    binary = str(find_toxiproxy_server().path)
    for _attempt in range(3):
        port = free_port()
        with (log_dir / "toxiproxy.log").open("ab") as log:
            process = subprocess.Popen([binary, "-host", "127.0.0.1", "-port", str(port)], stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env={**os.environ, "LOG_LEVEL": "warn"})
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/version", timeout=0.2, trust_env=False).status_code == 200:
                    break
            time.sleep(0.02)
        else:
            process.kill()
            process.wait()
            continue
        try:
            yield url
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        return
    raise RuntimeError(f"toxiproxy-server did not start; see {log_dir / 'toxiproxy.log'}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- scenarios ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    name: str
    toxic: ToxicSpec
    neutral: dict[str, int]
    victims: str  # "httpx" | "stall" | "parts-upstream" | "reset"
    pause: float  # seconds from the victims' departure (or start, for stall) to the heal
    cap: float  # seconds a round may spend from the heal's start
    methods: tuple[str, ...]
    rounds: int  # default rounds per method


def _latency(stream: str, ms: int) -> ToxicSpec:
    return ToxicSpec("latency", name="slow", stream=stream, attributes={"latency": ms, "jitter": 0})  # type: ignore[arg-type]


ALL_METHODS = ("delete", "delete-2s-retry", "neutral+grace+delete", "tox0", "tox0+delete", "tox0+grace+delete",
               "disable+delete+enable", "disable+tox0+delete+enable", "recreate")
LATENCY_NEUTRAL = {"latency": 0, "jitter": 0}

SCENARIOS = {
    "probe-timeout": Scenario(
        "probe-timeout", _latency("downstream", 2000), LATENCY_NEUTRAL, "httpx", 0.3, 30.0,
        ("delete", "delete-2s-retry", "neutral+grace+delete", "tox0+delete", "tox0+grace+delete",
         "disable+delete+enable", "disable+tox0+delete+enable", "recreate"), 2),
    "stalled-reader": Scenario(
        "stalled-reader", _latency("downstream", 500), LATENCY_NEUTRAL, "stall", 1.5, 12.0,
        ("delete", "tox0+grace+delete", "disable+tox0+delete+enable", "recreate"), 1),
    "upstream-dies": Scenario(
        "upstream-dies", _latency("upstream", 2000), LATENCY_NEUTRAL, "parts-upstream", 0.6, 30.0,
        ("delete", "tox0+delete", "tox0+grace+delete"), 3),
    "bandwidth-reset": Scenario(
        "bandwidth-reset", ToxicSpec("bandwidth", name="slow", stream="downstream", attributes={"rate": 2}),
        {"rate": 0}, "reset", 0.0, 30.0, ("delete", "neutral+grace+delete", "tox0+grace+delete"), 3),
}


# -- heal methods ------------------------------------------------------------------------------

@dataclass
class Round:
    scenario: str
    method: str
    heal: float = float("nan")
    clean: float | None = None
    lock: float | None = None
    fresh: float | None = None
    held: float | None = None
    survivor: str = "?"
    after: str = "?"
    notes: list[str] = field(default_factory=list)

    @property
    def wedged(self) -> bool:
        return self.lock is None


class Heal:
    """The calls of one method; notes when the toxic stopped acting."""

    def __init__(self, url: str, scenario: Scenario, proxy: ProxySpec, result: Round) -> None:
        self.scenario, self.proxy, self.result = scenario, proxy, result
        self.toxic = scenario.toxic.name or ""
        self.started = time.perf_counter()
        # Made before the heal starts: making a client costs tens of ms, which would inflate
        # the fast methods and let the slow ones dodge the race they are measured in.
        self._clients = {t: ToxiproxyClient(url, timeout=t) for t in {STEP_TIMEOUT, 2.0, scenario.cap}}

    def start(self) -> float:
        self.started = time.perf_counter()
        return self.started

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def step(self, what: str, call: Callable[[ToxiproxyClient], object], timeout: float = STEP_TIMEOUT) -> bool:
        begun = time.perf_counter()
        try:
            call(self._clients[timeout])
            return True
        except ToxiproxyError as exc:
            status = "no answer" if isinstance(exc, ToxiproxyUnreachable) else f"HTTP {exc.status}"
            self.result.notes.append(f"{what}: {status} after {time.perf_counter() - begun:.1f}s")
            return False

    def clean(self) -> None:
        self.result.clean = time.perf_counter() - self.started

    def delete(self, timeout: float = STEP_TIMEOUT) -> bool:
        return self.step("DELETE", lambda c: c.remove_toxic(self.proxy.name, self.toxic, missing_ok=True), timeout)

    def patch(self, what: str, **changes: object) -> bool:
        return self.step(what, lambda c: c.update_toxic(self.proxy.name, self.toxic, **changes))  # type: ignore[arg-type]

    def run(self, method: str) -> None:
        name, cap = self.proxy.name, self.scenario.cap
        if method == "delete":
            if self.delete(cap):
                self.clean()
        elif method == "delete-2s-retry":
            while time.perf_counter() - self.started < cap:
                if self.delete(2.0):
                    self.clean()
                    break
        elif method in ("tox0", "tox0+delete", "tox0+grace+delete", "neutral+grace+delete"):
            if method.startswith("neutral"):
                ok = self.patch("PATCH neutral", attributes=self.scenario.neutral)
            else:
                ok = self.patch("PATCH toxicity 0", toxicity=0)
            if ok:
                self.clean()
                if "grace" in method:
                    time.sleep(GRACE)
                if method != "tox0":
                    self.delete()
        elif method in ("disable+delete+enable", "disable+tox0+delete+enable"):
            ok = self.step("disable", lambda c: c.disable(name))
            ok = ok and ("tox0" not in method or self.patch("PATCH toxicity 0", toxicity=0))
            ok = ok and self.delete(cap if "tox0" not in method else STEP_TIMEOUT)
            if ok and self.step("enable", lambda c: c.enable(name)):
                self.clean()
        elif method == "recreate":
            if self.step("DELETE proxy", lambda c: c.delete_proxy(name, missing_ok=True)) \
                    and self.step("POST proxy", lambda c: c.create_proxy(self.proxy)):
                self.clean()
        else:
            raise ValueError(method)


# -- one round ---------------------------------------------------------------------------------

def one_round(scenario: Scenario, method: str, clients: int, parts: int, log_dir: Path) -> Round:
    result = Round(scenario.name, method)
    upstream = PartsUpstream(parts)
    try:
        with toxiproxy(log_dir) as url, ToxiproxyClient(url, timeout=STEP_TIMEOUT) as api:
            spec = ProxySpec("ehr", f"127.0.0.1:{free_port()}", f"127.0.0.1:{upstream.port}")
            listen = api.create_proxy(spec).listen_host_port[1]
            survivor = Survivor(listen, scenario.cap)
            api.add_toxic(spec.name, scenario.toxic)
            heal = Heal(url, scenario, spec, result)
            victims = Victims(scenario.victims, clients, listen, parts)
            upstream.reset_new_after = 0.4 if scenario.victims == "parts-upstream" else None
            victims.start()
            upstream.reset_new_after = None
            survivor.hold()
            victims.before_heal()
            time.sleep(scenario.pause)
            started = heal.start()
            fresh = FreshProbe(listen, started, scenario.cap)
            victims.at_heal()
            try:
                heal.run(method)
            finally:
                heal.close()
            result.heal = time.perf_counter() - started
            poll_lock(url, spec.name, heal.toxic, started, scenario.cap, result)
            fresh.wait(started + scenario.cap)
            result.fresh = fresh.ok_at
            result.survivor = survivor.state()
            if survivor.arrived is not None:
                result.held = survivor.arrived - started
            victims.close()
    finally:
        upstream.close()
    return result


def poll_lock(url: str, proxy: str, toxic: str, started: float, cap: float, result: Round) -> None:
    """When is the collection lock free? ``GET /proxies/<p>/toxics`` takes it, so the first
    answer is the moment; it also tells what became of the toxic."""
    with ToxiproxyClient(url, timeout=1.0) as poll:
        while time.perf_counter() - started < cap:
            with contextlib.suppress(ToxiproxyError):
                left = [t for t in poll.toxics(proxy) if t.name == toxic]
                result.lock = time.perf_counter() - started
                result.after = "gone" if not left else "inert" if left[0].toxicity == 0 else "ACTIVE"
                return
        with contextlib.suppress(ToxiproxyError):
            poll.version()
            result.notes.append("GET /version still answers")


# -- report ------------------------------------------------------------------------------------

def fmt(value: float | None, cap: float) -> str:
    return f">{cap:.0f}" if value is None else f"{value:.3f}"


def med(values: list[float | None], cap: float) -> float | None:
    """Median with 'never, by the cap' counted as the cap; None if that is the median."""
    m = statistics.median([cap if v is None else v for v in values])
    return None if m >= cap else m


def summarise(scenario: Scenario, rounds: list[Round]) -> None:
    cap = scenario.cap
    print(f"\n== {scenario.name}: {scenario.toxic.type} {scenario.toxic.stream} {scenario.toxic.attributes}, "
          f"cap {cap:.0f}s; seconds from the heal's start")
    print(f"  {'method':<27} {'n':>2} {'heal med':>8} {'heal max':>8} {'clean med':>9} {'lock med':>8} "
          f"{'lock max':>8} {'fresh med':>9} {'held med':>8} {'x rec':>6}  survivor  wedged  after")
    by_method = {m: [r for r in rounds if r.method == m] for m in scenario.methods}
    rec = by_method.get(RECOMMENDED)
    rec_fresh = med([r.fresh for r in rec], cap) if rec else None
    for method, rs in by_method.items():
        if not rs:
            continue
        clean, fresh = med([r.clean for r in rs], cap), med([r.fresh for r in rs], cap)
        ratio = "     -" if not rec_fresh else \
            f"{'>' if fresh is None else ''}{(cap if fresh is None else fresh) / rec_fresh:.0f}x".rjust(6)
        lock_max = None if any(r.wedged for r in rs) else max(r.lock or 0.0 for r in rs)
        print(f"  {method:<27} {len(rs):>2} {statistics.median(r.heal for r in rs):8.3f} "
              f"{max(r.heal for r in rs):8.3f} {fmt(clean, cap):>9} {fmt(med([r.lock for r in rs], cap), cap):>8} "
              f"{fmt(lock_max, cap):>8} {fmt(fresh, cap):>9} "
              f"{fmt(med([r.held for r in rs], cap), cap):>8} {ratio}  "
              f"{'/'.join(sorted({r.survivor for r in rs})):<8}  {sum(r.wedged for r in rs)}/{len(rs):<4}  "
              f"{'/'.join(sorted({r.after for r in rs}))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=0, help="rounds per method (default: per scenario)")
    parser.add_argument("--clients", type=int, default=8, help="clients that go away at the heal")
    parser.add_argument("--parts", type=int, default=4, help="TCP writes per answer or request")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                        help="run only these (repeatable); default: all")
    parser.add_argument("--method", action="append", choices=ALL_METHODS,
                        help="these methods instead of the scenario's (repeatable)")
    parser.add_argument("--cap", type=float, help="seconds a round may run from the heal's start")
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.scenario or list(SCENARIOS):
            scenario = SCENARIOS[name]
            if args.cap:
                scenario = dataclasses.replace(scenario, cap=args.cap)
            if args.method:
                scenario = dataclasses.replace(scenario, methods=tuple(args.method))
            rounds: list[Round] = []
            for index in range(args.rounds or scenario.rounds):
                for method in scenario.methods:  # alternate: round 1 of every method, round 2...
                    r = one_round(scenario, method, args.clients, args.parts, Path(tmp))
                    rounds.append(r)
                    print(f"{name} #{index + 1} {method:<27} heal {r.heal:7.3f}  clean {fmt(r.clean, scenario.cap):>7}"
                          f"  lock {fmt(r.lock, scenario.cap):>7}  fresh {fmt(r.fresh, scenario.cap):>7}  held "
                          f"{fmt(r.held, scenario.cap):>7}  {r.survivor:<7} {r.after:<6} {'; '.join(r.notes)}",
                          flush=True)
            summarise(scenario, rounds)
    print(f"\n{args.clients} clients per round, answers in {args.parts} writes of {len(PART)} B; "
          f"total {time.perf_counter() - began:.0f}s")


if __name__ == "__main__":
    main()
