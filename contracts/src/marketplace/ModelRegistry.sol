// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Delegation} from "./Delegation.sol";

/// @title ModelRegistry
/// @notice Models are owned entries keyed by keccak256(owner, baseModelId). Registering again updates the
/// entry in place and adds stake; deregistering (refused while bids are active) refunds the whole stake.
abstract contract ModelRegistry is Delegation {
    event ModelRegisteredUpdated(address indexed owner, bytes32 indexed modelId);
    event ModelDeregistered(address indexed owner, bytes32 indexed modelId);
    event ModelMinimumStakeUpdated(uint256 modelMinimumStake);

    error ModelStakeTooLow(uint256 amount, uint256 minAmount);
    error ModelHasAlreadyDeregistered();
    error ModelNotFound(); // declared by the real contract, never thrown
    error ModelHasActiveBids();

    function modelSetMinStake(uint256 modelMinimumStake_) external onlyOwner {
        _setModelMinimumStake(modelMinimumStake_);
    }

    /// @notice Create, update or revive the model getModelId(modelOwner_, baseModelId_). `amount_` is ADDED
    /// to its stake (pulled from the model owner, whoever sends); the new total must reach the minimum.
    function modelRegister(
        address modelOwner_,
        bytes32 baseModelId_,
        bytes32 ipfsCID_,
        uint256 fee_,
        uint256 amount_,
        string calldata name_,
        string[] calldata tags_
    ) external {
        _validateDelegatee(msg.sender, modelOwner_, DELEGATION_RULES_MODEL);

        bytes32 modelId_ = getModelId(modelOwner_, baseModelId_);
        Model storage model = _models[modelId_];

        uint256 newStake_ = model.stake + amount_;
        if (newStake_ < _modelMinimumStake) revert ModelStakeTooLow(newStake_, _modelMinimumStake);

        if (amount_ > 0) _pullToken(modelOwner_, amount_);

        if (model.createdAt == 0) {
            _modelIds.add(modelId_);
            model.createdAt = uint128(block.timestamp);
            model.owner = modelOwner_;
        }
        model.stake = newStake_;
        model.ipfsCID = ipfsCID_;
        model.fee = fee_;
        model.name = name_;
        model.tags = tags_;
        model.isDeleted = false;
        _activeModels.add(modelId_);

        emit ModelRegisteredUpdated(modelOwner_, modelId_);
    }

    /// @notice Remove a model and refund its whole stake to its owner. Checks, in order: the sender's
    /// rights over the owner (an unknown model has owner 0x0), ModelHasActiveBids, ModelHasAlreadyDeregistered.
    function modelDeregister(bytes32 modelId_) external {
        Model storage model = _models[modelId_];
        _validateDelegatee(msg.sender, model.owner, DELEGATION_RULES_MODEL);

        if (_modelActiveBids[modelId_].length() != 0) revert ModelHasActiveBids();
        if (model.isDeleted) revert ModelHasAlreadyDeregistered();

        uint256 withdrawAmount_ = model.stake;
        model.stake = 0;
        model.isDeleted = true;
        _activeModels.remove(modelId_);

        if (withdrawAmount_ > 0) _pushToken(model.owner, withdrawAmount_);

        emit ModelDeregistered(model.owner, modelId_);
    }

    function getModel(bytes32 modelId_) external view returns (Model memory) {
        return _models[modelId_];
    }

    /// @return items every model id ever registered in [offset_, offset_ + limit_), and the total count
    function getModelIds(uint256 offset_, uint256 limit_) external view returns (bytes32[] memory, uint256) {
        return _modelIds.page(offset_, limit_);
    }

    /// @return items the active model ids in [offset_, offset_ + limit_), and the total count
    function getActiveModelIds(uint256 offset_, uint256 limit_) external view returns (bytes32[] memory, uint256) {
        return _activeModels.page(offset_, limit_);
    }

    function getModelMinimumStake() external view returns (uint256) {
        return _modelMinimumStake;
    }

    function getIsModelActive(bytes32 modelId_) public view returns (bool) {
        return _models[modelId_].createdAt != 0 && !_models[modelId_].isDeleted;
    }

    /// @notice keccak256(abi.encodePacked(account_, baseModelId_)): 20-byte address then 32 bytes.
    function getModelId(address account_, bytes32 baseModelId_) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(account_, baseModelId_));
    }

    function _setModelMinimumStake(uint256 modelMinimumStake_) internal {
        _modelMinimumStake = modelMinimumStake_;
        emit ModelMinimumStakeUpdated(modelMinimumStake_);
    }
}
