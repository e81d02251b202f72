// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

// Enumerable sets (swap-and-pop removal, so the order after a removal matches OpenZeppelin's EnumerableSet,
// which the real contracts use) and the offset/limit pagination the marketplace views share.
// Free functions rather than a library, so the build emits no extra artifact.

struct Bytes32Set {
    bytes32[] values;
    mapping(bytes32 value => uint256 position) positions; // index + 1; 0 = absent
}

struct AddressSet {
    address[] values;
    mapping(address value => uint256 position) positions; // index + 1; 0 = absent
}

using {add, remove, contains, length, page} for Bytes32Set global;
using {addAddress, removeAddress, containsAddress, lengthOf, pageAddresses} for AddressSet global;

function add(Bytes32Set storage set, bytes32 value) returns (bool) {
    if (set.positions[value] != 0) return false;
    set.values.push(value);
    set.positions[value] = set.values.length;
    return true;
}

function remove(Bytes32Set storage set, bytes32 value) returns (bool) {
    uint256 position = set.positions[value];
    if (position == 0) return false;
    uint256 lastIndex = set.values.length - 1;
    if (position - 1 != lastIndex) {
        bytes32 last = set.values[lastIndex];
        set.values[position - 1] = last;
        set.positions[last] = position;
    }
    set.values.pop();
    delete set.positions[value];
    return true;
}

function contains(Bytes32Set storage set, bytes32 value) view returns (bool) {
    return set.positions[value] != 0;
}

function length(Bytes32Set storage set) view returns (uint256) {
    return set.values.length;
}

function page(Bytes32Set storage set, uint256 offset, uint256 limit) view returns (bytes32[] memory, uint256) {
    return pageOf(set.values, offset, limit);
}

function addAddress(AddressSet storage set, address value) returns (bool) {
    if (set.positions[value] != 0) return false;
    set.values.push(value);
    set.positions[value] = set.values.length;
    return true;
}

function removeAddress(AddressSet storage set, address value) returns (bool) {
    uint256 position = set.positions[value];
    if (position == 0) return false;
    uint256 lastIndex = set.values.length - 1;
    if (position - 1 != lastIndex) {
        address last = set.values[lastIndex];
        set.values[position - 1] = last;
        set.positions[last] = position;
    }
    set.values.pop();
    delete set.positions[value];
    return true;
}

function containsAddress(AddressSet storage set, address value) view returns (bool) {
    return set.positions[value] != 0;
}

function lengthOf(AddressSet storage set) view returns (uint256) {
    return set.values.length;
}

function pageAddresses(AddressSet storage set, uint256 offset, uint256 limit) view returns (address[] memory items, uint256 total) {
    total = set.values.length;
    uint256 count = _pageCount(total, offset, limit);
    items = new address[](count);
    for (uint256 i = 0; i < count; ++i) items[i] = set.values[offset + i];
}

/// @dev Items [offset, offset + limit) of `values` (clamped to its end) and the total count.
function pageOf(bytes32[] storage values, uint256 offset, uint256 limit) view returns (bytes32[] memory items, uint256 total) {
    total = values.length;
    uint256 count = _pageCount(total, offset, limit);
    items = new bytes32[](count);
    for (uint256 i = 0; i < count; ++i) items[i] = values[offset + i];
}

function _pageCount(uint256 total, uint256 offset, uint256 limit) pure returns (uint256) {
    if (offset >= total) return 0;
    uint256 left = total - offset;
    return limit < left ? limit : left;
}
