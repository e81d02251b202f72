// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title DelegateRegistry
/// @notice The subset of the delegate.xyz v2 registry that the Morpheus marketplace uses: wallet-wide and
/// per-contract delegations with a `rights` value, and the checks for them. Same selectors, events and
/// delegation hashes as v2; token-level (ERC-721/20/1155) delegations, enumeration, multicall and
/// storage reads are left out.
///
/// v2 semantics: a delegation with empty rights (bytes32(0)) covers every right; a delegation with a
/// specific rights value covers only that value. A contract-level check also accepts a wallet-wide
/// delegation.
contract DelegateRegistry {
    uint256 private constant ALL_TYPE = 1;
    uint256 private constant CONTRACT_TYPE = 2;

    /// @dev delegation hash => the delegator while enabled (address(0) when never set or revoked)
    mapping(bytes32 delegationHash => address from) private _delegations;

    event DelegateAll(address indexed from, address indexed to, bytes32 rights, bool enable);
    event DelegateContract(
        address indexed from,
        address indexed to,
        address indexed contract_,
        bytes32 rights,
        bool enable
    );

    /// @notice Let `to` act for the caller everywhere (`rights` 0 = all rights), or revoke it.
    function delegateAll(address to, bytes32 rights, bool enable) external returns (bytes32 delegationHash) {
        delegationHash = _allHash(msg.sender, rights, to);
        _delegations[delegationHash] = enable ? msg.sender : address(0);
        emit DelegateAll(msg.sender, to, rights, enable);
    }

    /// @notice Let `to` act for the caller on `contract_` only (`rights` 0 = all rights), or revoke it.
    function delegateContract(
        address to,
        address contract_,
        bytes32 rights,
        bool enable
    ) external returns (bytes32 delegationHash) {
        delegationHash = _contractHash(msg.sender, rights, to, contract_);
        _delegations[delegationHash] = enable ? msg.sender : address(0);
        emit DelegateContract(msg.sender, to, contract_, rights, enable);
    }

    function checkDelegateForAll(address to, address from, bytes32 rights) external view returns (bool valid) {
        if (_invalidFrom(from)) return false;
        valid = _enabled(_allHash(from, "", to), from);
        if (!valid && rights != "") valid = _enabled(_allHash(from, rights, to), from);
    }

    function checkDelegateForContract(
        address to,
        address from,
        address contract_,
        bytes32 rights
    ) external view returns (bool valid) {
        if (_invalidFrom(from)) return false;
        valid = _enabled(_allHash(from, "", to), from) || _enabled(_contractHash(from, "", to, contract_), from);
        if (!valid && rights != "") {
            valid =
                _enabled(_allHash(from, rights, to), from) ||
                _enabled(_contractHash(from, rights, to, contract_), from);
        }
    }

    function _enabled(bytes32 delegationHash, address from) private view returns (bool) {
        return _delegations[delegationHash] == from;
    }

    /// @dev v2 treats address(0) (empty) and address(1) (revoked marker) as never having delegated.
    function _invalidFrom(address from) private pure returns (bool) {
        return from == address(0) || from == address(1);
    }

    /// @dev v2's hash: keccak256 of the packed fields, shifted left one byte, type in the lowest byte.
    function _allHash(address from, bytes32 rights, address to) private pure returns (bytes32) {
        return bytes32((uint256(keccak256(abi.encodePacked(rights, from, to))) << 8) | ALL_TYPE);
    }

    function _contractHash(address from, bytes32 rights, address to, address contract_) private pure returns (bytes32) {
        return bytes32((uint256(keccak256(abi.encodePacked(rights, from, to, contract_))) << 8) | CONTRACT_TYPE);
    }
}
