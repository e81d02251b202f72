"""reconciler.sessions_devnet plays the buyer: its approvals, signatures and receipts pass the contract's checks."""

from __future__ import annotations

from contract_helpers import Chain
from session_helpers import CLOSEOUT_TYPE, ENDS, KEYS, OPENED, STAKE, USER, plain, session, setup_market

from reconciler import sessions_devnet as sd


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
