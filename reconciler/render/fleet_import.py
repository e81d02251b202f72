"""`reconcile import` of several providers: the fleet layout (docs/desired-state.md, "A fleet") from the
single-provider desired states `render_import` wrote for each of them.

Pure: the imported texts in, the fleet's files (relative path -> text) out. Each provider's text is taken apart by
its top-level sections and its model entries, as render_import writes them (its lines, comments and `# fill in:`
placeholders kept): the upstream placeholders go once into the shared file, and an own model every provider that
sells it registered alike (same name, base model id, fee, stake, IPFS CID and endpoint) becomes one shared model
definition, each provider's entry a `use:` of it with what it sets differently (its price, its tags) as an
override. Everything else stays in the provider's folder as render_import wrote it. The merged result of each
provider is the desired state render_import wrote for it, so planning the fleet changes nothing on chain either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.desired.loader import FLEET_FILE
from reconciler.render.desired_yaml import FILL, Imported

SHARED_FILE = "shared.yaml"
PROVIDER_FILE = "provider.yaml"
SECTIONS = ("network", "signer", "provider", "upstreams", "models", "proxy", "policy")
_SAME = ("baseModelId", "fee", "stake", "ipfsCID", "endpoint")  # what a shared definition fixes for every provider


@dataclass(frozen=True)
class ImportedMember:
    """One provider's import: its name in the fleet and what render_import wrote for it."""

    name: str
    imported: Imported


@dataclass
class FleetImported:
    files: dict[str, str]  # relative path -> text, fleet.yaml first
    notes: list[str] = field(default_factory=list)
    shared_models: tuple[str, ...] = ()


@dataclass
class _Entry:
    lines: list[str]
    value: dict[str, Any] | None  # the entry as YAML reads it (comments and placeholders left out)

    def shareable(self) -> bool:
        """An own model declared in full (not by modelId), whose text was not cleaned of control characters."""
        v = self.value
        return (
            v is not None
            and isinstance(v.get("name"), str)
            and "baseModelId" in v
            and not any(line.strip().startswith("# cleaned:") for line in self.lines)
        )

    def key(self) -> tuple[object, ...]:
        assert self.value is not None
        return (self.value["name"], *(str(self.value.get(k)) for k in _SAME))


@dataclass
class _Parsed:
    head: list[str]  # the comment lines before the first section
    sections: dict[str, list[str]]  # section name -> its lines (the header line first)
    entries: list[_Entry]
    trailer: list[str]  # comment lines after the last model entry


def _section_of(line: str) -> str | None:
    for name in SECTIONS:
        if line.startswith((f"{name}:", f"# {name}:")):
            return name
    return None


def _parse(text: str) -> _Parsed:
    head: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        name = _section_of(line)
        if name is not None:
            current = sections[name] = [line]
        elif current is None:
            head.append(line)
        elif line.strip():
            current.append(line)
    entries: list[_Entry] = []
    lead: list[str] = []
    for line in sections.get("models", [])[1:]:
        if line.startswith("  - "):
            entries.append(_Entry([*lead, line], None))
            lead = []
        elif line.startswith("  #"):
            lead.append(line)
        elif entries:
            entries[-1].lines.append(line)
    for e in entries:
        loaded = yaml.safe_load("\n".join(e.lines))
        e.value = loaded[0] if isinstance(loaded, list) and loaded and isinstance(loaded[0], dict) else None
    return _Parsed(head, sections, entries, lead)


def _flow(value: object) -> str:
    """A value as one YAML flow scalar or collection (JSON is YAML): tags, a bid."""
    import json

    return json.dumps(value, ensure_ascii=False)


