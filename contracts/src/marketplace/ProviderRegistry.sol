// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Delegation} from "./Delegation.sol";

/// @title ProviderRegistry
/// @notice Providers stake MOR to be listed. Stake is added on every (re-)register and refunded on
/// deregister, which is refused while the provider has an active bid.
abstract contract ProviderRegistry is Delegation {
    event ProviderRegistered(address indexed provider);
    event ProviderDeregistered(address indexed provider);
    event ProviderMinimumStakeUpdated(uint256 providerMinimumStake);

    error ProviderStakeTooLow(uint256 amount, uint256 minAmount);
    error ProviderHasActiveBids();
    error ProviderNotFound();
    error ProviderHasAlreadyDeregistered();

    function providerSetMinStake(uint256 providerMinimumStake_) external onlyOwner {
        _setProviderMinimumStake(providerMinimumStake_);
    }

    /// @notice Create, update or revive `provider_`. `amount_` is ADDED to its stake (pulled from the
    /// provider, whoever sends); the new total must reach the minimum. The endpoint is overwritten.
    function providerRegister(address provider_, uint256 amount_, string calldata endpoint_) external {
        _validateDelegatee(msg.sender, provider_, DELEGATION_RULES_PROVIDER);

        if (amount_ > 0) _pullToken(provider_, amount_);

        Provider storage provider = _providers[provider_];
        uint256 newStake_ = provider.stake + amount_;
        if (newStake_ < _providerMinimumStake) revert ProviderStakeTooLow(newStake_, _providerMinimumStake);

        if (provider.createdAt == 0) {
            provider.createdAt = uint128(block.timestamp);
            provider.limitPeriodEnd = uint128(block.timestamp) + PROVIDER_REWARD_LIMITER_PERIOD;
        } else if (provider.isDeleted) {
            provider.isDeleted = false;
        }
        provider.endpoint = endpoint_;
        provider.stake = newStake_;
        _activeProviders.addAddress(provider_);

        emit ProviderRegistered(provider_);
    }

    /// @notice Remove `provider_` and refund its stake (less what it earned in the current limit period).
    /// Checks, in order: ProviderNotFound, ProviderHasActiveBids, ProviderHasAlreadyDeregistered.
    function providerDeregister(address provider_) external {
        _validateDelegatee(msg.sender, provider_, DELEGATION_RULES_PROVIDER);

        Provider storage provider = _providers[provider_];
        if (provider.createdAt == 0) revert ProviderNotFound();
        if (_providerActiveBids[provider_].length() != 0) revert ProviderHasActiveBids();
        if (provider.isDeleted) revert ProviderHasAlreadyDeregistered();

        uint256 withdrawAmount_ = block.timestamp > provider.limitPeriodEnd
            ? provider.stake
            : provider.stake - provider.limitPeriodEarned;
        provider.stake -= withdrawAmount_;
        provider.isDeleted = true;
        _activeProviders.removeAddress(provider_);

        if (withdrawAmount_ > 0) _pushToken(provider_, withdrawAmount_);

        emit ProviderDeregistered(provider_);
    }

    function getProvider(address provider_) external view returns (Provider memory) {
        return _providers[provider_];
    }

    function getProviderMinimumStake() external view returns (uint256) {
        return _providerMinimumStake;
    }

    /// @return items the active providers in [offset_, offset_ + limit_), and the total count
    function getActiveProviders(uint256 offset_, uint256 limit_) external view returns (address[] memory, uint256) {
        return _activeProviders.pageAddresses(offset_, limit_);
    }

    function getIsProviderActive(address provider_) public view returns (bool) {
        return _providers[provider_].createdAt != 0 && !_providers[provider_].isDeleted;
    }

    function _setProviderMinimumStake(uint256 providerMinimumStake_) internal {
        _providerMinimumStake = providerMinimumStake_;
        emit ProviderMinimumStakeUpdated(providerMinimumStake_);
    }
}
