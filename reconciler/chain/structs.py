"""The marketplace's structs read from the bytes a call answers, leniently: what others wrote is data.

Anyone can register a model or a provider, and the contracts keep its strings as the bytes that were sent: a
name that is not UTF-8, 100 KB long, 10,000 tags. A strict decoder fails on them, and one failure used to fail
the whole reading, so a stranger could stop every reconciler on a marketplace. Here:
- only what is needed is read: of a model nobody declared, its owner (`model_owner`, the head's fixed words);
- a string is taken as UTF-8 with replacement characters, at most MAX_TEXT bytes of it, and a list at most
  MAX_TAGS items: what was repaired is said (`Decoded.repaired`) so an own item can be shown with a warning;
- an answer that is not the struct at all (too short, an offset or a length past its end, an address with high
  bits set) is `Unreadable`, a value: the caller skips that item, and only that item.
Pure functions of bytes, so they are fuzzed without a node (tests/chain/test_structs.py). Nothing here raises
for any input; the cost is bounded by MAX_TEXT and MAX_TAGS, whatever the answer's size.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Generic, TypeVar

from reconciler.market.ids import checksum
from reconciler.observe.model import BidState, ModelState, ProviderState

T = TypeVar("T")

WORD = 32
MAX_TEXT = 4096  # bytes of one string kept (a desired name is at most 256 characters, a tag 64)
MAX_TAGS = 1024  # tags of one model kept
ZERO_ADDRESS = "0x" + "00" * 20
NOT_UTF8 = "is not UTF-8 (shown with U+FFFD)"


@dataclass(frozen=True)
class Unreadable:
    """The answer is not a struct of that shape; `why` says where it breaks (for a warning naming the item)."""

    why: str


@dataclass(frozen=True)
class Decoded(Generic[T]):
    """A struct read leniently; `repaired` names each field not shown exactly as written (not UTF-8, cut)."""

    value: T
    repaired: tuple[str, ...] = ()


def model_owner(data: bytes) -> str | Unreadable | None:
    """The owner of a `getModel` answer (None: never registered), from the head's fixed words only: a foreign
    model's name and tags are never looked at."""
    try:
        base = _word(data, 0)
        created_at = _word(data, base + 6 * WORD)
        owner = _address(data, base + 3 * WORD)
    except ValueError as exc:
        return Unreadable(str(exc))
    return None if created_at == 0 or owner == ZERO_ADDRESS else owner


def model(model_id: str, data: bytes) -> Decoded[ModelState | None] | Unreadable:
    """A `getModel` answer in full (None: never registered)."""
    try:
        base = _word(data, 0)
        ipfs = _bytes32(data, base)
        fee, stake = _word(data, base + WORD), _word(data, base + 2 * WORD)
        owner = _address(data, base + 3 * WORD)
        created_at = _word(data, base + 6 * WORD)
        deleted = _bool(data, base + 7 * WORD)
        if created_at == 0 or owner == ZERO_ADDRESS:
            return Decoded(None)
        repaired: list[str] = []
        name = _text(data, base, base + 4 * WORD, "name", repaired)
        tags = _texts(data, base, base + 5 * WORD, "tags", repaired)
    except ValueError as exc:
        return Unreadable(str(exc))
    state = ModelState(
        model_id=model_id,
        owner=owner,
        name=name,
        tags=tags,
        fee=fee,
        stake=stake,
        ipfs_cid=ipfs,
        created_at=created_at,
        is_deleted=deleted,
    )
    return Decoded(state, tuple(repaired))


def provider(address: str, data: bytes) -> Decoded[ProviderState | None] | Unreadable:
    """A `getProvider` answer (None: never registered)."""
    try:
        base = _word(data, 0)
        stake, created_at = _word(data, base + WORD), _word(data, base + 2 * WORD)
        limit_end, earned = _word(data, base + 3 * WORD), _word(data, base + 4 * WORD)
        deleted = _bool(data, base + 5 * WORD)
        if created_at == 0:
            return Decoded(None)
        repaired: list[str] = []
        endpoint = _text(data, base, base, "endpoint", repaired)
    except ValueError as exc:
        return Unreadable(str(exc))
    return Decoded(ProviderState(address, endpoint, stake, created_at, earned, deleted, limit_end), tuple(repaired))


