"""What wakes a watcher: file changes (debounced), a timer, the chain, the forwarder, git. Each source is a thread
that only puts a Trigger on a queue; the watcher's one loop drains the queue and runs, so runs never overlap and
a burst of triggers becomes one run.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import watchfiles
from web3 import Web3

from reconciler.chain.rpc import Batch, connect_all
from reconciler.observe.forwarder_admin import ForwarderAdmin
from reconciler.watch.gitsync import PullResult, pull_fast_forward


@dataclass(frozen=True)
class Trigger:
    kind: str  # start | file | timer | chain | nonce | forwarder | git | git-blocked | resume
    detail: str = ""


class FileTrigger:
    """Watches the desired-state files and the files named by `file:` references (their folders, so an editor's
    write-to-temp-and-rename save is seen). `step` ms of quiet ends a burst; a burst never lasts over `debounce`."""

    def __init__(self, out: queue.Queue[Trigger], step_ms: int = 60, debounce_ms: int = 600) -> None:
        self.out = out
        self.step_ms = step_ms
        self.debounce_ms = debounce_ms
        self._files: frozenset[Path] = frozenset()
        self._dirs: frozenset[Path] = frozenset()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, files: set[Path], dirs: set[Path] | None = None) -> None:
        """(Re)start watching exactly these files, and any YAML file under `dirs`."""
        files_r = frozenset(p.resolve() for p in files)
        dirs_r = frozenset(p.resolve() for p in dirs or ())
        if files_r == self._files and dirs_r == self._dirs and self._thread is not None:
            return
        self.stop()
        self._files, self._dirs = files_r, dirs_r
        self._stop = threading.Event()
        roots = {p.parent for p in files_r if p.parent.exists()} | {d for d in dirs_r if d.exists()}
        if not roots:
            return
        self._thread = threading.Thread(target=self._run, args=(sorted(roots), self._stop), daemon=True)
        self._thread.start()

    def _wanted(self, _change: watchfiles.Change, path: str) -> bool:
        p = Path(path)
        if p in self._files:
            return True
        return p.suffix in (".yaml", ".yml") and any(d in p.parents for d in self._dirs)

    def _run(self, roots: list[Path], stop: threading.Event) -> None:
        for changes in watchfiles.watch(
            *roots,
            watch_filter=self._wanted,
            step=self.step_ms,
            debounce=self.debounce_ms,
            stop_event=stop,
            rust_timeout=500,
            raise_interrupt=False,
            recursive=bool(self._dirs),
        ):
            names = sorted({Path(p).name for _c, p in changes})
            self.out.put(Trigger("file", ", ".join(names)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None


def _event_topic(signature: str) -> str:
    return "0x" + Web3.keccak(text=signature).hex().removeprefix("0x")


# MarketplaceBidPosted and MarketplaceBidDeleted(address indexed provider, bytes32 indexed modelId, uint256 nonce)
BID_EVENTS = tuple(_event_topic(f"MarketplaceBid{what}(address,bytes32,uint256)") for what in ("Posted", "Deleted"))

# The events our own apply sends, each with our address as its first indexed topic: our bids, our provider, our
# models. Only we (or our delegates) can cause them, and a run must see its own moves at the next poll: unpaced.
OWN_EVENTS = frozenset(
    (
        *BID_EVENTS,
        _event_topic("ProviderRegistered(address)"),
        _event_topic("ProviderDeregistered(address)"),
        _event_topic("ModelRegisteredUpdated(address,bytes32)"),
        _event_topic("ModelDeregistered(address,bytes32)"),
    )
)


def provider_topics(provider: str) -> list[str | None]:
    """The provider query's topic filter: the Diamond's events with this provider as first indexed topic. A
    buyer's SessionOpened/SessionClosed on our bid has the buyer there (the provider is the third), so a buyer
    opening and closing sessions never wakes the watcher; the timer reads sessions and earnings."""
    return [None, "0x" + "00" * 12 + provider.lower().removeprefix("0x")]


def _topic_hex(log: object, index: int) -> str:
    """A log's topic as lower-case 0x hex, whether the node's answer gave it as a string or as bytes."""
    topics = log.get("topics", []) if isinstance(log, Mapping) else []
    if index >= len(topics):
        return ""
    t = topics[index]
    return ("0x" + bytes(t).hex()) if not isinstance(t, str) else "0x" + t.lower().removeprefix("0x")


# More new blocks than this since the last poll (a long pause, a suspended laptop): a run re-reads the provider
# anyway, so the poller triggers one instead of scanning the gap's logs.
WIDE_GAP = 5_000


# Competitors' bid events wake at most one run per this many seconds (WatchOptions.competitor_pace): anyone can
# post and delete bids on our models every block, and each run reads the chain and the market.
COMPETITOR_PACE = 60.0


class CompetitorPace:
    """At most one trigger per `every` seconds for events anyone can cause (`what` they are); the events seen in
    between are counted into the next one, which comes at the first poll past the pace (or at once after a quiet
    pace). 0: every poll that saw one. Pure: the caller gives the clock."""

    def __init__(self, every: float, what: str = "competitor bid event(s) on our models") -> None:
        self.every = every
        self.what = what
        self.pending = 0
        self.last: float | None = None

    def seen(self, count: int, now: float) -> Trigger | None:
        self.pending += count
        if not self.pending or (self.last is not None and now - self.last < self.every):
            return None
        trigger = Trigger("chain", f"{self.pending} {self.what}")
        self.pending, self.last = 0, now
        return trigger


class OwnEvents:
    """The provider query's logs as triggers: our own moves (OWN_EVENTS) at once, at every poll that saw one;
    any other event under our address (a session we opened as a user, a withdrawal) paced like competitors'
    bid events, so no event outside our own apply's can wake runs back to back. Pure: the caller gives the clock."""

    def __init__(self, every: float) -> None:
        self.others = CompetitorPace(every, "other event(s) under our address")

    def seen(self, logs: Sequence[object], now: float, head: int) -> list[Trigger]:
        own = sum(1 for x in logs if _topic_hex(x, 0) in OWN_EVENTS)
        found = [Trigger("chain", f"{own} own event(s) up to block {head}")] if own else []
        paced = self.others.seen(len(logs) - own, now)
        if paced is not None:
            found.append(Trigger("chain", f"{paced.detail} up to block {head}"))
        return found


