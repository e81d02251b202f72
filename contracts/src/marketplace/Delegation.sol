// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MarketplaceStorage} from "./MarketplaceStorage.sol";

interface IDelegateRegistryCheck {
    function checkDelegateForContract(
        address to,
        address from,
        address contract_,
        bytes32 rights
    ) external view returns (bool);
}

/// @title Delegation
/// @notice Every write checks that the sender is the owner of what it touches, or holds the matching rights
/// for this contract in the delegate.xyz v2 registry (so a hot key can act for a cold wallet).
abstract contract Delegation is MarketplaceStorage {
    bytes32 public constant DELEGATION_RULES_PROVIDER = keccak256("delegation.rules.provider");
    bytes32 public constant DELEGATION_RULES_MODEL = keccak256("delegation.rules.model");
    bytes32 public constant DELEGATION_RULES_MARKETPLACE = keccak256("delegation.rules.marketplace");
    bytes32 public constant DELEGATION_RULES_SESSION = keccak256("delegation.rules.session");

    event DelegationRegistryUpdated(address registry);

    error InsufficientRightsForOperation(address delegator, address delegatee);

    function setRegistry(address registry_) external onlyOwner {
        _setRegistry(registry_);
    }

    function getRegistry() external view returns (address) {
        return _registry;
    }

    /// @notice Whether `delegator_` delegated `rights_` on this contract to `delegatee_` in the registry.
    function isRightsDelegated(address delegatee_, address delegator_, bytes32 rights_) public view returns (bool) {
        return IDelegateRegistryCheck(_registry).checkDelegateForContract(delegatee_, delegator_, address(this), rights_);
    }

    function _setRegistry(address registry_) internal {
        _registry = registry_;
        emit DelegationRegistryUpdated(registry_);
    }

    /// @dev Reverts InsufficientRightsForOperation(delegator, delegatee) unless they are the same account or
    /// the rights are delegated. An unknown owner is address(0), so acting on something that does not
    /// exist reverts InsufficientRightsForOperation(0x0, sender).
    function _validateDelegatee(address delegatee_, address delegator_, bytes32 rights_) internal view {
        if (delegatee_ != delegator_ && !isRightsDelegated(delegatee_, delegator_, rights_)) {
            revert InsufficientRightsForOperation(delegator_, delegatee_);
        }
    }
}
