"""Sessions on a real devnet: the reader's window, drains fed by real sessions, and `reconcile claim`.

A buyer opens sessions with the provider's signed approval (reconciler.devnet.buyer); the provider's own
writes go through ChainCalls + TxSender, as apply sends them. Time moves with anvil's clock.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.chain.calls import ChainCalls
from reconciler.chain.journal import Journal
from reconciler.chain.networks import resolve_network
from reconciler.chain.reader import ChainReader
from reconciler.chain.sender import TxRequest, TxSender
from reconciler.cli import cli
from reconciler.desired.loader import load_desired
from reconciler.desired.modelsconfig import forwarder_file
from reconciler.devnet import buyer as sessions_devnet
from reconciler.devnet import unlocked
from reconciler.devnet.anvil import Anvil
from reconciler.devnet.local import Deployment, dev_accounts
from reconciler.market import ids
from reconciler.pipeline import plan_for
from reconciler.plan.codec import plan_to_json
from reconciler.plan.context import utc
from reconciler.plan.model import ActionKind, Status
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text
from reconciler.sessions.claim import claim_all, claimable

MOR = 10**18
PROVIDER = dev_accounts()[1]
STATE_SUB = f"31337-{PROVIDER.address.lower()}"  # apply's per-provider state folder
BUYER = dev_accounts()[8]
PRICE = 6 * 10**15  # 0.006 MOR/s


def _yaml(
    dep: Deployment, fwd: Path, stake: str, absent: tuple[str, ...] = (), extra_policy: str = "", signer: str = ""
) -> str:
    models = ""
    for name in ("chat-a", "chat-b"):
        if name in absent:
            models += f"  - name: {name}\n    absent: true\n"
        else:
            models += (
                f'  - name: {name}\n    upstream: u\n    upstreamModel: {name}-up\n    stake: "0.1 MOR"\n'
                f"    bid:\n      pricePerSecond: {PRICE}\n"
            )
    return (
        f"network:\n  chainId: {dep.chain_id}\n  diamond: '{dep.diamond}'\n  mor: '{dep.mor}'\n  rpcUrl: env:RPC\n"
        f"signer:\n  address: '{signer or PROVIDER.address}'\n  privateKey: env:{'SIGNER_KEY' if signer else 'PROVIDER_KEY'}\n"
        f"provider:\n  address: '{PROVIDER.address}'\n  endpoint: 127.0.0.1:3333\n  stake: \"{stake}\"\n"
        "upstreams:\n  u:\n    baseUrl: http://127.0.0.1:9/v1\n    apiKey: env:UPSTREAM_KEY\n    resaleAllowed: true\n"
        f"models:\n{models}proxy:\n  modelsConfigPath: {fwd}\n"
        f'policy:\n  maxSpendPerApply: "1000 MOR"\n{extra_policy}'
    )


def _env(anvil: Anvil) -> dict[str, str]:
    return {"RPC": anvil.rpc_url, "PROVIDER_KEY": PROVIDER.private_key, "UPSTREAM_KEY": "k-upstream"}


def _sender(w3: Web3, tmp_path: Path) -> TxSender:
    from eth_account import Account

    return TxSender(
        w3,
        Account.from_key(PROVIDER.private_key),
        Journal(tmp_path / "state" / "journal.jsonl"),
        "t",
        poll_interval=0.02,
    )


def _write(sender: TxSender, *reqs: TxRequest) -> None:
    for req in reqs:
        sender.wait([sender.send(req)])


def _setup(w3: Web3, dep: Deployment, tmp_path: Path, stake: int) -> dict[str, str]:
    """Provider with two models (chat-a, chat-b) and a bid on each; returns model name -> bid id."""
    calls = ChainCalls(dep.diamond, dep.mor)
    s = _sender(w3, tmp_path)
    _write(s, calls.approve("approve", 1000 * MOR))
    _write(s, calls.provider_register("p", PROVIDER.address, stake, "127.0.0.1:3333", "provider.register"))
    bids = {}
    for name in ("chat-a", "chat-b"):
        base = ids.base_model_id_for_name(name)
        mid = ids.model_id(PROVIDER.address, base)
        _write(s, calls.model_register("m", PROVIDER.address, base, "", 0, MOR // 10, name, ["llm"], "model.register"))
        _write(s, calls.bid_post("b", PROVIDER.address, mid, PRICE))
        bids[name] = ids.bid_id(PROVIDER.address, mid, 0)
    return bids


_approvals = iter(range(10**6))


def _open(w3: Web3, dep: Deployment, bid_id: str, seconds: int) -> sessions_devnet.OpenedSession:
    """Each approval gets its own timestamp: the same approval bytes twice revert SessionDuplicateApproval
    (a timestamp ahead of the block is accepted; only one older than the 10-minute TTL is refused)."""
    bid = bytes.fromhex(bid_id[2:])
    stake = sessions_devnet.stake_for_duration(w3, dep.diamond, bid, seconds)
    stamp = sessions_devnet.latest_timestamp(w3) + next(_approvals)  # strictly increasing, never expired
    return sessions_devnet.open_session(
        w3, dep.diamond, BUYER.address, PROVIDER.private_key, bid, stake, approval_timestamp=stamp
    )


def _expired_session(w3: Web3, deployed: Deployment, tmp_path: Path) -> sessions_devnet.OpenedSession:
    """The provider set up with a 100 MOR stake, one 5-minute session on chat-a, and the clock past its end."""
    bids = _setup(w3, deployed, tmp_path, 100 * MOR)
    s = _open(w3, deployed, bids["chat-a"], 300)
    _travel(w3, s.ends_at - int(w3.eth.get_block("latest")["timestamp"]) + 1)
    return s


def _travel(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _mor_balance(w3: Web3, dep: Deployment, who: str) -> int:
    mor = w3.eth.contract(address=Web3.to_checksum_address(dep.mor), abi=load_artifact("MorToken").abi)
    return int(mor.functions.balanceOf(who).call())


def test_drain_keeps_the_model_until_its_last_session_ends(
    anvil: Anvil, w3: Web3, deployed: Deployment, tmp_path: Path
) -> None:
    bids = _setup(w3, deployed, tmp_path, 2 * MOR // 10)
    env = _env(anvil)
    fwd = tmp_path / "fwd.json"
    path = tmp_path / "s.yaml"
    path.write_text(_yaml(deployed, fwd, "0.2 MOR"))
    desired = load_desired(path)[0]
    fwd.write_text(json.dumps(forwarder_file(desired, None, environ=env)))
    _, p = plan_for(desired, env)
    assert p.pending == (), [a.id for a in p.pending]

    session = _open(w3, deployed, bids["chat-a"], 600)
    mid_a = ids.model_id(PROVIDER.address, ids.base_model_id_for_name("chat-a"))
    path.write_text(_yaml(deployed, fwd, "0.2 MOR", absent=("chat-a",)))
    desired = load_desired(path)[0]

    # 1. marked absent: the bid is deleted at once, the forwarder entry drains until the session's endsAt
    _, p = plan_for(desired, env)
    by_id = {a.id: a for a in p.actions}
    assert by_id[f"bid.delete:{bids['chat-a']}"].pending
    drain = by_id[f"proxy.remove:forwarder:{mid_a}"]
    assert drain.status is Status.DRAINING and drain.until == session.ends_at
    assert f"draining until {utc(session.ends_at)}: 1 live session(s)" in drain.reason

    # 2. the bid deleted on chain: the deleted bid is still observed with its session, the drain holds
    _write(_sender(w3, tmp_path), ChainCalls(deployed.diamond, deployed.mor).bid_delete("d", bids["chat-a"]))
    observed, p = plan_for(desired, env)
    assert [b.bid_id for b in observed.chain.bids if not b.active] == [bids["chat-a"]]
    drain = next(a for a in p.actions if a.id == f"proxy.remove:forwarder:{mid_a}")
    assert drain.status is Status.DRAINING and drain.until == session.ends_at
    assert not any(a.kind is ActionKind.BID_DELETE for a in p.actions)
    text = render_text(p)
    # the forwarder entry and the model's deregistration both wait for the session's end
    assert f"draining until {utc(session.ends_at)}: 1 live session(s)" in text and "2 draining" in text
    dereg = next(a for a in p.actions if a.id == f"model.deregister:{mid_a}")
    assert dereg.status is Status.DRAINING and dereg.until == session.ends_at
    data = plan_to_json(p)
    js = next(a for a in data["actions"] if a["id"] == drain.id)
    assert js["status"] == "draining" and js["until"] == session.ends_at and "1 live session(s)" in js["reason"]
    assert data["summary"]["draining"] == 2
    md = render_markdown(p)
    assert f"draining until {utc(session.ends_at)}" in md and "draining (not applied) | 2" in md
    # what apply writes now keeps the draining entry
    kept = forwarder_file(desired, json.loads(fwd.read_text()), environ=env)
    assert mid_a in {m["modelId"] for m in kept["models"]}

    # 3. after endsAt the removal is pending, and the written file drops the entry
    now = int(w3.eth.get_block("latest")["timestamp"])
    _travel(w3, session.ends_at - now + 1)
    _, p = plan_for(desired, env)
    removal = next(a for a in p.actions if a.id == f"proxy.remove:forwarder:{mid_a}")
    assert removal.pending and removal.until is None
    assert next(a for a in p.actions if a.id == f"model.deregister:{mid_a}").pending
    written = forwarder_file(desired, json.loads(fwd.read_text()), {mid_a}, environ=env)
    assert mid_a not in {m["modelId"] for m in written["models"]}


def test_reader_stops_at_the_max_duration_never_at_an_ended_session(
    anvil: Anvil, w3: Web3, deployed: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Oldest first: A (short, opened > max ago), B (long, live), C (short, ended). Newest first the reader
    reads C (ended: go on), B (live), and stops at A; pages of one session force the paging path."""
    market = w3.eth.contract(address=Web3.to_checksum_address(deployed.diamond), abi=load_artifact("Marketplace").abi)
    unlocked.send(w3, market.functions.setMaxSessionDuration(1200), deployed.owner)
    bids = _setup(w3, deployed, tmp_path, 100 * MOR)
    a = _open(w3, deployed, bids["chat-a"], 300)
    _travel(w3, 100)
    b = _open(w3, deployed, bids["chat-b"], 1200)
    c = _open(w3, deployed, bids["chat-a"], 300)
    mid_b = ids.model_id(PROVIDER.address, ids.base_model_id_for_name("chat-b"))
    _write(
        _sender(w3, tmp_path),
        ChainCalls(deployed.diamond, deployed.mor).bid_post("p2", PROVIDER.address, mid_b, 2 * PRICE),
    )
    now = int(w3.eth.get_block("latest")["timestamp"])
    _travel(w3, a.opened_at + 1250 - now)
    path = tmp_path / "s.yaml"
    path.write_text(_yaml(deployed, tmp_path / "fwd.json", "100 MOR"))
    desired = load_desired(path)[0]
    reader = ChainReader.connect(resolve_network(desired.network, _env(anvil)))
    monkeypatch.setattr("reconciler.chain.reader.SESSION_PAGE", 1)
    chain = reader.observe(desired)
    assert [s.session_id for s in chain.sessions] == ["0x" + x.session_id.hex() for x in (c, b)]
    assert [s.session_id for s in chain.live_sessions()] == ["0x" + b.session_id.hex()]
    assert chain.sessions_total == 3 and chain.max_session_duration == 1200
    # a price change under a live session: it keeps its (now deleted) bid and the old price
    live_b = chain.live_sessions()[0]
    assert live_b.bid_id == bids["chat-b"] and live_b.price_per_second == PRICE and live_b.model_id == mid_b
    old_bid = next(x for x in chain.bids if x.bid_id == bids["chat-b"])
    assert not old_bid.active and [x.ends_at for x in old_bid.live_sessions] == [b.ends_at]
    assert [x.price_per_second for x in chain.active_bids(mid_b)] == [2 * PRICE]
    everything = ChainReader.connect(resolve_network(desired.network, _env(anvil))).observe(desired, all_sessions=True)
    assert len(everything.sessions) == 3
    # claimable: A and C have ended and are unpaid; B is live
    assert {i.session_id for i in claimable(everything)} == {"0x" + x.session_id.hex() for x in (a, c)}


