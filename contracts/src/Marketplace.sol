// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {SessionRouter} from "./marketplace/SessionRouter.sol";
import {Pool} from "./utils/Rewards.sol";

/// @title Marketplace
/// @notice The devnet's stand-in for the Morpheus "Lumerin Diamond": at ONE address, the provider registry,
/// model registry, bid marketplace, session router and delegation checks, with the real contract's selectors,
/// structs, events, custom errors and behaviour. It is a plain contract, not an EIP-2535 Diamond: nothing here
/// depends on facets.
contract Marketplace is SessionRouter {
    /// @dev The session router's deploy settings on Base and Base Sepolia (the protocol's deploy configs):
    /// seven-day sessions at most, and the five MOR distribution pools of the L1 Distribution contract.
    uint128 private constant MAX_SESSION_DURATION = 7 days;
    uint128 private constant PAYOUT_START = 1707393600;

    constructor(
        address token,
        address delegateRegistry,
        uint256 providerMinStake,
        uint256 modelMinStake,
        uint256 bidFee,
        uint256 minPricePerSecond,
        uint256 maxPricePerSecond
    ) {
        _owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        _token = token;
        _setRegistry(delegateRegistry);
        _setProviderMinimumStake(providerMinStake);
        _setModelMinimumStake(modelMinStake);
        _setBidFee(bidFee);
        _setMinMaxBidPricePerSecond(minPricePerSecond, maxPricePerSecond);

        // Providers are paid from the funding account (the deployer here), which must approve this contract.
        _fundingAccount = msg.sender;
        setMaxSessionDuration(MAX_SESSION_DURATION);
        for (uint256 i = 0; i < 4; i++) {
            _pools.push(Pool(3456 ether, 592558728240000000, PAYOUT_START, 1 days));
        }
        _pools.push(Pool(576 ether, 98759788040000000, PAYOUT_START, 1 days));
    }
}
