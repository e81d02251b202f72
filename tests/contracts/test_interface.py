"""The ABI carries every function, event and error of the reference (minus Sessions), so selectors match."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.chain.artifacts import load_artifact

# The Morpheus Diamond's public interface (contracts/README.md), plus the owner setters of the real facets.
FUNCTIONS = [
    "providerRegister(address,uint256,string)",
    "providerDeregister(address)",
    "getProvider(address)",
    "getProviderMinimumStake()",
    "getActiveProviders(uint256,uint256)",
    "getIsProviderActive(address)",
    "modelRegister(address,bytes32,bytes32,uint256,uint256,string,string[])",
    "modelDeregister(bytes32)",
    "getModelId(address,bytes32)",
    "getModel(bytes32)",
    "getModelIds(uint256,uint256)",
    "getActiveModelIds(uint256,uint256)",
    "getModelMinimumStake()",
    "getIsModelActive(bytes32)",
    "postModelBid(address,bytes32,uint256)",
    "deleteModelBid(bytes32)",
    "getBidId(address,bytes32,uint256)",
    "getProviderModelId(address,bytes32)",
    "getBid(bytes32)",
    "isBidActive(bytes32)",
    "getProviderActiveBids(address,uint256,uint256)",
    "getModelActiveBids(bytes32,uint256,uint256)",
    "getProviderBids(address,uint256,uint256)",
    "getModelBids(bytes32,uint256,uint256)",
    "getToken()",
    "getBidFee()",
    "getMinMaxBidPricePerSecond()",
    "DELEGATION_RULES_PROVIDER()",
    "DELEGATION_RULES_MODEL()",
    "DELEGATION_RULES_MARKETPLACE()",
    "DELEGATION_RULES_SESSION()",
    "getRegistry()",
    "isRightsDelegated(address,address,bytes32)",
    "providerSetMinStake(uint256)",
    "modelSetMinStake(uint256)",
    "setMarketplaceBidFee(uint256)",
    "setMinMaxBidPricePerSecond(uint256,uint256)",
]
EVENTS = [
    "ProviderRegistered(address)",
    "ProviderDeregistered(address)",
    "ModelRegisteredUpdated(address,bytes32)",
    "ModelDeregistered(address,bytes32)",
    "MarketplaceBidPosted(address,bytes32,uint256)",
    "MarketplaceBidDeleted(address,bytes32,uint256)",
]
ERRORS = [
    "ProviderStakeTooLow(uint256,uint256)",
    "ProviderHasActiveBids()",
    "ProviderNotFound()",
    "ProviderHasAlreadyDeregistered()",
    "ModelStakeTooLow(uint256,uint256)",
    "ModelHasActiveBids()",
    "ModelHasAlreadyDeregistered()",
    "ModelNotFound()",
    "MarketplaceProviderNotFound()",
    "MarketplaceModelNotFound()",
    "MarketplaceActiveBidNotFound()",
    "MarketplaceBidPricePerSecondInvalid()",
    "InsufficientRightsForOperation(address,address)",
]
STRUCTS = {
    "getProvider": "(string,uint256,uint128,uint128,uint256,bool)",
    "getModel": "(bytes32,uint256,uint256,address,string,string[],uint128,bool)",
    "getBid": "(address,bytes32,uint256,uint256,uint128,uint128)",
}


def _sig(item: dict[str, Any], key: str = "inputs") -> str:
    def t(p: dict[str, Any]) -> str:
        if p["type"].startswith("tuple"):
            return "(" + ",".join(t(c) for c in p["components"]) + ")" + p["type"][5:]
        return str(p["type"])

    return ",".join(t(p) for p in item[key])


def _signatures(name: str, kind: str) -> set[str]:
    return {f"{i['name']}({_sig(i)})" for i in load_artifact(name).abi if i["type"] == kind}


@pytest.mark.parametrize(("kind", "expected"), [("function", FUNCTIONS), ("event", EVENTS), ("error", ERRORS)])
def test_marketplace_has_the_reference_interface(kind: str, expected: list[str]) -> None:
    missing = set(expected) - _signatures("Marketplace", kind)
    assert not missing


def test_struct_getters_return_the_reference_layouts() -> None:
    abi = {i["name"]: i for i in load_artifact("Marketplace").abi if i["type"] == "function"}
    for fn, layout in STRUCTS.items():
        assert _sig(abi[fn], "outputs") == layout


def test_event_indexing_matches_the_reference() -> None:
    abi = {i["name"]: i for i in load_artifact("Marketplace").abi if i["type"] == "event"}
    assert [p["indexed"] for p in abi["MarketplaceBidPosted"]["inputs"]] == [True, True, False]
    assert [p["indexed"] for p in abi["ModelRegisteredUpdated"]["inputs"]] == [True, True]
    assert [p["indexed"] for p in abi["ProviderRegistered"]["inputs"]] == [True]


def test_pagination_views_return_items_and_total() -> None:
    abi = {i["name"]: i for i in load_artifact("Marketplace").abi if i["type"] == "function"}
    for fn in ("getActiveProviders", "getModelIds", "getActiveModelIds", "getProviderBids", "getModelActiveBids"):
        assert _sig(abi[fn], "outputs").endswith(",uint256")


def test_token_and_registry_interfaces() -> None:
    assert {
        "mint(address,uint256)",
        "approve(address,uint256)",
        "transferFrom(address,address,uint256)",
    } <= _signatures("MorToken", "function")
    assert {
        "ERC20InsufficientBalance(address,uint256,uint256)",
        "ERC20InsufficientAllowance(address,uint256,uint256)",
        "ERC20InvalidSender(address)",
        "ERC20InvalidReceiver(address)",
        "ERC20InvalidApprover(address)",
        "ERC20InvalidSpender(address)",
        "OwnableUnauthorizedAccount(address)",
    } <= _signatures("MorToken", "error")
    assert {
        "delegateAll(address,bytes32,bool)",
        "delegateContract(address,address,bytes32,bool)",
        "checkDelegateForContract(address,address,address,bytes32)",
    } <= _signatures("DelegateRegistry", "function")
    assert {
        "DelegateAll(address,address,bytes32,bool)",
        "DelegateContract(address,address,address,bytes32,bool)",
    } <= _signatures("DelegateRegistry", "event")
