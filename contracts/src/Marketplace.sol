// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {BidMarketplace} from "./marketplace/BidMarketplace.sol";

/// @title Marketplace
/// @notice The devnet's stand-in for the Morpheus "Lumerin Diamond": at ONE address, the provider registry,
/// model registry, bid marketplace and delegation checks, with the real contract's selectors, structs,
/// events, custom errors and behaviour. It is a plain contract, not an EIP-2535 Diamond: nothing here
/// depends on facets. The Sessions part is not built yet; it will be one more abstract part inherited here.
contract Marketplace is BidMarketplace {
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
    }
}
