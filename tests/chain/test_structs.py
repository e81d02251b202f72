"""The lenient readers of the marketplace's structs (issue 26), fuzzed without a node: whatever bytes another party
wrote in a model's name or tags or a provider's endpoint, of whatever size, and whatever a node answers (cut,
garbled, padded), a reader gives the struct or `Unreadable`, never an exception; a well-formed answer reads as
the ABI says, strings as UTF-8 with replacement characters, and the cost stays bounded."""

from __future__ import annotations

import tracemalloc

from eth_abi import decode, encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.chain import structs
from reconciler.chain.structs import MAX_TAGS, MAX_TEXT, Decoded, Unreadable
from reconciler.market.ids import checksum
from reconciler.observe.model import ModelState, ProviderState

MODEL = "(bytes32,uint256,uint256,address,bytes,bytes[],uint128,bool)"  # `string` is encoded as `bytes` is
PROVIDER = "(bytes,uint256,uint128,uint128,uint256,bool)"
BID = "(address,bytes32,uint256,uint256,uint128,uint128)"
MID = "0x" + "ab" * 32

# bytes of any value, and now and then of a size no reconciler would write (a 100 KB name, a long run)
# (sizes around the readers' bounds and far past them; the 10,000 tags of the issue are in a fixed test below)
SIZES = st.one_of(st.integers(0, 5000), st.sampled_from([MAX_TEXT - 1, MAX_TEXT, MAX_TEXT + 1, 100_000]))
texts = st.one_of(
    st.binary(max_size=80),
    st.text(max_size=40).map(str.encode),
    st.builds(lambda n, b: (b * n)[:n], SIZES, st.binary(min_size=1, max_size=3)),
)
tag_lists = st.one_of(
    st.lists(texts, max_size=12),
    st.lists(st.binary(max_size=6), max_size=40),
    st.builds(
        lambda n, t: [t] * n, st.sampled_from([MAX_TAGS - 1, MAX_TAGS, MAX_TAGS + 1, 1500]), st.binary(max_size=6)
    ),
)
addresses = st.binary(min_size=20, max_size=20).map(lambda b: checksum("0x" + b.hex()))
u256 = st.integers(0, 2**256 - 1)
u128 = st.integers(0, 2**128 - 1)


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _dynamic(raw: bytes) -> bytes:
    return _word(len(raw)) + raw + b"\0" * (-len(raw) % 32)


def _dynamic_list(items: list[bytes]) -> bytes:
    tails = [_dynamic(t) for t in items]
    offsets, at = [], 32 * len(items)
    for t in tails:
        offsets.append(_word(at))
        at += len(t)
    return _word(len(items)) + b"".join(offsets) + b"".join(tails)


def model_answer(
    ipfs: bytes, fee: int, stake: int, owner: str, name: bytes, tags: list[bytes], created: int, deleted: bool
) -> bytes:
    """`getModel`'s answer as the ABI lays it out (eth_abi's encoder is too slow for thousands of big examples;
    the strict decoder checks this layout below)."""
    name_tail, tags_tail = _dynamic(name), _dynamic_list(tags)
    head = ipfs + _word(fee) + _word(stake) + _word(int(owner, 16)) + _word(8 * 32) + _word(8 * 32 + len(name_tail))
    return _word(32) + head + _word(created) + _word(int(deleted)) + name_tail + tags_tail


@st.composite
def mangled(draw: st.DrawFn, answer: bytes) -> bytes:
    """The answer as a node might garble it: cut anywhere, bytes overwritten, garbage appended, or nothing of it."""
    how = draw(st.sampled_from(["as-is", "cut", "overwrite", "append", "random"]))
    if how == "cut":
        return answer[: draw(st.integers(0, len(answer)))]
    if how == "overwrite" and answer:
        at = draw(st.integers(0, len(answer) - 1))
        patch = draw(st.binary(min_size=1, max_size=40))
        return answer[:at] + patch + answer[at + len(patch) :]
    if how == "append":
        return answer + draw(st.binary(max_size=100))
    if how == "random":
        return draw(st.binary(max_size=600))
    return answer


