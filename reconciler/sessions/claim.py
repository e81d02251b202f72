"""Claim the provider's earnings from ended sessions: `claim_all` for `reconcile claim`, apply and watch.

Level-triggered: the candidates come from one reading of every session of the provider, but each claim is
decided on a fresh reading of that session and the provider, taken just before it is sent, so a session is
never claimed twice (a second claim would pay 0 anyway, but would still burn gas). The amount follows the
SessionRouter's rules (`session_rules`), because the live Diamond has no claimable-balance view; the stake
cap per 365-day period is respected: when no room is left the run stops and says until when.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3

from reconciler import GuardRefused
from reconciler.apply.writer import open_writer
from reconciler.chain.calls import ChainCalls
from reconciler.chain.reader import ChainReader
from reconciler.chain.sender import TxSender
from reconciler.desired.model import Desired
from reconciler.observe.model import ChainState, ProviderState, SessionState
from reconciler.sessions import rules as session_rules
from reconciler.sessions.rules import SessionTerms, StakeCap

Progress = Callable[[str], None]
Confirm = Callable[[Sequence["ClaimItem"]], bool]  # shown what would be claimed; True sends it


class ClaimError(GuardRefused):
    """Claims cannot run at all (no provider, missing delegation right, not confirmed); nothing was sent."""


@dataclass(frozen=True)
class ClaimItem:
    """A session with something to collect, and how much the rules say a claim pays now."""

    session_id: str
    bid_id: str
    model_id: str
    amount: int
    ended_at: int


@dataclass(frozen=True)
class ClaimOutcome:
    session_id: str
    model_id: str
    expected: int  # what the rules said, read just before the claim
    collected: int = 0  # what the session's providerWithdrawnAmount grew by (0 in a dry run)
    gas: int = 0  # gas used (estimated in a dry run)
    gas_wei: int = 0
    tx_hash: str | None = None
    note: str = ""


@dataclass(frozen=True)
class ClaimReport:
    provider: str
    block: int
    dry_run: bool
    outcomes: tuple[ClaimOutcome, ...] = ()
    cap_room_before: int = 0
    cap_room_after: int = 0
    stopped_at_cap: bool = False
    limit_period_end: int = 0
    live_sessions: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def collected(self) -> int:
        return sum(o.expected if self.dry_run else o.collected for o in self.outcomes)

    @property
    def gas(self) -> int:
        return sum(o.gas for o in self.outcomes)

    @property
    def gas_wei(self) -> int:
        return sum(o.gas_wei for o in self.outcomes)


def terms(s: SessionState) -> SessionTerms:
    return SessionTerms(s.opened_at, s.ends_at, s.closed_at, s.price_per_second, s.provider_withdrawn)


def stake_cap(p: ProviderState) -> StakeCap:
    return StakeCap(p.stake, p.limit_period_end, p.limit_period_earned)


def claimable(chain: ChainState) -> list[ClaimItem]:
    """Pure: what claims would pay at the reading's time, oldest session first, each one lowering the room
    left under the stake cap for the next (as consecutive claims do on chain)."""
    if chain.provider is None:
        return []
    now = chain.block_timestamp
    cap = stake_cap(chain.provider)
    out = []
    for s in sorted(chain.sessions, key=lambda x: (x.opened_at, x.session_id)):
        if s.live(now):
            continue
        amount = session_rules.claimable(terms(s), cap, now)
        if amount <= 0:
            continue
        out.append(ClaimItem(s.session_id, s.bid_id, s.model_id, amount, session_rules.session_end(terms(s))))
        cap = session_rules.after_claim(cap, amount, now)
    return out


def unpaid(chain: ChainState) -> int:
    """Earned by ended sessions and not paid yet, before the cap (what the cap may be holding back)."""
    now = chain.block_timestamp
    return sum(
        max(session_rules.earned_unpaid(terms(s), now) - session_rules.held_for_close_day(terms(s), now), 0)
        for s in chain.sessions
        if not s.live(now)
    )


def _why_nothing(s: SessionState, p: ProviderState, now: int) -> str:
    t = terms(s)
    if session_rules.earned_unpaid(t, now) <= 0:
        return "nothing left to collect (already claimed)"
    if session_rules.cap_room(stake_cap(p), now) <= 0:
        return "stake cap reached"
    return "held until the next UTC day (closed with a dispute today)"


def check_registered(desired: Desired, chain: ChainState) -> None:
    """Nothing to claim, or to show, for a provider that is not registered."""
    if chain.provider is None or chain.provider.created_at == 0:
        raise ClaimError(f"the provider {desired.provider.address} is not registered on this chain: nothing to claim")


def missing_right(desired: Desired, chain: ChainState) -> str | None:
    """claimForProvider's sender must be the provider or hold its DELEGATION_RULES_SESSION right: what is missing,
    in words, or None."""
    if desired.delegate_mode and not (chain.delegation or {}).get("session", False):
        return (
            f"the signer {desired.signer.address} has no 'session' delegation right from the provider "
            f'{desired.provider.address} (DELEGATION_RULES_SESSION = keccak256("delegation.rules.session")); '
            "grant it in the delegate.xyz registry (delegateContract to the Diamond with that right), or claim "
            "with the provider's own key"
        )
    return None


def claim_all(
    reader: ChainReader,
    desired: Desired,
    sender: TxSender | None,
    progress: Progress | None = None,
    chain: ChainState | None = None,
    confirm: Confirm | None = None,
) -> ClaimReport:
    """Claim every ended session with something to collect; `sender=None` is a dry run (estimates only).

    `chain` may be a reading taken with `all_sessions=True` (apply/watch pass theirs to save a read).
    `confirm` (the `claim` command's question) is shown what would be claimed before anything is sent.
    Raises ClaimError before sending anything when claims cannot run or are not confirmed; TxError from the sender.
    """
    say: Progress = progress or (lambda _line: None)
    if chain is None:
        chain = reader.observe(desired, all_sessions=True)
    check_registered(desired, chain)
    missing = missing_right(desired, chain)
    if missing is not None and sender is not None:  # a dry run shows the amounts, and says the right is missing
        raise ClaimError(missing)
    assert chain.provider is not None
    provider = chain.provider.address
    now0 = chain.block_timestamp
    room_before = session_rules.cap_room(stake_cap(chain.provider), now0)
    items = claimable(chain)
    if sender is not None and confirm is not None and items and not confirm(items):
        raise ClaimError("claim not confirmed; nothing was sent")
    calls = ChainCalls(reader.network.diamond, reader.network.mor)
    outcomes: list[ClaimOutcome] = []
    stopped = False
    last_provider = chain.provider
    w3 = reader.w3
    fee_per_gas = chain.fee_per_gas
    for item in items:
        req = calls.claim_for_provider(f"session.claim:{item.session_id}", item.session_id)
        if sender is None:  # dry run: the pure figures, and the gas the node estimates for the signer
            estimator = desired.provider.address if missing else desired.signer.address  # the signer would revert
            gas = int(
                w3.eth.estimate_gas(
                    {"from": Web3.to_checksum_address(estimator), "to": req.to, "data": req.data}  # type: ignore[typeddict-item]
                )
            )
            outcomes.append(
                ClaimOutcome(item.session_id, item.model_id, item.amount, gas=gas, gas_wei=gas * fee_per_gas)
            )
            continue
        now, s, p = reader.read_session(item.session_id, provider)  # level-triggered: decide on a fresh reading
        assert p is not None
        last_provider = p
        amount = session_rules.claimable(terms(s), stake_cap(p), now)
        if amount <= 0:
            note = _why_nothing(s, p, now)
            outcomes.append(ClaimOutcome(item.session_id, item.model_id, 0, note=note))
            if note == "stake cap reached":
                stopped = True
                break
            continue
        say(f"claiming session {item.session_id[:10]}…: {amount} wei expected")
        record = sender.wait([sender.send(req)])[0]
        receipt = sender.receipt(record.tx_hash)
        gas_used = int(receipt["gasUsed"]) if receipt else int(record.gas_used or 0)
        price = int(receipt.get("effectiveGasPrice", 0)) if receipt else 0
        _, after, p2 = reader.read_session(item.session_id, provider)
        assert p2 is not None
        last_provider = p2
        outcomes.append(
            ClaimOutcome(
                item.session_id,
                item.model_id,
                amount,
                collected=after.provider_withdrawn - s.provider_withdrawn,
                gas=gas_used,
                gas_wei=gas_used * price,
                tx_hash=record.tx_hash,
            )
        )
    collected = sum(o.expected if sender is None else o.collected for o in outcomes)
    if sender is None:
        room_after = room_before - collected
    else:
        room_after = session_rules.cap_room(stake_cap(last_provider), int(w3.eth.get_block("latest")["timestamp"]))
    stopped = stopped or (room_after <= 0 and unpaid(chain) > collected)
    end = last_provider.limit_period_end
    return ClaimReport(
        provider=provider,
        block=chain.block_number,
        dry_run=sender is None,
        outcomes=tuple(outcomes),
        cap_room_before=room_before,
        cap_room_after=room_after,
        stopped_at_cap=stopped,
        limit_period_end=end,
        live_sessions=len(chain.live_sessions()),
        notes=(f"a real claim needs the 'session' right: {missing}; the gas above is as the provider sends it",)
        if missing
        else (),
    )


def claim_journaled(
    reader: ChainReader,
    desired: Desired,
    signer: LocalAccount,
    state: Path,
    legacy: bool,
    progress: Callable[[str], None],
    confirm: Confirm | None = None,
) -> ClaimReport:
    """claim_all with the signer's key, under apply's lock and journal in `state` (the per-provider folder).

    A killed earlier run's journaled claims are first recorded or re-sent as the same bytes and mined before
    anything is re-read, so nothing is claimed twice; `confirm` is asked after that, before a new claim is sent.
    """
    with open_writer(
        state, reader.w3, signer, reader.network, progress=progress, plan_id="claim", legacy=legacy
    ) as writer:
        writer.resume_and_wait()
        return claim_all(reader, desired, writer.sender, confirm=confirm)