def test_claim_collects_exactly_never_twice_and_stops_at_the_cap(
    anvil: Anvil, w3: Web3, deployed: Deployment, tmp_path: Path
) -> None:
    stake = 5 * MOR
    bids = _setup(w3, deployed, tmp_path, stake)
    opened = [_open(w3, deployed, bids["chat-a"], 300) for _ in range(3)]  # ~1.8 MOR each, 3 > the 5 MOR cap
    live = _open(w3, deployed, bids["chat-b"], 3000)
    now = int(w3.eth.get_block("latest")["timestamp"])
    _travel(w3, max(s.ends_at for s in opened) - now + 1)
    env = {**_env(anvil), "RECONCILE_DEVNET_DIR": str(tmp_path)}
    path = tmp_path / "s.yaml"
    path.write_text(_yaml(deployed, tmp_path / "fwd.json", "5 MOR", extra_policy="  autoClaim: true\n"))
    assert load_desired(path)[0].policy.auto_claim is True
    market = w3.eth.contract(address=Web3.to_checksum_address(deployed.diamond), abi=load_artifact("Marketplace").abi)
    view = {s.session_id: int(market.functions.getProviderClaimableBalance(s.session_id).call()) for s in opened}
    assert sum(view.values()) > stake  # the cap binds on the third

    dry = CliRunner().invoke(cli, ["claim", str(path), "--dry-run", "--state-dir", str(tmp_path / "st")], env=env)
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing sent" in dry.output and "would collect 5 MOR from 3 session(s)" in dry.output
    assert "stopped at the stake cap" in dry.output and "1 session(s) still live" in dry.output
    assert PROVIDER.private_key[2:] not in dry.output
    assert not (tmp_path / "st" / STATE_SUB / "journal.jsonl").exists()

    before = _mor_balance(w3, deployed, PROVIDER.address)
    r = CliRunner().invoke(cli, ["claim", str(path), "--yes", "--state-dir", str(tmp_path / "st")], env=env)
    assert r.exit_code == 0, r.output
    after = _mor_balance(w3, deployed, PROVIDER.address)
    assert after - before == stake  # exactly the cap: two whole sessions and part of the third
    first, second = (view[s.session_id] for s in opened[:2])
    assert f"collected {_mor(first)}" in r.output and f"collected {_mor(stake - first - second)}" in r.output
    assert "total: collected 5 MOR from 3 session(s)" in r.output and "stopped at the stake cap" in r.output
    assert "gas 1" in r.output and "room left under the stake cap 0 MOR" in r.output
    journal = Journal(tmp_path / "st" / STATE_SUB / "journal.jsonl").transactions()
    assert [t.status for t in journal] == ["mined"] * 3 and {t.action for t in journal} == {"session.claim"}

    # again: nothing is paid, no transaction is sent (the cap is used, the rest stays claimable)
    r = CliRunner().invoke(cli, ["claim", str(path), "--state-dir", str(tmp_path / "st")], env=env)
    assert r.exit_code == 0, r.output
    assert _mor_balance(w3, deployed, PROVIDER.address) == after
    assert len(Journal(tmp_path / "st" / STATE_SUB / "journal.jsonl").transactions()) == 3
    assert "collected 0 MOR from 0 session(s)" in r.output
    assert live.ends_at > int(w3.eth.get_block("latest")["timestamp"])