def _shows(shown: str, raw: bytes) -> bool:
    """`shown` is `raw` as UTF-8 with replacement characters; when cut (…), an incomplete last character is left out."""
    if len(raw) <= MAX_TEXT:
        return shown == raw.decode("utf-8", "replace")
    full = raw[:MAX_TEXT].decode("utf-8", "replace")
    return shown.endswith("…") and shown[:-1] in (full, full.removesuffix("\ufffd"))


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    ipfs=st.binary(min_size=32, max_size=32),
    fee=u256,
    stake=u256,
    owner=addresses,
    name=texts,
    tags=tag_lists,
    created=u128,
    deleted=st.booleans(),
    data=st.data(),
)
def test_a_model_answer_is_read_or_unreadable_never_an_exception(
    ipfs: bytes,
    fee: int,
    stake: int,
    owner: str,
    name: bytes,
    tags: list[bytes],
    created: int,
    deleted: bool,
    data: st.DataObject,
) -> None:
    answer = model_answer(ipfs, fee, stake, owner, name, tags, created, deleted)
    got = structs.model(MID, answer)
    assert isinstance(got, Decoded)
    if created == 0 or int(owner, 16) == 0:  # never registered
        assert got.value is None and structs.model_owner(answer) is None
    else:
        m = got.value
        assert isinstance(m, ModelState) and structs.model_owner(answer) == owner == m.owner
        assert (m.fee, m.stake, m.created_at, m.is_deleted, m.ipfs_cid) == (
            fee,
            stake,
            created,
            deleted,
            "0x" + ipfs.hex(),
        )
        assert _shows(m.name, name) and len(m.tags) == min(len(tags), MAX_TAGS)
        assert all(_shows(t, raw) for t, raw in zip(m.tags, tags, strict=False))
        exact = len(name) <= MAX_TEXT and len(tags) <= MAX_TAGS and all(len(t) <= MAX_TEXT for t in [name, *tags])
        valid = all(_utf8(t) for t in [name, *tags])
        assert (got.repaired == ()) == (exact and valid)
        if exact and valid:  # what the strict ABI decoder gives for the same answer
            (strict,) = decode([MODEL.replace("bytes,bytes[]", "string,string[]")], answer)
            assert strict == (ipfs, fee, stake, owner.lower(), m.name, m.tags, created, deleted)
    garbled = data.draw(mangled(answer))
    assert isinstance(structs.model(MID, garbled), (Decoded, Unreadable))
    assert isinstance(structs.model_owner(garbled), (str, Unreadable, type(None)))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    endpoint=texts,
    stake=u256,
    created=u128,
    limit_end=u128,
    earned=u256,
    deleted=st.booleans(),
    data=st.data(),
)
def test_a_provider_answer_is_read_or_unreadable_never_an_exception(
    endpoint: bytes, stake: int, created: int, limit_end: int, earned: int, deleted: bool, data: st.DataObject
) -> None:
    address = "0x" + "11" * 20
    answer = encode([PROVIDER], [(endpoint, stake, created, limit_end, earned, deleted)])
    got = structs.provider(address, answer)
    assert isinstance(got, Decoded)
    if created:
        assert got.value == ProviderState(
            address, got.value.endpoint if got.value else "", stake, created, earned, deleted, limit_end
        )
        assert got.value is not None and _shows(got.value.endpoint, endpoint)
        assert (got.repaired == ()) == (len(endpoint) <= MAX_TEXT and _utf8(endpoint))
    else:
        assert got.value is None
    assert isinstance(structs.provider(address, data.draw(mangled(answer))), (Decoded, Unreadable))


@settings(max_examples=300, deadline=None)
@given(provider=addresses, model=st.binary(min_size=32, max_size=32), words=st.tuples(u256, u256, u128, u128))
def test_a_bid_answer_reads_as_the_abi_says(provider: str, model: bytes, words: tuple[int, int, int, int]) -> None:
    answer = encode([BID], [(provider, model, *words)])
    got = structs.bid("0x" + "cd" * 32, answer)
    assert not isinstance(got, Unreadable)
    assert (got.provider, got.model_id, got.price_per_second, got.nonce, got.created_at, got.deleted_at) == (
        provider,
        "0x" + model.hex(),
        *words,
    )


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_at_all_are_a_struct_or_unreadable(answer: bytes) -> None:
    for read in (
        structs.model(MID, answer),
        structs.model_owner(answer),
        structs.provider("0x" + "11" * 20, answer),
        structs.bid(MID, answer),
    ):
        assert read is None or isinstance(read, (Decoded, Unreadable, str, structs.BidState))


def test_a_length_or_an_offset_past_the_end_is_unreadable_and_says_where() -> None:
    answer = encode([MODEL], [(b"\0" * 32, 0, 0, "0x" + "22" * 20, b"name", [b"a"], 1, False)])
    huge = answer[: 32 * 9] + (2**255).to_bytes(32, "big") + answer[32 * 10 :]  # the name's length
    got = structs.model(MID, huge)
    assert isinstance(got, Unreadable) and "bytes or items said" in got.why
    assert structs.model_owner(huge) == checksum("0x" + "22" * 20)  # the owner is read all the same
    assert isinstance(structs.model(MID, answer[:100]), Unreadable)
    assert isinstance(structs.model_owner(b""), Unreadable)


def test_huge_strings_and_lists_cost_little_and_say_what_was_cut() -> None:
    name = b"\xfe" + b"n" * 100_000
    tags = [b"\xff%d" % i for i in range(10_000)]
    answer = encode([MODEL], [(b"\0" * 32, 0, 0, "0x" + "33" * 20, name, tags, 1, False)])
    tracemalloc.start()
    try:
        got = structs.model(MID, answer)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # a few MB for an answer of ~1 MB (the issue allows 200 MB)
    assert isinstance(got, Decoded) and got.value is not None
    assert (
        len(got.value.name) == MAX_TEXT + 1 and got.value.name.startswith("\ufffdnnn") and got.value.name.endswith("…")
    )
    assert len(got.value.tags) == MAX_TAGS and got.value.tags[7] == "\ufffd7"
    assert got.repaired == (
        "name is not UTF-8 (shown with U+FFFD)",
        f"name is 100001 bytes long, the first {MAX_TEXT} shown",
        f"tags: 10000 of them, the first {MAX_TAGS} shown",
        f"{MAX_TAGS} of the tags are not UTF-8 or too long (shown repaired)",
    )


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
