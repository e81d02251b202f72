// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Bytes32Set, AddressSet} from "../utils/Sets.sol";

interface IERC20Transfers {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @title MarketplaceStorage
/// @notice State, structs, ownership and token plumbing shared by the marketplace's parts. The real
/// Morpheus contract is an EIP-2535 Diamond whose facets share this state through storage slots; ours is a
/// single contract made of abstract parts that inherit this base (a later Sessions part slots in the same way).
abstract contract MarketplaceStorage {
    struct Provider {
        string endpoint; // public host:port, no scheme
        uint256 stake;
        uint128 createdAt;
        uint128 limitPeriodEnd; // earnings are capped by stake per period ending here
        uint256 limitPeriodEarned;
        bool isDeleted;
    }

    struct Model {
        bytes32 ipfsCID;
        uint256 fee;
        uint256 stake;
        address owner;
        string name;
        string[] tags;
        uint128 createdAt;
        bool isDeleted;
    }

    struct Bid {
        address provider;
        bytes32 modelId;
        uint256 pricePerSecond;
        uint256 nonce;
        uint128 createdAt;
        uint128 deletedAt;
    }

    /// @dev the period over which a provider's earnings are capped by its stake
    uint128 internal constant PROVIDER_REWARD_LIMITER_PERIOD = 365 days;

    // ownership (OpenZeppelin-style errors and event)
    address internal _owner;

    // token and delegation
    address internal _token; // MOR
    address internal _registry; // delegate.xyz v2 registry

    // provider registry
    uint256 internal _providerMinimumStake;
    mapping(address provider => Provider) internal _providers;
    AddressSet internal _activeProviders;

    // model registry
    uint256 internal _modelMinimumStake;
    mapping(bytes32 modelId => Model) internal _models;
    Bytes32Set internal _modelIds; // every model ever registered
    Bytes32Set internal _activeModels;

    // marketplace
    uint256 internal _bidFee;
    uint256 internal _feeBalance;
    uint256 internal _bidMinPricePerSecond;
    uint256 internal _bidMaxPricePerSecond;
    mapping(bytes32 bidId => Bid) internal _bids;
    mapping(address provider => bytes32[]) internal _providerBids; // all, including deleted
    mapping(bytes32 modelId => bytes32[]) internal _modelBids; // all, including deleted
    mapping(address provider => Bytes32Set) internal _providerActiveBids;
    mapping(bytes32 modelId => Bytes32Set) internal _modelActiveBids;
    mapping(bytes32 providerModelId => uint256) internal _providerModelNonce; // next nonce

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error OwnableUnauthorizedAccount(address account);
    error OwnableInvalidOwner(address owner);
    error SafeERC20FailedOperation(address token);

    modifier onlyOwner() {
        if (msg.sender != _owner) revert OwnableUnauthorizedAccount(msg.sender);
        _;
    }

    function owner() external view returns (address) {
        return _owner;
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert OwnableInvalidOwner(address(0));
        emit OwnershipTransferred(_owner, newOwner);
        _owner = newOwner;
    }

    /// @notice The stake and fee token (MOR).
    function getToken() external view returns (address) {
        return _token;
    }

    function _pullToken(address from, uint256 amount) internal {
        if (!IERC20Transfers(_token).transferFrom(from, address(this), amount)) {
            revert SafeERC20FailedOperation(_token);
        }
    }

    function _pushToken(address to, uint256 amount) internal {
        if (!IERC20Transfers(_token).transfer(to, amount)) revert SafeERC20FailedOperation(_token);
    }
}