def test_claim_all_reuses_a_reading_and_never_claims_a_session_twice(
    anvil: Anvil, w3: Web3, deployed: Deployment, tmp_path: Path
) -> None:
    """Two runs of claim_all from the same (stale) reading: the second re-reads each session and sends nothing."""
    _expired_session(w3, deployed, tmp_path)
    path = tmp_path / "s.yaml"
    path.write_text(_yaml(deployed, tmp_path / "fwd.json", "100 MOR"))
    desired = load_desired(path)[0]
    reader = ChainReader.connect(resolve_network(desired.network, _env(anvil)))
    reading = reader.observe(desired, all_sessions=True)
    expected = claimable(reading)[0].amount
    sender = _sender(w3, tmp_path)
    before = _mor_balance(w3, deployed, PROVIDER.address)
    first = claim_all(reader, desired, sender, chain=reading)
    second = claim_all(reader, desired, sender, chain=reading)
    assert first.collected == expected == _mor_balance(w3, deployed, PROVIDER.address) - before
    assert second.collected == 0 and second.outcomes[0].note.startswith("nothing left to collect")
    assert len(sender.journal.transactions()) == 7  # 6 setup writes (approve, provider, 2 models, 2 bids), 1 claim


def test_delegate_claims_need_the_session_right(anvil: Anvil, w3: Web3, deployed: Deployment, tmp_path: Path) -> None:
    s = _expired_session(w3, deployed, tmp_path)
    signer = dev_accounts()[7]
    path = tmp_path / "s.yaml"
    path.write_text(_yaml(deployed, tmp_path / "fwd.json", "100 MOR", signer=signer.address))
    env = {**_env(anvil), "SIGNER_KEY": signer.private_key}
    args = ["claim", str(path), "--yes", "--state-dir", str(tmp_path / "st")]
    r = CliRunner().invoke(cli, args, env=env)
    assert r.exit_code == 1 and "no 'session' delegation right" in r.output and "delegation.rules.session" in r.output
    assert not (tmp_path / "st" / STATE_SUB / "journal.jsonl").exists()

    registry = w3.eth.contract(
        address=Web3.to_checksum_address(deployed.delegate_registry), abi=load_artifact("DelegateRegistry").abi
    )
    right = Web3.keccak(text="delegation.rules.session")
    fn = registry.functions.delegateContract(signer.address, deployed.diamond, right, True)
    unlocked.send(w3, fn, PROVIDER.address)
    market = w3.eth.contract(address=Web3.to_checksum_address(deployed.diamond), abi=load_artifact("Marketplace").abi)
    expected = int(market.functions.getProviderClaimableBalance(s.session_id).call())
    before = _mor_balance(w3, deployed, PROVIDER.address), _mor_balance(w3, deployed, signer.address)
    r = CliRunner().invoke(cli, args, env=env)
    assert r.exit_code == 0, r.output
    assert _mor_balance(w3, deployed, PROVIDER.address) - before[0] == expected > 0  # paid to the provider
    assert _mor_balance(w3, deployed, signer.address) == before[1]
    assert signer.private_key[2:] not in r.output