def bid(bid_id: str, data: bytes) -> BidState | Unreadable:
    """A `getBid` answer (fixed words only)."""
    try:
        owner = _address(data, 0)
        model_id = _bytes32(data, WORD)
        price, nonce = _word(data, 2 * WORD), _word(data, 3 * WORD)
        created_at, deleted_at = _word(data, 4 * WORD), _word(data, 5 * WORD)
    except ValueError as exc:
        return Unreadable(str(exc))
    return BidState(
        bid_id=bid_id,
        provider=owner,
        model_id=model_id,
        price_per_second=price,
        nonce=nonce,
        created_at=created_at,
        deleted_at=deleted_at,
    )


# --- the ABI's words, each read checked against the answer's end ------------------------------------------------


def _word(data: bytes, at: int) -> int:
    if at < 0 or at + WORD > len(data):
        raise ValueError(f"the answer ends at byte {len(data)}, a word at byte {at} was expected")
    return int.from_bytes(data[at : at + WORD], "big")


def _bytes32(data: bytes, at: int) -> str:
    _word(data, at)
    return "0x" + data[at : at + WORD].hex()


def _address(data: bytes, at: int) -> str:
    value = _word(data, at)
    if value >> 160:
        raise ValueError(f"the word at byte {at} is not an address")
    return checksum("0x" + value.to_bytes(20, "big").hex())


def _bool(data: bytes, at: int) -> bool:
    value = _word(data, at)
    if value > 1:
        raise ValueError(f"the word at byte {at} is not a bool")
    return value == 1


def _span(data: bytes, start: int, what: str) -> tuple[int, int]:
    """(where the content starts, its length) of a dynamic value at `start`, its length checked."""
    length = _word(data, start)
    body = start + WORD
    if length > len(data) - body:
        raise ValueError(f"{what}: {length} bytes or items said, the answer has {len(data) - body} left")
    return body, length


def _text(data: bytes, base: int, head: int, what: str, repaired: list[str]) -> str:
    """The string whose offset (from `base`) is at `head`: UTF-8 with replacement characters, at most MAX_TEXT
    bytes of it; each repair is said in `repaired`, prefixed with `what`."""
    text, problems = _text_at(data, base, head, what)
    repaired.extend(f"{what} {p}" for p in problems)
    return text


def _text_at(data: bytes, base: int, head: int, what: str) -> tuple[str, tuple[str, ...]]:
    body, length = _span(data, base + _word(data, head), what)
    if length <= MAX_TEXT:
        raw = data[body : body + length]
        try:
            return raw.decode("utf-8"), ()
        except UnicodeDecodeError:
            return raw.decode("utf-8", "replace"), (NOT_UTF8,)
    raw = data[body : body + MAX_TEXT]
    cut = f"is {length} bytes long, the first {MAX_TEXT} shown"
    decoder = codecs.getincrementaldecoder("utf-8")  # not final: an incomplete last character is left out
    try:
        return decoder("strict").decode(raw, final=False) + "…", (cut,)
    except UnicodeDecodeError:
        return decoder("replace").decode(raw, final=False) + "…", (NOT_UTF8, cut)


def _texts(data: bytes, base: int, head: int, what: str, repaired: list[str]) -> tuple[str, ...]:
    """The string[] whose offset (from `base`) is at `head`: at most MAX_TAGS of them."""
    body, count = _span(data, base + _word(data, head), what)
    if count > (len(data) - body) // WORD:
        raise ValueError(f"{what}: {count} items said, the answer has room for {(len(data) - body) // WORD}")
    if count > MAX_TAGS:
        repaired.append(f"{what}: {count} of them, the first {MAX_TAGS} shown")
    read = [_text_at(data, body, body + i * WORD, what) for i in range(min(count, MAX_TAGS))]
    bad = [(i, problems) for i, (_, problems) in enumerate(read) if problems]
    if len(bad) > 3:  # one line for many
        repaired.append(f"{len(bad)} of the {what} are not UTF-8 or too long (shown repaired)")
    else:
        repaired.extend(f"{what}[{i}] {p}" for i, problems in bad for p in problems)
    return tuple(text for text, _ in read)
