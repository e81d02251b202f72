// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {pageOf} from "../utils/Sets.sol";
import {ProviderRegistry} from "./ProviderRegistry.sol";
import {ModelRegistry} from "./ModelRegistry.sol";

/// @title BidMarketplace
/// @notice Immutable bids: a provider offers a model at a price per second. Every post pulls the
/// non-refundable bid fee; posting again for the same (provider, model) increments the pair's nonce and
/// deletes the previous active bid. There is no update call.
abstract contract BidMarketplace is ProviderRegistry, ModelRegistry {
    /// @dev "Maretplace" is spelled as in the real contract, so the event topic matches.
    event MaretplaceFeeUpdated(uint256 bidFee);
    event MarketplaceBidPosted(address indexed provider, bytes32 indexed modelId, uint256 nonce);
    event MarketplaceBidDeleted(address indexed provider, bytes32 indexed modelId, uint256 nonce);
    event MarketplaceBidMinMaxPriceUpdated(uint256 bidMinPricePerSecond, uint256 bidMaxPricePerSecond);

    error MarketplaceProviderNotFound();
    error MarketplaceModelNotFound();
    error MarketplaceActiveBidNotFound();
    error MarketplaceBidMinPricePerSecondIsZero();
    error MarketplaceBidMinPricePerSecondIsInvalid();
    error MarketplaceBidPricePerSecondInvalid();
    error MarketplaceFeeAmountIsZero();

    function setMarketplaceBidFee(uint256 bidFee_) external onlyOwner {
        _setBidFee(bidFee_);
    }

    function setMinMaxBidPricePerSecond(uint256 bidMinPricePerSecond_, uint256 bidMaxPricePerSecond_) external onlyOwner {
        _setMinMaxBidPricePerSecond(bidMinPricePerSecond_, bidMaxPricePerSecond_);
    }

    /// @notice Post a bid; pulls getBidFee() from the provider (whoever sends) and deletes the pair's
    /// previous active bid. The id is getBidId(provider_, modelId_, nonce) with the nonce from the event.
    function postModelBid(address provider_, bytes32 modelId_, uint256 pricePerSecond_) external returns (bytes32 bidId) {
        _validateDelegatee(msg.sender, provider_, DELEGATION_RULES_MARKETPLACE);

        if (!getIsProviderActive(provider_)) revert MarketplaceProviderNotFound();
        if (!getIsModelActive(modelId_)) revert MarketplaceModelNotFound();
        if (pricePerSecond_ < _bidMinPricePerSecond || pricePerSecond_ > _bidMaxPricePerSecond) {
            revert MarketplaceBidPricePerSecondInvalid();
        }

        _pullToken(provider_, _bidFee);
        _feeBalance += _bidFee;

        uint256 nonce_ = _providerModelNonce[getProviderModelId(provider_, modelId_)]++;
        bidId = getBidId(provider_, modelId_, nonce_);
        if (nonce_ != 0) {
            bytes32 previous_ = getBidId(provider_, modelId_, nonce_ - 1);
            if (isBidActive(previous_)) _deleteBid(previous_);
        }

        Bid storage bid = _bids[bidId];
        bid.provider = provider_;
        bid.modelId = modelId_;
        bid.pricePerSecond = pricePerSecond_;
        bid.nonce = nonce_;
        bid.createdAt = uint128(block.timestamp);

        _providerBids[provider_].push(bidId);
        _modelBids[modelId_].push(bidId);
        _providerActiveBids[provider_].add(bidId);
        _modelActiveBids[modelId_].add(bidId);

        emit MarketplaceBidPosted(provider_, modelId_, nonce_);
    }

    /// @notice Delete an active bid (no refund). An unknown id has provider 0x0, so it reverts
    /// InsufficientRightsForOperation(0x0, sender) before MarketplaceActiveBidNotFound.
    function deleteModelBid(bytes32 bidId_) external {
        _validateDelegatee(msg.sender, _bids[bidId_].provider, DELEGATION_RULES_MARKETPLACE);
        if (!isBidActive(bidId_)) revert MarketplaceActiveBidNotFound();
        _deleteBid(bidId_);
    }

    /// @notice Send collected bid fees to `recipient_` (owner only); `amount_` is capped at the balance.
    function withdrawFee(address recipient_, uint256 amount_) external onlyOwner {
        if (amount_ > _feeBalance) amount_ = _feeBalance;
        if (amount_ == 0) revert MarketplaceFeeAmountIsZero();
        _feeBalance -= amount_;
        _pushToken(recipient_, amount_);
    }

    function getBid(bytes32 bidId_) external view returns (Bid memory) {
        return _bids[bidId_];
    }

    function isBidActive(bytes32 bidId_) public view returns (bool) {
        return _bids[bidId_].createdAt != 0 && _bids[bidId_].deletedAt == 0;
    }

    function getProviderActiveBids(
        address provider_,
        uint256 offset_,
        uint256 limit_
    ) external view returns (bytes32[] memory, uint256) {
        return _providerActiveBids[provider_].page(offset_, limit_);
    }

    function getModelActiveBids(
        bytes32 modelId_,
        uint256 offset_,
        uint256 limit_
    ) external view returns (bytes32[] memory, uint256) {
        return _modelActiveBids[modelId_].page(offset_, limit_);
    }

    /// @return items every bid of the provider (deleted ones too) in posting order, and the total count
    function getProviderBids(
        address provider_,
        uint256 offset_,
        uint256 limit_
    ) external view returns (bytes32[] memory, uint256) {
        return pageOf(_providerBids[provider_], offset_, limit_);
    }

    /// @return items every bid on the model (deleted ones too) in posting order, and the total count
    function getModelBids(
        bytes32 modelId_,
        uint256 offset_,
        uint256 limit_
    ) external view returns (bytes32[] memory, uint256) {
        return pageOf(_modelBids[modelId_], offset_, limit_);
    }

    function getBidFee() external view returns (uint256) {
        return _bidFee;
    }

    function getFeeBalance() external view returns (uint256) {
        return _feeBalance;
    }

    function getMinMaxBidPricePerSecond() external view returns (uint256, uint256) {
        return (_bidMinPricePerSecond, _bidMaxPricePerSecond);
    }

    /// @notice keccak256(abi.encodePacked(provider_, modelId_, nonce_)).
    function getBidId(address provider_, bytes32 modelId_, uint256 nonce_) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(provider_, modelId_, nonce_));
    }

    /// @notice keccak256(abi.encodePacked(provider_, modelId_)): the key of the pair's bid nonce.
    function getProviderModelId(address provider_, bytes32 modelId_) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(provider_, modelId_));
    }

    function _deleteBid(bytes32 bidId_) internal {
        Bid storage bid = _bids[bidId_];
        bid.deletedAt = uint128(block.timestamp);
        _providerActiveBids[bid.provider].remove(bidId_);
        _modelActiveBids[bid.modelId].remove(bidId_);
        emit MarketplaceBidDeleted(bid.provider, bid.modelId, bid.nonce);
    }

    function _setBidFee(uint256 bidFee_) internal {
        _bidFee = bidFee_;
        emit MaretplaceFeeUpdated(bidFee_);
    }

    function _setMinMaxBidPricePerSecond(uint256 min_, uint256 max_) internal {
        if (min_ == 0) revert MarketplaceBidMinPricePerSecondIsZero();
        if (min_ > max_) revert MarketplaceBidMinPricePerSecondIsInvalid();
        _bidMinPricePerSecond = min_;
        _bidMaxPricePerSecond = max_;
        emit MarketplaceBidMinMaxPriceUpdated(min_, max_);
    }
}