def test_a_delegate_dry_run_without_the_session_right_shows_the_amounts(
    anvil: Anvil, w3: Web3, deployed: Deployment, tmp_path: Path
) -> None:
    """What a claim would collect is read without the right; the dry run says the right is missing for a real one."""
    s = _expired_session(w3, deployed, tmp_path)
    signer = dev_accounts()[7]
    path = tmp_path / "s.yaml"
    path.write_text(_yaml(deployed, tmp_path / "fwd.json", "100 MOR", signer=signer.address))
    env = {**_env(anvil), "SIGNER_KEY": signer.private_key}
    market = w3.eth.contract(address=Web3.to_checksum_address(deployed.diamond), abi=load_artifact("Marketplace").abi)
    expected = int(market.functions.getProviderClaimableBalance(s.session_id).call())
    r = CliRunner().invoke(cli, ["claim", str(path), "--dry-run", "--state-dir", str(tmp_path / "st")], env=env)
    assert r.exit_code == 0, r.output
    assert f"total: would collect {_mor(expected)} from 1 session(s)" in r.output and expected > 0
    assert "no 'session' delegation right" in r.output and "a real claim needs the 'session' right" in r.output
    assert not (tmp_path / "st" / STATE_SUB / "journal.jsonl").exists()
    assert signer.private_key[2:] not in r.output