@dataclass
class ChainTarget:
    endpoints: tuple[tuple[str, str], ...]  # (URL, label) of every network.rpcUrls entry: read as one pool
    diamond: str
    provider: str
    signer: str
    admin: ForwarderAdmin | None = None  # where the forwarder's served config version is asked
    model_ids: tuple[str, ...] = ()  # our models: any provider's bid posted or deleted on one wakes a run


class Poller:
    """One thread, every `poll` seconds: the timer, new blocks with this provider's events (block number first;
    logs only when it moved, windowed as the endpoint allows), the signer's nonce, the forwarder's served config
    version, and git fast-forwards. It reads through the same endpoint pool as a run: one endpoint down is not
    a poll error."""

    def __init__(
        self,
        out: queue.Queue[Trigger],
        poll: float,
        interval: float,
        git_root: Path | None = None,
        git_every: float | None = None,
        on_git: Callable[[PullResult], None] = lambda _r: None,
        competitor_pace: float = 0.0,
    ) -> None:
        self.out = out
        self._competitors = CompetitorPace(competitor_pace)
        self._own = OwnEvents(competitor_pace)  # the same pace for other events under our address
        self.poll = poll
        self.interval = interval
        self.git_root = git_root
        self.git_every = git_every
        self.on_git = on_git
        self._lock = threading.Lock()
        self._target: ChainTarget | None = None
        self._w3: Web3 | None = None
        self._block: int | None = None
        self._nonce: int | None = None
        self._version: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watch-poller", daemon=True)
        self._next_timer = time.monotonic() + interval
        self._next_git = time.monotonic() + (git_every or 0)

    def start(self) -> Poller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def rebase(self, target: ChainTarget, block: int | None, nonce: int | None, version: str | None) -> None:
        """After a run: what the run saw is the new baseline (anything after it triggers again)."""
        with self._lock:
            if self._target is None or self._target.endpoints != target.endpoints:
                self._w3 = connect_all(target.endpoints, timeout=10)
            self._target = target
            self._block, self._nonce, self._version = block, nonce, version
            self._next_timer = time.monotonic() + self.interval

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            now = time.monotonic()
            if now >= self._next_timer:
                self._next_timer = now + self.interval
                self.out.put(Trigger("timer"))
            try:
                for t in self._check_chain_and_forwarder():  # put together, so one drain sees them all
                    self.out.put(t)
            except Exception as exc:  # a flaky RPC must not kill the poller; the next run reports it
                self.out.put(Trigger("poll-error", type(exc).__name__))
                self._stop.wait(min(self.interval, 5.0))
            if self.git_root is not None and self.git_every and now >= self._next_git:
                self._next_git = now + self.git_every
                res = pull_fast_forward(self.git_root)
                if res.outcome == "fast-forwarded":
                    self.out.put(Trigger("git", res.after or ""))
                elif res.alert:
                    self.on_git(res)
                    self.out.put(Trigger("git-blocked", res.outcome))

    def _check_chain_and_forwarder(self) -> list[Trigger]:
        found: list[Trigger] = []
        with self._lock:
            target, w3, block, nonce, version = self._target, self._w3, self._block, self._nonce, self._version
        if target is None or w3 is None:
            return found
        head = int(w3.eth.block_number)
        if block is not None and head - block > WIDE_GAP:
            found.append(Trigger("chain", f"{head - block} blocks since the last poll: reading the provider again"))
        elif block is not None and head > block:
            topics = provider_topics(target.provider)
            topic = topics[1]
            diamond = Web3.to_checksum_address(target.diamond)
            batch = Batch(w3)
            batch.logs({"address": diamond, "topics": topics}, block + 1, head, f"provider events {block + 1}..{head}")
            if target.model_ids:  # the models' bid events, whoever bids: a competitor's move can mean a reprice
                models = ["0x" + m.lower().removeprefix("0x") for m in target.model_ids]
                query = {"address": diamond, "topics": [list(BID_EVENTS), None, models]}
                batch.logs(query, block + 1, head, label=f"bid events on our models {block + 1}..{head}")
            logs, *bid_logs = batch.run()
            found.extend(self._own.seen(logs, time.monotonic(), head))
            theirs = [x for x in (bid_logs[0] if bid_logs else []) if _topic_hex(x, 1) != topic]
            paced = self._competitors.seen(len(theirs), time.monotonic())
            if paced is not None:
                found.append(Trigger("chain", f"{paced.detail} up to block {head}"))
        if block is not None and head > block:
            with self._lock:
                if self._block == block:
                    self._block = head
        n = int(w3.eth.get_transaction_count(Web3.to_checksum_address(target.signer), "pending"))
        if nonce is not None and n != nonce:
            found.append(Trigger("nonce", f"signer nonce {nonce} -> {n}"))
            with self._lock:
                if self._nonce == nonce:
                    self._nonce = n
        if target.admin is not None and target.admin.token:
            v = target.admin.served_version()
            if v is not None and version is not None and v != version:
                found.append(Trigger("forwarder", f"served version {version[:12]} -> {v[:12]}"))
                with self._lock:
                    if self._version == version:
                        self._version = v
        return found
