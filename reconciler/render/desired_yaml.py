"""`reconcile import`: the desired state that matches what is on chain now, written as commented YAML text.

Pure: chain state + base-id recoveries in, text + notes out. What the chain cannot say (the upstream accounts,
which upstream serves which model, the forwarder's file) is written as commented placeholder lines, each ending
in `# fill in: ...`, so the file fails validation until a person has filled them in. Everything taken from the
chain is exact (amounts in MOR only when that is exact, which `format_mor` guarantees), so a plan against the
filled-in file has nothing to change on chain. Strings are written as YAML double-quoted scalars whose control
and bidi characters are YAML escapes (`"\\e"`, `"\\u202E"`), so they round-trip and the file shows them; a name
or tag the schema refuses for such characters is written cleaned (each one spelled out as `\\x1b`), with an
explicit `baseModelId` and a comment saying what was replaced, and the next apply renames the model on chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler import DesiredStateInvalid
from reconciler.chain.registrations import Recovery
from reconciler.desired.model import DEFAULT_TAGS, Endpoint
from reconciler.market.units import format_mor
from reconciler.observe.model import BidState, ChainState, ModelState
from reconciler.render.controls import escape_controls, has_controls

FILL = "# fill in:"
PLACEHOLDER_UPSTREAM = "upstream-1"
ZERO32 = "0x" + "00" * 32
_TAG_ENDPOINTS = {tag: endpoint for endpoint, tag in DEFAULT_TAGS.items()}


class NotAProvider(DesiredStateInvalid):
    """The address given to import is no registered provider on the network read: fix `--provider` (the
    provider's address, as a desired state names it) or the network. The endpoint answered; nothing is wrong
    with it, so not `EndpointUnusable`."""


@dataclass(frozen=True)
class ImportSource:
    """How the network is named in the file, as the desired state names it: a preset, explicit chain id and
    addresses, or both (explicit values override the preset's). Never a resolved RPC URL."""

    preset: str | None
    rpc_url_ref: str | None = None
    devnet_dir: str | None = None
    chain_id: int | None = None
    diamond: str | None = None
    mor: str | None = None

    def describe(self) -> str:
        return self.preset or f"chain {self.chain_id}"


@dataclass
class Imported:
    text: str
    notes: list[str] = field(default_factory=list)  # for stderr: what a person must know
    managed: int = 0
    existing: int = 0
    bids: int = 0


_YAML_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\0": "\\0",
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    "\x85": "\\N",
    "\u2028": "\\L",
    "\u2029": "\\P",
}


def _yaml_printable(c: str) -> bool:
    """What YAML lets a file hold as it is (its printable set), less the control and bidi characters."""
    cp = ord(c)
    printable = 0x20 <= cp <= 0x7E or 0xA0 <= cp <= 0xD7FF or 0xE000 <= cp <= 0xFFFD or cp >= 0x10000
    return printable and not has_controls(c)


def _q(text: str) -> str:
    """A YAML double-quoted scalar that reads back as `text`, every control or bidi character a YAML escape."""
    out = []
    for c in text:
        if c in _YAML_ESCAPES:
            out.append(_YAML_ESCAPES[c])
        elif _yaml_printable(c):
            out.append(c)
        elif ord(c) < 0x100:
            out.append(f"\\x{ord(c):02X}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(f"\\U{ord(c):08X}")
    return '"' + "".join(out) + '"'


def _line(indent: int, content: str, comment: str = "") -> str:
    pad = "  " * indent
    if not comment:
        return pad + content
    return f"{pad + content:<44} # {comment}"


def _fill(indent: int, content: str, hint: str) -> str:
    return f"{'  ' * indent + '# ' + content:<44} {FILL} {hint}"


def endpoint_for(tags: tuple[str, ...]) -> Endpoint:
    """The endpoint kind the tags suggest (the health-probe tags: llm, embedding, tts, stt)."""
    for t in tags:
        if t.lower() in _TAG_ENDPOINTS:
            return _TAG_ENDPOINTS[t.lower()]
    return Endpoint.CHAT


def _declarable(name: str, tags: tuple[str, ...]) -> str | None:
    """Why an own model cannot be declared as ours even with its base id (None: it can)."""
    if not 1 <= len(name) <= 256:
        return "its on-chain name cannot be declared (empty or longer than 256 characters)"
    if any(t.lower() == "tee" for t in tags):
        return "it is tagged tee, which a resale model cannot claim"
    if len(set(tags)) != len(tags) or any(not 1 <= len(t) <= 64 for t in tags):
        return "its on-chain tags cannot be declared (duplicates or empty)"
    return None


@dataclass(frozen=True)
class Cleaned:
    """A model's name and tags as the schema takes them: each control or bidi character spelled out (`\\x1b`)."""

    name: str
    tags: tuple[str, ...]
    replaced: tuple[str, ...]  # what was cleaned, as `name "…"` or `tag "…"` (YAML-escaped, cut when long)


def cleaned(m: ModelState) -> Cleaned:
    def shown(what: str, text: str) -> str:
        return f"{what} {_q(text[:60])}{'…' if len(text) > 60 else ''}"

    replaced = [shown("name", m.name)] if has_controls(m.name) else []
    replaced += [shown("tag", t) for t in m.tags if has_controls(t)]
    return Cleaned(escape_controls(m.name), tuple(escape_controls(t) for t in m.tags), tuple(replaced))


def _say_cleaned(add: Callable[[str], None], c: Cleaned, renamed: bool) -> None:
    """The comment under a cleaned model: what the chain holds, and that each character was replaced."""
    if not c.replaced:
        return
    add(_line(2, f"# cleaned: the on-chain {', '.join(c.replaced)} held control or bidi characters,"))
    add(_line(2, "# which the schema refuses: each one is replaced by its escape written out (\\x1b, \\u202e)"))
    if renamed:
        add(_line(2, "# the next apply registers the model under the cleaned name (same modelId: baseModelId below)"))


def render_import(chain: ChainState, provider: str, recoveries: list[Recovery], source: ImportSource) -> Imported:
    if chain.provider is None or chain.provider.is_deleted:
        raise NotAProvider(f"{provider} is not a registered provider on this network: there is nothing to import")
    prov = chain.provider
    out = Imported(text="")
    rec = {r.model_id: r for r in recoveries}
    owner = provider.lower()
    bids = {b.model_id: b for b in sorted(chain.active_bids(), key=lambda b: b.created_at)}
    own = sorted(
        (m for m in chain.models if m.owner.lower() == owner and not m.is_deleted), key=lambda m: (m.created_at, m.name)
    )
    gone = [m for m in chain.models if m.owner.lower() == owner and m.is_deleted]
    others = sorted(
        (m for m in chain.models if m.owner.lower() != owner and m.model_id in bids), key=lambda m: (m.name, m.model_id)
    )
    L: list[str] = []
    add = L.append

    add(
        f"# Imported by `reconcile import` from {source.describe()} at block {chain.block_number} ({chain.block_hash})."
    )
    add("# Provider, stake, models and bids are what the chain holds now: a plan against this file changes nothing")
    add("# on chain. Commented lines that end in a 'fill in' note are placeholders: uncomment them and put in real")
    add("# values (the chain does not know your upstream accounts); until then `reconcile validate` fails on purpose.")
    add("")
    add("network:")
    if source.preset:
        add(_line(1, f"preset: {source.preset}"))
    if source.chain_id is not None:
        add(_line(1, f"chainId: {source.chain_id}"))
    if source.diamond:
        add(_line(1, f"diamond: {_q(source.diamond)}"))
    if source.mor:
        add(_line(1, f"mor: {_q(source.mor)}"))
    if source.rpc_url_ref:
        add(_line(1, f"rpcUrl: {source.rpc_url_ref}", "a reference; the URL itself is never written"))
    if source.devnet_dir:
        add(_line(1, f"devnetDir: {_q(source.devnet_dir)}"))
    add("")
    add("signer:")
    add(_line(1, f"address: {_q(prov.address)}", "the provider signs; a delegate (hot key): its address here"))
    add(_line(1, "privateKey: env:PROVIDER_PRIVATE_KEY", "or file:PATH; where the key comes from, never the key"))
    add("")
    add("provider:")
    add(_line(1, f"address: {_q(prov.address)}"))
    add(_line(1, f"endpoint: {_q(prov.endpoint)}"))  # as registered: quoted, so nothing in it adds a line
    add(_line(1, f"stake: {_q(format_mor(prov.stake))}", "on chain now; the contract only adds stake"))
    add("")

    has_models = bool(own or others)
    add("upstreams:" if has_models else "# upstreams:")
    add(_fill(1, f"{PLACEHOLDER_UPSTREAM}:", "a name for the API account that serves the models"))
    add(_fill(2, "baseUrl: https://api.example.com/v1", "its OpenAI-compatible base URL"))
    add(_fill(2, "apiKey: env:UPSTREAM_1_API_KEY", "a reference to its API key (env:NAME or file:PATH)"))
    add(_fill(2, "resaleAllowed: true", "only once you have checked that its terms allow resale"))
    add("")

    add("models:" if has_models else "models: []")
    names: set[str] = set()
    for m in own:
        r = rec.get(m.model_id)
        c = cleaned(m)
        why_not = _declarable(c.name, c.tags)
        if why_not is None and c.name in names:
            why_not = "another model of this provider has the same name (a desired state names each model once)"
        if r is not None and r.base_model_id is not None and why_not is None:
            out.managed += 1
            names.add(c.name)
            add(_line(1, f"- name: {_q(c.name)}"))
            _say_cleaned(add, c, renamed=True)
            add(_line(2, f"baseModelId: {_q(r.base_model_id)}", f"recovered from tx {r.tx_hash} ({r.via})"))
            if m.ipfs_cid != ZERO32:
                add(_line(2, f"ipfsCID: {_q(m.ipfs_cid)}"))
            add(_line(2, f"fee: {_q(format_mor(m.fee))}"))
            add(_line(2, f"stake: {_q(format_mor(m.stake))}", "on chain now; the contract only adds stake"))
            add(_line(2, f"tags: [{', '.join(_q(t) for t in c.tags)}]"))
            if c.replaced:
                out.notes.append(f"model {c.name} ({m.model_id}): {', '.join(c.replaced)} cleaned; apply renames it")
        else:
            out.existing += 1
            reason = why_not or (r.reason if r else "its registration was not found")
            note = (
                f"model {m.name!r} ({m.model_id}) is declared by modelId: {reason}; "
                "its own settings (name, fee, stake, tags) are not managed"
            )
            out.notes.append(note)
            add(_line(1, f"# NOT MANAGED: {reason}."))
            add(_line(1, "# Declared by modelId, so only its bid and proxy entry are managed, never the model's"))
            add(_line(1, "# own settings (name, fee, stake, tags); add baseModelId by hand to manage them."))
            add(_line(1, f"- modelId: {_q(m.model_id)}"))
            add(_line(2, f"name: {_q(c.name)}", "a label (the on-chain name)"))
            _say_cleaned(add, c, renamed=False)
        _serving(add, c.name, c.tags, bids.get(m.model_id))
    for m in others:
        out.existing += 1
        c = cleaned(m)
        add(_line(1, f"- modelId: {_q(m.model_id)}", f"owned by {m.owner}: only our bid and proxy entry"))
        add(_line(2, f"name: {_q(c.name)}", "a label (the on-chain name)"))
        _say_cleaned(add, c, renamed=False)
        _serving(add, c.name, c.tags, bids.get(m.model_id))
    declared = {m.model_id for m in own + others}
    for mid, b in bids.items():
        if mid not in declared:  # a bid on a deregistered model: it can only be deleted by hand or by prune
            out.notes.append(f"active bid {b.bid_id} is on model {mid}, which is not an active model: not imported")
    out.bids = sum(1 for m in own + others if m.model_id in bids)
    if gone:
        add(_line(1, "# deregistered models of this provider (not imported): "))
        for m in gone:
            add(_line(1, f"#   {_q(m.name)} ({m.model_id})"))
    add("")

    add("proxy:" if has_models else "# proxy:")
    add(_fill(1, "modelsConfigPath: models-config.json", "the forwarder's models-config (relative to this file)"))
    add("")
    add("policy:")
    add(
        _line(
            1,
            f"maxSpendPerApply: {_q(format_mor(chain.market.bid_fee))}",
            "one bid fee (one price change); raise it on purpose",
        )
    )
    out.text = "\n".join(L) + "\n"
    return out


def _serving(add: Callable[[str], None], name: str, tags: tuple[str, ...], bid: BidState | None) -> None:
    """The proxy-side placeholders and the bid of one model (its name and tags as the schema takes them)."""
    endpoint = endpoint_for(tags)
    if endpoint is not Endpoint.CHAT:
        add(_line(2, f"endpoint: {endpoint.value}", "inferred from the tags"))
    add(_fill(2, f"upstream: {PLACEHOLDER_UPSTREAM}", "the upstreams entry that serves this model"))
    add(_fill(2, f"upstreamModel: {_q(name)}", "the model's name at the upstream"))
    if bid is not None:
        add(_line(2, "bid:"))
        add(_line(3, f"pricePerSecond: {_q(format_mor(bid.price_per_second))}", f"active bid {bid.bid_id}"))
    else:
        add(_line(2, "bid: none", "no active bid on chain"))
