"""reconciler.devnet.buyer plays the buyer: its approvals, signatures and receipts pass the contract's checks."""

from __future__ import annotations

import threading
import time

from reconciler.devnet import buyer as sd
from tests.support.contract_helpers import Chain
from tests.support.session_helpers import (
    CLOSED,
    CLOSEOUT_TYPE,
    ENDS,
    KEYS,
    OPENED,
    STAKE,
    USER,
    plain,
    rpc,
    session,
    setup_market,
)


def test_open_and_close_as_a_buyer_with_the_helper(chain: Chain) -> None:
    m = setup_market(chain)
    buyer = chain.accounts[3]
    amount = sd.stake_for_duration(chain.w3, chain.market.address, m.bid, 900)
    before = chain.balance(buyer)
    opened = sd.open_session(chain.w3, chain.market.address, buyer, KEYS[m.provider], m.bid, amount)
    s = session(chain, opened.session_id)
    assert (s[USER], s[STAKE], s[OPENED], s[ENDS]) == (buyer, amount, opened.opened_at, opened.ends_at)
    assert 900 <= opened.ends_at - opened.opened_at <= 901
    assert chain.balance(buyer) == before - amount
    f = chain.market.functions
    assert f.getProviderSessions(m.provider, 0, 10).call() == [[opened.session_id], 1]

    sd.close_session(chain.w3, chain.market.address, buyer, opened.session_id, KEYS[m.provider], tps_scaled1000=7)
    assert plain(f.getProviderModelStats(m.model, m.provider).call())[0][0] == 7
    assert session(chain, opened.session_id)[CLOSEOUT_TYPE] == 0


def test_a_close_without_the_providers_key_is_a_dispute(chain: Chain) -> None:
    m = setup_market(chain)
    buyer = chain.accounts[4]
    amount = sd.stake_for_duration(chain.w3, chain.market.address, m.bid, 300)
    opened = sd.open_session(chain.w3, chain.market.address, buyer, KEYS[m.provider], m.bid, amount)
    sd.close_session(chain.w3, chain.market.address, buyer, opened.session_id, None)
    assert session(chain, opened.session_id)[CLOSEOUT_TYPE] == 1
    assert plain(chain.market.functions.getProviderModelStats(m.model, m.provider).call())[3:] == [0, 1]


def test_encodings_are_the_contracts_abi_layouts() -> None:
    approval = sd.encode_approval(b"\x01" * 32, 8453, "0x" + "22" * 20, 5)
    assert len(approval) == 4 * 32
    assert approval[32:64] == (8453).to_bytes(32, "big") and approval[-1] == 5
    receipt = sd.encode_receipt(b"\x02" * 32, 1, 2, 3, 4)
    assert len(receipt) == 5 * 32 and receipt[-1] == 4
    assert len(sd.sign_message(approval, "0x" + "11" * 32)) == 65


def test_a_close_estimated_in_the_opens_second_and_mined_later_has_the_gas_it_needs(chain: Chain) -> None:
    """closeSession costs ~40% more once a second of the session has passed (stake put on hold, provider paid).

    The node's own next block is pinned to the open's second, so an estimate on it sees a session of 0 s; the
    close is then mined 30 s later, as a real close is mined seconds after its estimate. An estimate taken on
    the node's pending block (with or without a 20% margin) ran out of gas there, with no revert data.
    """
    m = setup_market(chain)
    buyer = chain.accounts[3]
    amount = sd.stake_for_duration(chain.w3, chain.market.address, m.bid, 900)
    opened = sd.open_session(chain.w3, chain.market.address, buyer, KEYS[m.provider], m.bid, amount)
    rpc(chain, "evm_setAutomine", False)
    try:
        rpc(chain, "evm_setNextBlockTimestamp", opened.opened_at)
        closing = threading.Thread(
            target=sd.close_session,
            args=(chain.w3, chain.market.address, buyer, opened.session_id, KEYS[m.provider]),
            daemon=True,
        )
        closing.start()
        deadline = time.monotonic() + 30
        while int(rpc(chain, "txpool_status")["result"]["pending"], 16) == 0:
            assert time.monotonic() < deadline and closing.is_alive(), "the close was never sent"
            time.sleep(0.01)
        rpc(chain, "evm_setNextBlockTimestamp", opened.opened_at + 30)
        rpc(chain, "evm_mine")
        closing.join(timeout=30)
    finally:
        rpc(chain, "evm_setAutomine", True)
    assert not closing.is_alive()
    s = session(chain, opened.session_id)
    assert s[CLOSEOUT_TYPE] == 0 and s[CLOSED] == opened.opened_at + 30, "the close was mined and succeeded"
    _, hold = chain.market.functions.getUserStakesOnHold(buyer, 0).call()
    assert hold > 0, "the used part of the stake is held until the next UTC day"