def test_claim_shows_the_sessions_and_asks_before_sending_like_apply(
    anvil: Anvil, w3: Web3, deployed: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _expired_session(w3, deployed, tmp_path)
    path = tmp_path / "s.yaml"
    path.write_text(_yaml(deployed, tmp_path / "fwd.json", "100 MOR"))
    market = w3.eth.contract(address=Web3.to_checksum_address(deployed.diamond), abi=load_artifact("Marketplace").abi)
    expected = int(market.functions.getProviderClaimableBalance(s.session_id).call())
    before = _mor_balance(w3, deployed, PROVIDER.address)
    args = ["claim", str(path), "--state-dir", str(tmp_path / "st")]
    journal = tmp_path / "st" / STATE_SUB / "journal.jsonl"
    sid = "0x" + s.session_id.hex()
    shown = f"session {sid[:10]}…{sid[-4:]} (chat-a): {_mor(expected)}"

    # no terminal and no --yes: what it would send is shown, nothing is sent
    r = CliRunner().invoke(cli, args, env=_env(anvil))
    assert r.exit_code == 1, r.output
    assert shown in r.output and f"claim {_mor(expected)} from 1 session(s)" in r.output, r.output
    assert "no terminal to ask for confirmation: run with --yes" in r.output
    assert _mor_balance(w3, deployed, PROVIDER.address) == before and not journal.exists()

    # at a terminal (the runner's stdin taken for one), anything but 'yes' sends nothing
    import click.testing

    wrapper = click.testing._NamedTextIOWrapper
    monkeypatch.setattr(wrapper, "isatty", lambda self: self.name == "<stdin>", raising=False)
    r = CliRunner().invoke(cli, args, env=_env(anvil), input="y\n")
    assert r.exit_code == 1 and "claim not confirmed; nothing was sent" in r.output, r.output
    assert _mor_balance(w3, deployed, PROVIDER.address) == before and not journal.exists()

    # 'yes' typed, or --yes for a script, sends the claim
    r = CliRunner().invoke(cli, args, env=_env(anvil), input="yes\n")
    assert r.exit_code == 0 and f"collected {_mor(expected)}" in r.output, r.output
    assert _mor_balance(w3, deployed, PROVIDER.address) - before == expected > 0
    r = CliRunner().invoke(cli, [*args, "--yes"], env=_env(anvil))
    assert r.exit_code == 0 and "nothing to claim" in r.output, r.output
    assert PROVIDER.private_key[2:] not in r.output


class _Crash(BaseException):
    """The process dies right after the claim was journaled (fsync) and before it left the machine."""


def test_a_claim_killed_after_its_journal_entry_is_resumed_not_sent_twice(
    anvil: Anvil, w3: Web3, deployed: Deployment, tmp_path: Path
) -> None:
    s = _expired_session(w3, deployed, tmp_path)
    path = tmp_path / "s.yaml"
    path.write_text(_yaml(deployed, tmp_path / "fwd.json", "100 MOR"))
    desired = load_desired(path)[0]
    market = w3.eth.contract(address=Web3.to_checksum_address(deployed.diamond), abi=load_artifact("Marketplace").abi)
    expected = int(market.functions.getProviderClaimableBalance(s.session_id).call())
    state = tmp_path / "st"
    from eth_account import Account

    sender = TxSender(w3, Account.from_key(PROVIDER.private_key), Journal(state / STATE_SUB / "journal.jsonl"), "claim")

    def die(_record: object) -> None:
        raise _Crash

    sender._broadcast = die  # type: ignore[method-assign]
    reader = ChainReader.connect(resolve_network(desired.network, _env(anvil)))
    before = _mor_balance(w3, deployed, PROVIDER.address)
    with pytest.raises(_Crash):
        claim_all(reader, desired, sender)
    assert [t.status for t in Journal(state / STATE_SUB / "journal.jsonl").transactions()] == ["signed"]
    assert _mor_balance(w3, deployed, PROVIDER.address) == before

    r = CliRunner().invoke(cli, ["claim", str(path), "--state-dir", str(state)], env=_env(anvil))
    assert r.exit_code == 0, r.output
    assert _mor_balance(w3, deployed, PROVIDER.address) - before == expected  # paid once, by the journaled tx
    txs = Journal(state / STATE_SUB / "journal.jsonl").transactions()
    assert [t.status for t in txs] == ["mined"]  # re-broadcast as the same bytes; no second claim was signed
    assert "nothing to claim: no ended session has unpaid earnings" in r.output


def _mor(wei: int) -> str:
    from reconciler.market.units import format_mor

    return format_mor(wei)
