"""The Sessions part carries the real SessionRouter's selectors, struct layouts, events and errors, and the
whole Marketplace stays deployable (EIP-170: at most 24,576 bytes of code)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import function_signature_to_4byte_selector

from reconciler.chain.artifacts import load_artifact

# From the newest SessionRouter facet and ISessionStorage/IStatsStorage (see contracts/README.md).
FUNCTIONS = [
    "openSession(address,uint256,bool,bytes,bytes)",
    "closeSession(bytes,bytes)",
    "claimForProvider(bytes32)",
    "getSession(bytes32)",
    "getUserSessions(address,uint256,uint256)",
    "getProviderSessions(address,uint256,uint256)",
    "getModelSessions(bytes32,uint256,uint256)",
    "getTotalSessions(address)",
    "getProvidersTotalClaimed()",
    "getIsProviderApprovalUsed(bytes)",
    "getMaxSessionDuration()",
    "setMaxSessionDuration(uint128)",
    "getFundingAccount()",
    "getPools()",
    "getPool(uint256)",
    "setPoolConfig(uint256,(uint256,uint256,uint128,uint128))",
    "getSessionId(address,address,bytes32,uint256)",
    "getSessionEnd(uint256,uint256,uint128)",
    "stakeToStipend(uint256,uint128)",
    "stipendToStake(uint256,uint128)",
    "getUserStakesOnHold(address,uint8)",
    "withdrawUserStakes(address,uint8)",
    "getTodaysBudget(uint128)",
    "getComputeBalance(uint128)",
    "totalMORSupply(uint128)",
    "startOfTheDay(uint128)",
    "getProviderModelStats(bytes32,address)",
    "getModelStats(bytes32)",
    "MIN_SESSION_DURATION()",
    "SIGNATURE_TTL()",
    "COMPUTE_POOL_INDEX()",
    "getProviderClaimableBalance(bytes32)",
]
EVENTS = [
    "SessionOpened(address,bytes32,address)",
    "SessionClosed(address,bytes32,address)",
    "UserWithdrawn(address,uint256)",
]
ERRORS = [
    "SessionProviderSignatureMismatch()",
    "SessionApproveExpired()",
    "SessionApprovedForAnotherChainId()",
    "SessionDuplicateApproval()",
    "SessionApprovedForAnotherUser()",
    "SessionReceiptForAnotherChainId()",
    "SessionReceiptExpired()",
    "SessionTooShort()",
    "SessionAlreadyClosed()",
    "SessionNotEndedOrNotExist()",
    "SessionProviderNothingToClaimInThisPeriod()",
    "SessionBidNotFound()",
    "SessionPoolIndexOutOfBounds()",
    "SessionUserAmountToWithdrawIsZero()",
    "SessionMaxDurationTooShort()",
    "SessionStakeTooLow()",
]
OUTPUTS = {
    "getSession": "(address,bytes32,uint256,bytes,uint256,uint256,uint128,uint128,uint128,bool,bool)",
    "getProviderModelStats": "((int64,int64),(int64,int64),uint32,uint32,uint32)",
    "getModelStats": "((int64,int64),(int64,int64),(int64,int64),uint32)",
    "getProviderSessions": "bytes32[],uint256",
    "getModelSessions": "bytes32[],uint256",
    "getUserSessions": "bytes32[],uint256",
    "getMaxSessionDuration": "uint128",
    "getSessionEnd": "uint128",
    "getUserStakesOnHold": "uint256,uint256",
    "MIN_SESSION_DURATION": "uint32",
    "SIGNATURE_TTL": "uint32",
}
EIP170_LIMIT = 24_576


def _sig(item: dict[str, Any], key: str = "inputs") -> str:
    def t(p: dict[str, Any]) -> str:
        if p["type"].startswith("tuple"):
            return "(" + ",".join(t(c) for c in p["components"]) + ")" + p["type"][5:]
        return str(p["type"])

    return ",".join(t(p) for p in item[key])


def _abi(kind: str) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in load_artifact("Marketplace").abi if i["type"] == kind}


@pytest.mark.parametrize(("kind", "expected"), [("function", FUNCTIONS), ("event", EVENTS), ("error", ERRORS)])
def test_marketplace_has_the_session_router_interface(kind: str, expected: list[str]) -> None:
    have = {f"{name}({_sig(item)})" for name, item in _abi(kind).items()}
    assert set(expected) - have == set()


def test_session_outputs_and_event_indexing() -> None:
    functions = _abi("function")
    for fn, layout in OUTPUTS.items():
        assert _sig(functions[fn], "outputs") == layout, fn
    events = _abi("event")
    assert [p["indexed"] for p in events["SessionOpened"]["inputs"]] == [True, True, True]
    assert [p["indexed"] for p in events["SessionClosed"]["inputs"]] == [True, True, True]
    assert [p["indexed"] for p in events["UserWithdrawn"]["inputs"]] == [True, False]


def test_selectors_match_the_proxy_routers_binding() -> None:
    # 4-byte selector quoted in the proxy-router's generated Go binding of the (older) SessionRouter facet
    assert function_signature_to_4byte_selector("getProviderClaimableBalance(bytes32)").hex() == "a8ca6323"


def test_the_marketplace_fits_under_the_code_size_limit() -> None:
    code = bytes.fromhex(load_artifact("Marketplace").deployed_bytecode.removeprefix("0x"))
    assert 0 < len(code) <= EIP170_LIMIT
