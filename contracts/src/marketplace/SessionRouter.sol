// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {pageOf} from "../utils/Sets.sol";
import {Pool, SD, poolRewardUntil} from "../utils/Rewards.sol";
import {BidMarketplace} from "./BidMarketplace.sol";
import {IERC20Transfers} from "./MarketplaceStorage.sol";

interface IOwnerOf {
    function owner() external view returns (address);
}

/// @title SessionRouter
/// @notice Sessions as the real SessionRouter facet runs them: a buyer opens a session on a bid with the
/// provider's signed approval and stakes MOR; the stake buys a share of today's compute stipend, which at the
/// bid's price sets `endsAt`. The provider is paid per second of the session (from the funding account, or from
/// the user's stake when paying directly), claims are capped by its stake per 365-day period, and the user's
/// close writes the provider's stats. The rules and where they were read are in contracts/README.md.
abstract contract SessionRouter is BidMarketplace {
    struct Session {
        address user;
        bytes32 bidId;
        uint256 stake;
        bytes closeoutReceipt;
        uint256 closeoutType; // 1 = closed with a dispute (no valid provider receipt)
        uint256 providerWithdrawnAmount;
        uint128 openedAt;
        uint128 endsAt;
        uint128 closedAt;
        bool isActive;
        bool isDirectPaymentFromUser;
    }

    struct OnHold {
        uint256 amount;
        uint128 releaseAt;
    }

    struct ProviderModelStats {
        SD tpsScaled1000;
        SD ttftMs;
        uint32 totalDuration;
        uint32 successCount;
        uint32 totalCount;
    }

    struct ModelStats {
        SD tpsScaled1000;
        SD ttftMs;
        SD totalDuration;
        uint32 count;
    }

    uint32 public constant MIN_SESSION_DURATION = 5 minutes;
    uint32 public constant SIGNATURE_TTL = 10 minutes;
    uint256 public constant COMPUTE_POOL_INDEX = 3;

    address internal _fundingAccount;
    Pool[] internal _pools;
    uint256 internal _providersTotalClaimed;
    uint256 internal _sessionNonce;
    uint128 internal _maxSessionDuration;
    mapping(bytes32 sessionId => Session) internal _sessions;
    mapping(address user => bytes32[]) internal _userSessions;
    mapping(address provider => bytes32[]) internal _providerSessions;
    mapping(bytes32 modelId => bytes32[]) internal _modelSessions;
    mapping(address user => OnHold[]) internal _userStakesOnHold;
    mapping(bytes providerApproval => bool) internal _isProviderApprovalUsed;
    mapping(bytes32 modelId => mapping(address provider => ProviderModelStats)) internal _providerModelStats;
    mapping(bytes32 modelId => ModelStats) internal _modelStats;

    event SessionOpened(address indexed user, bytes32 indexed sessionId, address indexed providerId);
    event SessionClosed(address indexed user, bytes32 indexed sessionId, address indexed providerId);
    event UserWithdrawn(address indexed user, uint256 amount_);

    error SessionProviderSignatureMismatch();
    error SessionApproveExpired();
    error SessionApprovedForAnotherChainId();
    error SessionDuplicateApproval();
    error SessionApprovedForAnotherUser(); // declared, never thrown (the approval's user is not checked)
    error SessionReceiptForAnotherChainId();
    error SessionReceiptExpired();
    error SessionTooShort();
    error SessionAlreadyClosed();
    error SessionNotEndedOrNotExist(); // declared, never thrown
    error SessionProviderNothingToClaimInThisPeriod(); // declared, never thrown
    error SessionBidNotFound();
    error SessionPoolIndexOutOfBounds();
    error SessionUserAmountToWithdrawIsZero();
    error SessionMaxDurationTooShort();
    error SessionStakeTooLow();

    // --- owner ---------------------------------------------------------------------------------------

    function setPoolConfig(uint256 index_, Pool calldata pool_) external onlyOwner {
        if (index_ >= _pools.length) revert SessionPoolIndexOutOfBounds();
        _pools[index_] = pool_;
    }

    function setMaxSessionDuration(uint128 maxSessionDuration_) public onlyOwner {
        if (maxSessionDuration_ < MIN_SESSION_DURATION) revert SessionMaxDurationTooShort();
        _maxSessionDuration = maxSessionDuration_;
    }

    // --- open ----------------------------------------------------------------------------------------

    /// @notice Open a session for `user_` (the sender, or its DELEGATION_RULES_SESSION delegate) on the bid
    /// named in the provider's approval `abi.encode(bidId, chainId, user, timestamp)`, signed EIP-191 by the
    /// provider (or its DELEGATION_RULES_PROVIDER delegate). Pulls `amount_` MOR from the user.
    function openSession(
        address user_,
        uint256 amount_,
        bool isDirectPaymentFromUser_,
        bytes calldata approvalEncoded_,
        bytes calldata signature_
    ) external returns (bytes32 sessionId_) {
        _validateDelegatee(msg.sender, user_, DELEGATION_RULES_SESSION);

        bytes32 bidId_ = _extractProviderApproval(approvalEncoded_);
        Bid storage bid = _bids[bidId_];
        sessionId_ = getSessionId(user_, bid.provider, bidId_, _sessionNonce++);

        _pullToken(user_, amount_);

        Session storage session = _sessions[sessionId_];
        session.user = user_;
        session.stake = amount_;
        session.bidId = bidId_;
        session.openedAt = uint128(block.timestamp);
        session.endsAt = _validateSession(bidId_, amount_, isDirectPaymentFromUser_, approvalEncoded_, signature_);
        session.isActive = true;
        session.isDirectPaymentFromUser = isDirectPaymentFromUser_;

        _userSessions[user_].push(sessionId_);
        _providerSessions[bid.provider].push(sessionId_);
        _modelSessions[bid.modelId].push(sessionId_);
        _isProviderApprovalUsed[approvalEncoded_] = true;

        emit SessionOpened(user_, sessionId_, bid.provider);
    }

    function _extractProviderApproval(bytes calldata approval_) private view returns (bytes32 bidId_) {
        uint256 chainId_;
        uint128 timestamp_;
        (bidId_, chainId_, , timestamp_) = abi.decode(approval_, (bytes32, uint256, address, uint128));
        if (chainId_ != block.chainid) revert SessionApprovedForAnotherChainId();
        if (block.timestamp > timestamp_ + SIGNATURE_TTL) revert SessionApproveExpired();
    }

    function _validateSession(
        bytes32 bidId_,
        uint256 amount_,
        bool isDirectPaymentFromUser_,
        bytes calldata approvalEncoded_,
        bytes calldata signature_
    ) private view returns (uint128 endsAt_) {
        if (!isBidActive(bidId_)) revert SessionBidNotFound();
        Bid storage bid = _bids[bidId_];
        if (!_isValidProviderReceipt(bid.provider, approvalEncoded_, signature_)) {
            revert SessionProviderSignatureMismatch();
        }
        if (_isProviderApprovalUsed[approvalEncoded_]) revert SessionDuplicateApproval();

        endsAt_ = getSessionEnd(amount_, bid.pricePerSecond, uint128(block.timestamp));
        uint128 duration_ = endsAt_ - uint128(block.timestamp);
        if (duration_ < MIN_SESSION_DURATION) revert SessionTooShort();
        if (isDirectPaymentFromUser_ && duration_ * bid.pricePerSecond > amount_) revert SessionStakeTooLow();
    }

    /// @notice keccak256(abi.encodePacked(user_, provider_, bidId_, sessionNonce_)); the nonce is global.
    function getSessionId(
        address user_,
        address provider_,
        bytes32 bidId_,
        uint256 sessionNonce_
    ) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(user_, provider_, bidId_, sessionNonce_));
    }

    /// @notice openedAt_ + min(stakeToStipend(amount_, openedAt_) / pricePerSecond_, getMaxSessionDuration()).
    function getSessionEnd(uint256 amount_, uint256 pricePerSecond_, uint128 openedAt_) public view returns (uint128) {
        uint128 duration_ = uint128(stakeToStipend(amount_, openedAt_) / pricePerSecond_);
        if (duration_ > _maxSessionDuration) duration_ = _maxSessionDuration;
        return openedAt_ + duration_;
    }

    /// @notice The user's share of today's compute budget: amount * computeBalance / (totalMORSupply * 100).
    function stakeToStipend(uint256 amount_, uint128 timestamp_) public view returns (uint256) {
        uint256 totalMorSupply_ = totalMORSupply(timestamp_);
        if (totalMorSupply_ == 0) return 0;
        return (amount_ * getComputeBalance(timestamp_)) / (totalMorSupply_ * 100);
    }

    /// @notice The inverse of stakeToStipend: stipend * totalMORSupply * 100 / computeBalance.
    function stipendToStake(uint256 stipend_, uint128 timestamp_) public view returns (uint256) {
        uint256 computeBalance_ = getComputeBalance(timestamp_);
        if (computeBalance_ == 0) return 0;
        return (stipend_ * totalMORSupply(timestamp_) * 100) / computeBalance_;
    }

    // --- close ---------------------------------------------------------------------------------------

    /// @notice Close a session (its user or the user's DELEGATION_RULES_SESSION delegate). The receipt is
    /// `abi.encode(sessionId, chainId, timestamp, tpsScaled1000, ttftMs)`; a valid provider signature over it
    /// counts as a success in the stats, anything else as a dispute. Pays the provider what it earned so far
    /// and returns the user's stake, less today's used stipend, which is held until the next UTC day.
    function closeSession(bytes calldata receiptEncoded_, bytes calldata signature_) external {
        (bytes32 sessionId_, uint256 chainId_, uint128 timestamp_, uint32 tpsScaled1000_, uint32 ttftMs_) = abi.decode(
            receiptEncoded_,
            (bytes32, uint256, uint128, uint32, uint32)
        );
        if (chainId_ != block.chainid) revert SessionReceiptForAnotherChainId();
        if (block.timestamp > timestamp_ + SIGNATURE_TTL) revert SessionReceiptExpired();

        Session storage session = _sessions[sessionId_];
        Bid storage bid = _bids[session.bidId];
        _validateDelegatee(msg.sender, session.user, DELEGATION_RULES_SESSION);
        if (session.closedAt != 0) revert SessionAlreadyClosed();

        session.isActive = false;
        session.closeoutReceipt = receiptEncoded_;
        session.closedAt = uint128(block.timestamp);

        bool noDispute_ = _isValidProviderReceipt(bid.provider, receiptEncoded_, signature_);

        _rewardUserAfterClose(session, bid);

        uint256 providerAmount_ = _providerRewards(session, bid, true);
        if (!noDispute_ && session.closedAt < session.endsAt) providerAmount_ -= _providerOnHold(session, bid);
        _claimForProvider(session, providerAmount_);

        _setStats(noDispute_, ttftMs_, tpsScaled1000_, session, bid);

        emit SessionClosed(session.user, sessionId_, bid.provider);
    }

    function _rewardUserAfterClose(Session storage session, Bid storage bid) private {
        uint128 sessionEnd_ = _min128(session.closedAt, session.endsAt);
        uint128 startOfEndDay_ = startOfTheDay(sessionEnd_);
        uint128 releaseAt_ = startOfEndDay_ + 1 days;

        uint256 userStake_ = session.stake;
        if (session.isDirectPaymentFromUser) userStake_ -= _providerRewards(session, bid, false);
        uint256 lock_ = 0;
        if (block.timestamp < releaseAt_) {
            uint256 usedToday_ = (sessionEnd_ - _max128(session.openedAt, startOfEndDay_)) * bid.pricePerSecond;
            lock_ = _min(userStake_, stipendToStake(usedToday_, startOfEndDay_));
            if (lock_ > 0) _userStakesOnHold[session.user].push(OnHold(lock_, releaseAt_));
        }
        _pushToken(session.user, userStake_ - lock_);
    }

    function _setStats(
        bool noDispute_,
        uint32 ttftMs_,
        uint32 tpsScaled1000_,
        Session storage session,
        Bid storage bid
    ) private {
        ProviderModelStats storage prStats = _providerModelStats[bid.modelId][bid.provider];
        ModelStats storage modelStats = _modelStats[bid.modelId];

        prStats.totalCount++;
        if (!noDispute_) {
            session.closeoutType = 1;
            return;
        }
        if (prStats.successCount > 0) {
            // this pair already counts in the model's averages: take its old means out first
            modelStats.tpsScaled1000.sdRemove(int32(prStats.tpsScaled1000.mean), int32(modelStats.count - 1));
            modelStats.ttftMs.sdRemove(int32(prStats.ttftMs.mean), int32(modelStats.count - 1));
        } else {
            modelStats.count++;
        }
        prStats.successCount++;
        prStats.totalDuration += uint32(session.closedAt - session.openedAt);
        prStats.tpsScaled1000.sdAdd(int32(tpsScaled1000_), int32(prStats.successCount));
        prStats.ttftMs.sdAdd(int32(ttftMs_), int32(prStats.successCount));

        modelStats.totalDuration.sdAdd(int32(prStats.totalDuration), int32(modelStats.count));
        modelStats.tpsScaled1000.sdAdd(int32(prStats.tpsScaled1000.mean), int32(modelStats.count));
        modelStats.ttftMs.sdAdd(int32(prStats.ttftMs.mean), int32(modelStats.count));
    }

    // --- provider earnings ---------------------------------------------------------------------------

    /// @notice Pay the provider (sender: the provider or its DELEGATION_RULES_SESSION delegate) what the
    /// session earned and was not paid yet, once it has ended (endsAt passed, or closed), capped by the stake.
    /// Nothing to pay is not an error: the call then succeeds and moves no MOR.
    function claimForProvider(bytes32 sessionId_) external {
        Session storage session = _sessions[sessionId_];
        Bid storage bid = _bids[session.bidId];
        _validateDelegatee(msg.sender, bid.provider, DELEGATION_RULES_SESSION);
        _claimForProvider(session, _providerRewards(session, bid, true) - _providerOnHold(session, bid));
    }

    /// @notice What claimForProvider(sessionId_) would pay now (0 for an unknown or live session).
    /// Devnet convenience: the live Diamond has no such view (older facets had one under this name), so the
    /// reconciler must compute it from getSession, getBid and getProvider as contracts/README.md says.
    function getProviderClaimableBalance(bytes32 sessionId_) external view returns (uint256) {
        Session storage session = _sessions[sessionId_];
        Bid storage bid = _bids[session.bidId];
        uint256 earned_ = _providerRewards(session, bid, true);
        uint256 held_ = _providerOnHold(session, bid);
        if (earned_ <= held_) return 0;
        Provider storage provider = _providers[bid.provider];
        uint256 limit_ = block.timestamp > provider.limitPeriodEnd
            ? provider.stake
            : provider.stake - provider.limitPeriodEarned;
        return _min(earned_ - held_, limit_);
    }

    /// @dev Seconds of the session that have ended, times the bid's price (0 while it runs).
    function _providerRewards(Session storage session, Bid storage bid, bool lessWithdrawn_) private view returns (uint256) {
        uint256 end_ = session.closedAt == 0 ? session.endsAt : _min128(session.closedAt, session.endsAt);
        if (block.timestamp < end_) return 0;
        uint256 withdrawn_ = lessWithdrawn_ ? session.providerWithdrawnAmount : 0;
        return (end_ - session.openedAt) * bid.pricePerSecond - withdrawn_;
    }

    /// @dev On the UTC day of the close, the price of that day's part of the session stays held.
    function _providerOnHold(Session storage session, Bid storage bid) private view returns (uint256) {
        uint128 startOfClosedAt_ = startOfTheDay(session.closedAt);
        if (block.timestamp >= startOfClosedAt_ + 1 days) return 0;
        return (session.closedAt - _max128(startOfClosedAt_, session.openedAt)) * bid.pricePerSecond;
    }

    /// @dev Pay at most stake - limitPeriodEarned; a claim after limitPeriodEnd starts a new 365-day period.
    function _claimForProvider(Session storage session, uint256 amount_) private {
        Bid storage bid = _bids[session.bidId];
        Provider storage provider = _providers[bid.provider];

        if (block.timestamp > provider.limitPeriodEnd) {
            provider.limitPeriodEnd = uint128(block.timestamp) + PROVIDER_REWARD_LIMITER_PERIOD;
            provider.limitPeriodEarned = 0;
        }
        amount_ = _min(amount_, provider.stake - provider.limitPeriodEarned);
        if (amount_ == 0) return;

        session.providerWithdrawnAmount += amount_;
        provider.limitPeriodEarned += amount_;
        _providersTotalClaimed += amount_;

        if (session.isDirectPaymentFromUser) {
            _pushToken(bid.provider, amount_);
        } else if (!IERC20Transfers(_token).transferFrom(_fundingAccount, bid.provider, amount_)) {
            revert SafeERC20FailedOperation(_token);
        }
    }

    // --- user stakes on hold -------------------------------------------------------------------------

    function getUserStakesOnHold(
        address user_,
        uint8 /* iterations_: ignored, as in the real contract */
    ) external view returns (uint256 available_, uint256 hold_) {
        OnHold[] storage onHold_ = _userStakesOnHold[user_];
        for (uint256 i = 0; i < onHold_.length; i++) {
            if (block.timestamp < onHold_[i].releaseAt) hold_ += onHold_[i].amount;
            else available_ += onHold_[i].amount;
        }
    }

    function withdrawUserStakes(address user_, uint8 iterations_) external {
        _validateDelegatee(msg.sender, user_, DELEGATION_RULES_SESSION);
        OnHold[] storage entries_ = _userStakesOnHold[user_];
        uint256 length_ = entries_.length;
        uint256 count_ = iterations_ >= length_ ? uint8(length_) : iterations_; // uint8, as on chain
        if (length_ == 0 || count_ == 0) revert SessionUserAmountToWithdrawIsZero();

        uint256 amount_ = 0;
        uint256 removed_ = 0;
        for (uint256 i = length_; i > 0 && removed_ < count_; i--) {
            if (block.timestamp < entries_[i - 1].releaseAt) continue;
            amount_ += entries_[i - 1].amount;
            entries_[i - 1] = entries_[length_ - 1];
            entries_.pop();
            length_--;
            removed_++;
        }
        if (amount_ == 0) revert SessionUserAmountToWithdrawIsZero();
        _pushToken(user_, amount_);
        emit UserWithdrawn(user_, amount_);
    }

    // --- the compute budget --------------------------------------------------------------------------

    /// @notice 1% of the compute balance: what all sessions can draw today.
    function getTodaysBudget(uint128 timestamp_) external view returns (uint256) {
        return getComputeBalance(timestamp_) / 100;
    }

    /// @notice The compute pool's emission up to the start of the day, less what providers claimed.
    function getComputeBalance(uint128 timestamp_) public view returns (uint256) {
        return poolRewardUntil(_pools[COMPUTE_POOL_INDEX], startOfTheDay(timestamp_)) - _providersTotalClaimed;
    }

    /// @notice The other pools' emission up to the start of the day, plus what providers claimed.
    function totalMORSupply(uint128 timestamp_) public view returns (uint256 total_) {
        uint128 startOfDay_ = startOfTheDay(timestamp_);
        for (uint256 i = 0; i < _pools.length; i++) {
            if (i != COMPUTE_POOL_INDEX) total_ += poolRewardUntil(_pools[i], startOfDay_);
        }
        total_ += _providersTotalClaimed;
    }

    function startOfTheDay(uint128 timestamp_) public pure returns (uint128) {
        return timestamp_ - (timestamp_ % 1 days);
    }

    // --- views ---------------------------------------------------------------------------------------

    function getSession(bytes32 sessionId_) external view returns (Session memory) {
        return _sessions[sessionId_];
    }

    /// @return items the user's sessions in opening order (oldest first) in [offset_, offset_ + limit_), and the total
    function getUserSessions(address user_, uint256 offset_, uint256 limit_) external view returns (bytes32[] memory, uint256) {
        return pageOf(_userSessions[user_], offset_, limit_);
    }

    /// @return items the provider's sessions in opening order (oldest first), and the total; never pruned
    function getProviderSessions(
        address provider_,
        uint256 offset_,
        uint256 limit_
    ) external view returns (bytes32[] memory, uint256) {
        return pageOf(_providerSessions[provider_], offset_, limit_);
    }

    /// @return items the model's sessions in opening order (oldest first), and the total; never pruned
    function getModelSessions(
        bytes32 modelId_,
        uint256 offset_,
        uint256 limit_
    ) external view returns (bytes32[] memory, uint256) {
        return pageOf(_modelSessions[modelId_], offset_, limit_);
    }

    function getTotalSessions(address provider_) external view returns (uint256) {
        return _providerSessions[provider_].length;
    }

    function getProviderModelStats(bytes32 modelId_, address provider_) external view returns (ProviderModelStats memory) {
        return _providerModelStats[modelId_][provider_];
    }

    function getModelStats(bytes32 modelId_) external view returns (ModelStats memory) {
        return _modelStats[modelId_];
    }

    function getPools() external view returns (Pool[] memory) {
        return _pools;
    }

    function getPool(uint256 index_) external view returns (Pool memory) {
        return _pools[index_];
    }

    function getFundingAccount() external view returns (address) {
        return _fundingAccount;
    }

    function getProvidersTotalClaimed() external view returns (uint256) {
        return _providersTotalClaimed;
    }

    function getIsProviderApprovalUsed(bytes calldata approval_) external view returns (bool) {
        return _isProviderApprovalUsed[approval_];
    }

    function getMaxSessionDuration() external view returns (uint128) {
        return _maxSessionDuration;
    }

    // --- internals -----------------------------------------------------------------------------------

    /// @dev The real facet's check: the EIP-191 signer of keccak256(message_) is the provider, holds the
    /// provider's DELEGATION_RULES_PROVIDER right, or is owner() of a provider that is a contract. A malformed
    /// signature reverts with OpenZeppelin 4's ECDSA messages instead of returning false.
    function _isValidProviderReceipt(
        address provider_,
        bytes calldata message_,
        bytes calldata signature_
    ) private view returns (bool) {
        address signer_ = _recover(
            keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", keccak256(message_))),
            signature_
        );
        if (signer_ == provider_ || isRightsDelegated(signer_, provider_, DELEGATION_RULES_PROVIDER)) return true;
        if (provider_.code.length > 0) {
            (bool ok_, bytes memory result_) = provider_.staticcall(abi.encodeCall(IOwnerOf.owner, ()));
            if (ok_ && result_.length == 32 && abi.decode(result_, (address)) == signer_) return true;
        }
        return false;
    }

    function _recover(bytes32 hash_, bytes calldata signature_) private pure returns (address signer_) {
        if (signature_.length != 65) revert("ECDSA: invalid signature length");
        bytes32 r_ = bytes32(signature_[0:32]);
        bytes32 s_ = bytes32(signature_[32:64]);
        if (uint256(s_) > 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0) {
            revert("ECDSA: invalid signature 's' value");
        }
        signer_ = ecrecover(hash_, uint8(signature_[64]), r_, s_);
        if (signer_ == address(0)) revert("ECDSA: invalid signature");
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }

    function _min128(uint128 a, uint128 b) private pure returns (uint128) {
        return a < b ? a : b;
    }

    function _max128(uint128 a, uint128 b) private pure returns (uint128) {
        return a > b ? a : b;
    }
}