def _definition(entry: _Entry) -> list[str]:
    """A shared model definition from one provider's entry: its lines under the definition's name, less the
    `- name:` line (the definition's key is the name) and with comments that speak of one provider's transaction
    left out."""
    assert entry.value is not None
    out = [f"  {_flow(entry.value['name'])}:"]
    for line in entry.lines:
        if line.startswith("  - name:"):
            continue
        if line.lstrip().startswith(("baseModelId:", "stake:")):
            line = line.split(" # ", 1)[0].rstrip()  # "recovered from tx …" is one provider's registration
        out.append(line)
    return out


def _use(entry: _Entry, definition: dict[str, Any]) -> list[str]:
    """A provider's entry that uses the shared definition, overriding its price and tags where they differ."""
    assert entry.value is not None
    out = [f"  - use: {_flow(entry.value['name'])}"]
    for key in ("tags", "bid"):
        mine, shared = entry.value.get(key), definition.get(key)
        if mine != shared:
            out.append(f"    {key}: {_flow(mine) if isinstance(mine, list | dict) else mine}")
    return out


def render_fleet_import(members: Sequence[ImportedMember]) -> FleetImported:
    """The fleet's files for several imported providers (names in fleet.yaml's order, as given)."""
    parsed = [(m, _parse(m.imported.text)) for m in members]
    seen: dict[tuple[object, ...], list[str]] = {}
    for m, p in parsed:
        for e in p.entries:
            if e.shareable():
                holders = seen.setdefault(e.key(), [])
                if m.name not in holders:
                    holders.append(m.name)
    names_used = [k[0] for k, holders in seen.items() if len(holders) > 1]
    shared_keys = {k for k, holders in seen.items() if len(holders) > 1 and names_used.count(k[0]) == 1}
    definitions: dict[tuple[object, ...], _Entry] = {}
    for _m, p in parsed:
        for e in p.entries:
            if e.shareable() and e.key() in shared_keys:
                definitions.setdefault(e.key(), e)

    files: dict[str, str] = {}
    fleet = [
        "# A fleet imported by `reconcile import` (docs/fleet.md): one folder per provider, in this order; rename a",
        "# provider here and its folder together. Shared upstreams and model definitions are in shared.yaml.",
        "providers:",
        *(f"  - name: {m.name}" for m in members),
    ]
    files[FLEET_FILE] = "\n".join(fleet) + "\n"

    first = parsed[0][1] if parsed else None
    shared = [
        "# Shared by every provider of the fleet: the upstream accounts (the chain does not know them: fill them in",
        "# once, here) and the models several providers registered alike, each provider's price an override.",
        "",
    ]
    upstreams = next(
        (p.sections["upstreams"] for _m, p in parsed if p.sections.get("upstreams", [""])[0] == "upstreams:"), None
    )
    if upstreams is None and first is not None:
        upstreams = first.sections.get("upstreams")
    if upstreams:
        shared += [*upstreams, ""]
    if definitions:
        shared.append("modelDefinitions:")
        for e in definitions.values():
            shared += _definition(e)
    files[SHARED_FILE] = "\n".join(shared).rstrip("\n") + "\n"

    out = FleetImported(files, shared_models=tuple(str(k[0]) for k in definitions))
    for m, p in parsed:
        lines = [*p.head]
        for name in SECTIONS:
            if name == "upstreams" or name not in p.sections:
                continue
            if name != "models":
                lines += [*p.sections[name], ""]
                continue
            if not p.entries:
                lines += [*p.sections[name], ""]
                continue
            lines.append("models:")
            for e in p.entries:
                if e.shareable() and e.key() in shared_keys:
                    definition = definitions[e.key()].value
                    assert definition is not None
                    lines += _use(e, definition)
                else:
                    lines += e.lines
            lines += [*p.trailer, ""]
        files[f"{m.name}/{PROVIDER_FILE}"] = "\n".join(lines).rstrip("\n") + "\n"
        out.notes += [f"{m.name}: {note}" for note in m.imported.notes]
    if any(FILL in text for text in files.values()):
        out.notes.append(f"fill in the lines marked '{FILL}' (the shared upstreams once, in {SHARED_FILE})")
    return out
