// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

// The MOR emission curve the session stipend is priced against, and the running mean/variance the session
// stats keep. Free functions (like Sets.sol), so the build emits no extra artifact.

/// @dev A MOR distribution pool as the L1 Distribution contract describes it (mirrored by the real Diamond).
struct Pool {
    uint256 initialReward;
    uint256 rewardDecrease;
    uint128 payoutStart;
    uint128 decreaseInterval;
}

/// @dev Running mean and sum of squared deviations (Welford), in int64, as the real contract's LibSD.
struct SD {
    int64 mean;
    int64 sqSum;
}

using {sdAdd, sdRemove} for SD global;

/// @dev MOR the pool emitted from payoutStart to endTime: the real LinearDistributionIntervalDecrease
/// .getPeriodReward(initial, decrease, payoutStart, interval, payoutStart, endTime), which is the only way the
/// real SessionRouter calls it. With the period starting at payoutStart, its leading partial interval is empty.
function poolRewardUntil(Pool memory pool, uint128 endTime) pure returns (uint256) {
    uint256 interval = pool.decreaseInterval;
    if (interval == 0) return 0;
    uint256 start = pool.payoutStart;
    uint256 end = endTime;
    if (pool.rewardDecrease != 0) {
        uint256 maxIntervals = (pool.initialReward + pool.rewardDecrease - 1) / pool.rewardDecrease;
        uint256 maxEnd = uint128(start + maxIntervals * interval);
        if (end > maxEnd) end = maxEnd;
    }
    if (start >= end) return 0;
    uint256 intervals = (end - start) / interval;
    if (intervals == 0) return (pool.initialReward * (end - start)) / interval;
    uint256 reward = pool.initialReward * intervals - (pool.rewardDecrease * (intervals * (intervals - 1))) / 2;
    uint256 decreased = intervals * pool.rewardDecrease;
    if (decreased < pool.initialReward) {
        reward += ((pool.initialReward - decreased) * (end - start - intervals * interval)) / interval;
    }
    return reward;
}

function sdAdd(SD storage self, int64 x, int64 updatedCount) {
    int64 oldMean = self.mean;
    self.mean = self.mean + (x - self.mean) / updatedCount;
    self.sqSum = self.sqSum + (x - self.mean) * (x - oldMean);
}

function sdRemove(SD storage self, int64 x, int64 updatedCount) {
    if (updatedCount == 0) {
        self.mean = 0;
        self.sqSum = 0;
        return;
    }
    int64 oldMean = self.mean;
    self.mean = self.mean - (x - self.mean) / updatedCount;
    self.sqSum = self.sqSum - (x - self.mean) * (x - oldMean);
}
