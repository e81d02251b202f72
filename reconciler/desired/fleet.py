"""A fleet: several providers (hosts, wallets, networks) declared in one folder, each loaded as an ordinary
single-provider `Desired`.

Why: an operator with several proxy-routers would otherwise keep one desired state per host, and nothing would
check that the hosts reselling one upstream account promise no more slots than it has. A folder is a fleet only
when it holds `fleet.yaml` (so an existing folder with subfolders never silently becomes one). The other
*.yaml files at its root are shared (upstreams, policy defaults, model definitions); each provider's folder holds
its network, signer, provider, proxy and models, which may `use` a shared definition and override its price,
slots or tags. docs/desired-state.md#a-fleet states the merge rules. Pure: files only, no network.

A fleet's files come from a pull request, whose author is not the operator: every file read is inside the fleet's
folder (a symlink out of it is refused, so CI never prints a piece of a file elsewhere on its host in a
diagnostic), no larger than MAX_FLEET_FILE_BYTES, and fleet.yaml names at most MAX_PROVIDERS providers. The
whole fleet (fleet.yaml, the shared files, every provider's) is counted before any file but fleet.yaml is read:
more than MAX_FLEET_FILES files or MAX_FLEET_BYTES bytes in all is refused unread, so a pull request of 100
folders of 1 MiB files never makes CI parse gigabytes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.desired.build import build_desired
from reconciler.desired.diagnostics import Diagnostic, Location, Severity, ValidationFailed, format_path
from reconciler.desired.loader import FLEET_FILE, Merged, merge_files, sort_diagnostics, source_files
from reconciler.desired.model import Desired
from reconciler.desired.presets import PRESETS
from reconciler.desired.schema import desired_state_validator, explain, fleet_validator
from reconciler.desired.secrets import SecretUse, file_problems, first_conflicts
from reconciler.desired.slotshare import share_slots
from reconciler.desired.yamlsource import Path_, parse_yaml

__all__ = ["FLEET_FILE", "Fleet", "FleetMember", "is_fleet", "load_fleet"]

SHARED_SECTIONS = ("upstreams", "policy", "modelDefinitions")
PROVIDER_SECTIONS = ("network", "signer", "provider", "proxy", "models")
OVERRIDABLE = ("bid", "concurrentSlots", "slotWeight", "tags", "capacityPolicy", "absent")
AUTO = "auto"
MAX_SLOT_WEIGHT = 1_000_000  # fleet-shared.schema.json's slotWeight maximum, the slots' own bound
MAX_PROVIDERS = 100  # fleet.schema.json's maxItems: a fleet of more hosts is not one repository's
MAX_FLEET_FILE_BYTES = 1 << 20  # a desired-state file is a few KB; a larger one is refused unread
MAX_FLEET_FILES = 1000  # every file of the fleet: 100 providers of 10 files each
MAX_FLEET_BYTES = 16 << 20  # every file of the fleet, in bytes: a fleet of 100 providers holds a few MB at most


def _refusal(file: Path, home: Path) -> str | None:
    """Why a fleet's file is not read (None: it is read): outside the fleet's folder, or too large."""
    try:
        real = file.resolve()
        if not real.is_relative_to(home):
            return "a file outside the fleet's folder (a symlink out of it?): not read"
        if real.stat().st_size > MAX_FLEET_FILE_BYTES:
            return f"larger than {MAX_FLEET_FILE_BYTES} bytes, more than any desired state: not read"
    except OSError as exc:
        return f"cannot read the file: {type(exc).__name__}"
    return None


def _readable(files: Sequence[Path], home: Path, diags: list[Diagnostic]) -> list[Path]:
    """The files that may be read; a diagnostic for each other one."""
    kept = []
    for f in files:
        why = _refusal(f, home)
        if why is None:
            kept.append(f)
        else:
            diags.append(Diagnostic(Location(str(f)), "(root)", why))
    return kept


def is_fleet(path: Path) -> bool:
    """A directory holding fleet.yaml: nothing else makes a fleet."""
    return path.is_dir() and (path / FLEET_FILE).is_file()


@dataclass(frozen=True)
class FleetMember:
    """One provider of the fleet, loaded: `desired` is a complete single-provider desired state (shared files
    merged, overrides applied, `concurrentSlots: auto` resolved to integers)."""

    name: str
    folder: Path
    desired: Desired
    warnings: tuple[Diagnostic, ...]
    status_url: str | None = None  # fleet.yaml's statusUrl: where its watcher's page is served


@dataclass(frozen=True)
class Fleet:
    root: Path
    members: tuple[FleetMember, ...]  # in fleet.yaml's order

    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members)

    def member(self, name: str) -> FleetMember:
        """The provider named `name`; an unknown name is refused, naming the known ones."""
        for m in self.members:
            if m.name == name:
                return m
        raise ValidationFailed([self._unknown(name)])

    def select(self, names: Sequence[str]) -> Fleet:
        """The providers named (in fleet.yaml's order); none named: all of them. Unknown names are refused."""
        if not names:
            return self
        unknown = [n for n in dict.fromkeys(names) if n not in self.names()]
        if unknown:
            raise ValidationFailed([self._unknown(n) for n in unknown])
        return Fleet(self.root, tuple(m for m in self.members if m.name in names))

    def _unknown(self, name: str) -> Diagnostic:
        return Diagnostic(
            Location(str(self.root / FLEET_FILE)),
            "providers",
            f"no provider named {name!r} in this fleet (providers: {', '.join(self.names())})",
        )


@dataclass(frozen=True)
class _Entry:
    """A provider as fleet.yaml names it."""

    name: str
    folder: Path
    status_url: str | None
    location: Location


@dataclass
class _Draft:
    """A provider's merged document before it is built (its `auto` slots not yet shared)."""

    entry: _Entry
    merged: Merged
    own_upstreams: frozenset[str]
    diags: list[Diagnostic] = field(default_factory=list)
    blocked: bool = False  # an upstream it shares could not be shared: reported once, at the upstream
    own_files: frozenset[str] = frozenset()  # the files of its own folder

    def error(self, path: Path_, message: str) -> None:
        self.diags.append(Diagnostic(self.merged.locate(path), format_path(path), message))

    @property
    def failed(self) -> bool:
        return self.blocked or any(d.severity is Severity.ERROR for d in self.diags)

    def models(self) -> list[tuple[int, dict[str, Any]]]:
        raw = self.merged.data.get("models")
        return [(i, m) for i, m in enumerate(raw) if isinstance(m, dict)] if isinstance(raw, list) else []


def load_fleet(path: Path, environ: Mapping[str, str] | None = None, given: tuple[SecretUse, ...] = ()) -> Fleet:
    """Load every provider of the fleet at `path`. Raises ValidationFailed with every diagnostic of every
    provider and of the fleet-wide checks (the slots on each shared upstream across providers, the role of each
    secret across the fleet). `environ` and `given` as for `load_desired`."""
    diags: list[Diagnostic] = []
    entries = _read_fleet_file(path, diags)
    if not _errors(diags):
        diags += _over_bounds(path, entries)
        if _errors(diags):
            raise ValidationFailed(sort_diagnostics(diags))
    shared = _read_shared(path, diags)
    if _errors(diags):
        raise ValidationFailed(sort_diagnostics(diags))
    drafts = [_draft(path, e, shared) for e in entries]
    failed_pools = _share_auto_slots(drafts, shared, diags)
    built: list[tuple[_Draft, Desired, list[tuple[SecretUse, Path_]]]] = []
    for d in drafts:
        if not d.failed:
            for error in desired_state_validator().iter_errors(d.merged.data):
                for p, message in explain(error):
                    d.error(p, message)
        if not d.failed:
            uses: list[tuple[SecretUse, Path_]] = []
            desired, more = build_desired(
                d.merged.data, d.merged.locate, tuple(d.merged.files), environ, secret_uses=uses
            )
            d.diags += more
            if desired is not None and not d.failed:
                built.append((d, desired, uses))
        diags += [_named(d, x) for x in d.diags]
    diags += _check_shared_slots(built, shared, failed_pools)
    diags += _check_one_member_per_provider(built)
    diags += _check_secret_roles(path, built, environ, given)
    diags = sort_diagnostics(diags)
    if _errors(diags) or len(built) != len(drafts):
        raise ValidationFailed(diags)
    members = tuple(
        FleetMember(
            name=d.entry.name,
            folder=d.entry.folder,
            desired=desired,
            warnings=tuple(sort_diagnostics([_named(d, w) for w in d.diags if w.severity is Severity.WARNING])),
            status_url=d.entry.status_url,
        )
        for d, desired, _ in built
    )
    return Fleet(path, members)


def _named(draft: _Draft, d: Diagnostic) -> Diagnostic:
    """A provider's model reported at a shared definition's line names the provider: several may use it."""
    if d.path.startswith("models") and d.location.file not in draft.own_files:
        return Diagnostic(d.location, f"{draft.entry.name}: {d.path}", d.message, d.severity)
    return d


def _errors(diags: list[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diags)


def _shared_files(root: Path) -> list[Path]:
    """The fleet's shared files: every *.yaml/*.yml at its root but fleet.yaml, in name order."""
    return sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file() and p.name != FLEET_FILE)


def _over_bounds(root: Path, entries: list[_Entry]) -> list[Diagnostic]:
    """The fleet's files counted and sized (not read): a diagnostic at the fleet's folder when there are more than
    MAX_FLEET_FILES of them or MAX_FLEET_BYTES in all (a file that would be refused on its own counts, unread)."""
    files = [root / FLEET_FILE, *_shared_files(root)]
    for e in entries:
        files += source_files(e.folder) if e.folder.is_dir() else []
    size = 0
    for f in files:
        try:
            size += f.stat().st_size
        except OSError:
            continue  # reported when the file is read
    if len(files) <= MAX_FLEET_FILES and size <= MAX_FLEET_BYTES:
        return []
    return [
        Diagnostic(
            Location(str(root)),
            "(root)",
            f"the fleet's {len(files)} *.yaml files hold {size} bytes in all: a fleet holds at most {MAX_FLEET_FILES} "
            f"files and at most {MAX_FLEET_BYTES} bytes (MAX_FLEET_FILES, MAX_FLEET_BYTES): nothing was read",
        )
    ]


def _read_fleet_file(root: Path, diags: list[Diagnostic]) -> list[_Entry]:
    file = root / FLEET_FILE
    name = str(file)
    if not is_fleet(root):
        diags.append(Diagnostic(Location(str(root)), "(root)", f"not a fleet: no {FLEET_FILE} in this folder"))
        return []
    if not _readable([file], root.resolve(), diags):
        return []
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        diags.append(Diagnostic(Location(name), "(root)", f"cannot read the file: {type(exc).__name__}"))
        return []
    doc, problems = parse_yaml(text, name)
    diags += problems
    if doc is None or problems:
        return []

    def locate(p: Path_) -> Location:
        for n in range(len(p), -1, -1):
            if (line := doc.lines.get(tuple(p[:n]))) is not None:
                return Location(name, line)
        return Location(name, 1)

    before = len(diags)
    for error in fleet_validator().iter_errors(doc.data):
        for p, message in explain(error):
            diags.append(Diagnostic(locate(p), format_path(p), message))
    if len(diags) > before:
        return []
    entries: list[_Entry] = []
    seen: dict[str, Location] = {}
    folders: dict[Path, str] = {}
    home = root.resolve()
    for i, p in enumerate(doc.data["providers"]):
        where = locate(("providers", i))
        here: Path_ = ("providers", i, "name")
        if p["name"] in seen:
            diags.append(
                Diagnostic(
                    locate(here),
                    format_path(here),
                    f"provider {p['name']!r} is named twice (also at {seen[p['name']]})",
                )
            )
            continue
        seen[p["name"]] = where
        folder = root / p.get("folder", p["name"])
        at: Path_ = ("providers", i, "folder") if "folder" in p else here
        real = folder.resolve()
        if real == home or not real.is_relative_to(home):
            diags.append(
                Diagnostic(locate(at), format_path(at), f"{folder} is not a folder inside the fleet's folder {root}")
            )
        elif not folder.is_dir():
            diags.append(Diagnostic(locate(at), format_path(at), f"no folder {folder} for provider {p['name']!r}"))
        elif (folder / FLEET_FILE).exists():
            diags.append(
                Diagnostic(
                    locate(at), format_path(at), f"{folder} holds a {FLEET_FILE}: a fleet's provider is not a fleet"
                )
            )
        elif real in folders:
            diags.append(
                Diagnostic(locate(at), format_path(at), f"{folder} is also provider {folders[real]!r}'s folder")
            )
        else:
            folders[real] = p["name"]
        entries.append(_Entry(p["name"], folder, p.get("statusUrl"), where))
    return entries


def _read_shared(root: Path, diags: list[Diagnostic]) -> Merged:
    """The fleet's shared files: every *.yaml/*.yml at its root but fleet.yaml, merged in name order."""
    if not root.is_dir():
        return Merged()
    files = _readable(_shared_files(root), root.resolve(), diags)
    shared, problems = merge_files(files, mappings=("upstreams", "modelDefinitions"), lists=())
    diags += problems
    checked = dict(shared.data)
    for key in PROVIDER_SECTIONS:
        if key in checked:
            del checked[key]
            diags.append(
                Diagnostic(
                    shared.locate((key,)),
                    key,
                    f"section '{key}' belongs in a provider's folder: a fleet's root files hold only the shared "
                    "upstreams, policy and modelDefinitions",
                )
            )
    for error in fleet_validator("fleet-shared.schema.json").iter_errors(checked):
        for p, message in explain(error):
            diags.append(Diagnostic(shared.locate(p), format_path(p), message))
    return shared


def _copy_where(where: dict[Path_, Location], source: Merged, src: Path_, dst: Path_) -> None:
    """Every location written under `src` in `source`, moved to `dst`."""
    n = len(src)
    for p, loc in source.where.items():
        if p[:n] == src:
            where[(*dst, *p[n:])] = loc


def _drop_where(where: dict[Path_, Location], prefix: Path_) -> None:
    for p in [p for p in where if p[: len(prefix)] == prefix]:
        del where[p]


def _overlay(base: Any, over: Any) -> Any:
    """`over` on top of `base`, mapping by mapping: a provider's policy overrides the shared one field by field."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _overlay(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def _merge_own(root: Path, folder: Path) -> tuple[Merged, list[Diagnostic]]:
    """A provider folder's own files merged (as merge_sources), but only those that may be read."""
    files = source_files(folder)
    if not files:
        return Merged(), [Diagnostic(Location(str(folder)), "(root)", "no *.yaml files in this directory")]
    problems: list[Diagnostic] = []
    kept = _readable(files, root.resolve(), problems)
    own, more = merge_files(kept)
    return own, problems + more


def _draft(root: Path, entry: _Entry, shared: Merged) -> _Draft:
    """The provider's own files merged with the shared ones: the document a single-provider load would build."""
    own, problems = _merge_own(root, entry.folder)
    where: dict[Path_, Location] = {}
    data: dict[str, Any] = {}
    # its sources: its own files, the shared ones and fleet.yaml (a watcher reloads on a change to any of them)
    merged = Merged(data, where, [*own.files, *shared.files, str(root / FLEET_FILE)])
    own_ups = own.data.get("upstreams") if isinstance(own.data.get("upstreams"), dict) else {}
    shared_ups = shared.data.get("upstreams") or {}
    draft = _Draft(
        entry, merged, frozenset(own_ups or {}) - frozenset(shared_ups), list(problems), own_files=frozenset(own.files)
    )
    if not own.files:
        return draft
    where[()] = own.where.get((), Location(own.files[0], 1))
    for key, value in own.data.items():
        if key not in ("upstreams", "policy", "models"):
            data[key] = value
            _copy_where(where, own, (key,), (key,))
        if key == "modelDefinitions":
            draft.error(
                (key,),
                "modelDefinitions are shared: they belong in the fleet's root files, not in a provider's folder",
            )
    if shared_ups or own_ups:
        data["upstreams"] = {}
        where[("upstreams",)] = own.where.get(("upstreams",)) or shared.locate(("upstreams",))
    for name, u in shared_ups.items():
        data["upstreams"][name] = copy.deepcopy(u)
        _copy_where(where, shared, ("upstreams", name), ("upstreams", name))
    for name, u in (own_ups or {}).items():
        _copy_where(where, own, ("upstreams", name), ("upstreams", name))
        if name in shared_ups:
            draft.error(
                ("upstreams", name),
                f"upstream '{name}' is shared (declared at {shared.locate(('upstreams', name))}): a provider may "
                "declare upstreams of its own, not declare a shared one again",
            )
        data["upstreams"][name] = u
    if "policy" in shared.data or "policy" in own.data:
        data["policy"] = _overlay(shared.data.get("policy") or {}, own.data.get("policy") or {})
        _copy_where(where, shared, ("policy",), ("policy",))
        _copy_where(where, own, ("policy",), ("policy",))
    if "models" in own.data:
        raw = own.data["models"]
        _copy_where(where, own, ("models",), ("models",))
        data["models"] = raw
        if isinstance(raw, list):
            data["models"] = [
                _use(draft, i, item, shared, own) if isinstance(item, dict) and "use" in item else item
                for i, item in enumerate(raw)
            ]
    return draft


def _use(draft: _Draft, i: int, item: dict[str, Any], shared: Merged, own: Merged) -> dict[str, Any]:
    """A provider's `use: NAME` model: the shared definition with this provider's overrides on top."""
    path: Path_ = ("models", i)
    where = draft.merged.where
    bad = [k for k in item if k != "use" and k not in OVERRIDABLE]
    for k in bad:
        draft.error(
            (*path, k),
            f"'{k}' cannot override the shared definition {item['use']!r}: a provider may override only "
            f"{', '.join(OVERRIDABLE)} (declare a model of its own to change more)",
        )
    checked = {k: v for k, v in item.items() if k not in bad}
    for error in fleet_validator("fleet-shared.schema.json#/$defs/use").iter_errors(checked):
        for p, message in explain(error):
            draft.error((*path, *p), message)
    definitions = shared.data.get("modelDefinitions") or {}
    name = item["use"]
    if not isinstance(name, str) or name not in definitions:
        if isinstance(name, str):
            known = ", ".join(sorted(definitions)) or "none are declared"
            draft.error((*path, "use"), f"unknown model definition {name!r} (definitions: {known})")
        return item
    model = copy.deepcopy(definitions[name])
    if not isinstance(model, dict):
        return item
    _drop_where(where, path)
    where[path] = own.locate(path)
    _copy_where(where, shared, ("modelDefinitions", name), path)
    if "modelId" not in model:
        model = {"name": name, **model}
        where[(*path, "name")] = shared.locate(("modelDefinitions", name))
    for k, v in checked.items():
        if k == "use":
            continue
        model[k] = copy.deepcopy(v)
        _drop_where(where, (*path, k))
        _copy_where(where, own, (*path, k), (*path, k))
    return model


_Pool = tuple[str, str]  # ("", upstream) for a shared upstream, (provider, upstream) for a provider's own


def _share_auto_slots(drafts: list[_Draft], shared: Merged, diags: list[Diagnostic]) -> set[_Pool]:
    """Every `concurrentSlots: auto` replaced by its share of its upstream's maxConcurrency (what the models
    with a fixed number of slots leave), by slotWeight (reconciler.desired.slotshare); `slotWeight` removed.
    Returns the pools whose share was refused (their providers are not built)."""
    shared_ups = shared.data.get("upstreams") or {}
    pools: dict[_Pool, list[tuple[_Draft, int, int]]] = {}
    for d in drafts:
        for i, m in d.models():
            auto = m.get("concurrentSlots") == AUTO
            weight = 1
            if "slotWeight" in m:
                weight = m.pop("slotWeight")
                if not auto:
                    d.error((*("models", i), "slotWeight"), "slotWeight applies only with concurrentSlots: auto")
                if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= MAX_SLOT_WEIGHT:
                    big = isinstance(weight, int) and weight > 10**12  # a 4000-digit one is not printed whole
                    shown = f"a {len(str(weight))}-digit number" if big else repr(weight)
                    d.error(
                        ("models", i, "slotWeight"),
                        f"slotWeight must be a whole number from 1 to {MAX_SLOT_WEIGHT}, not {shown}",
                    )
                    weight = 1
            if not auto:
                continue
            up = m.get("upstream")
            if m.get("absent") or not isinstance(up, str):
                del m["concurrentSlots"]  # an absent model needs no slots; a missing upstream is reported by build
                continue
            if up in d.own_upstreams:
                pools.setdefault((d.entry.name, up), []).append((d, i, weight))
            elif up in shared_ups:
                pools.setdefault(("", up), []).append((d, i, weight))
            else:
                del m["concurrentSlots"]
    failed: set[_Pool] = set()
    for pool, autos in pools.items():
        owner, up = pool
        sharing = (
            [d for d in drafts if d.entry.name == owner] if owner else [d for d in drafts if up not in d.own_upstreams]
        )
        source = sharing[0].merged if owner else shared
        limit = (source.data["upstreams"].get(up) or {}).get("maxConcurrency")
        if not isinstance(limit, int) or isinstance(limit, bool):
            for d, i, _ in autos:
                d.error(
                    ("models", i, "concurrentSlots"),
                    f"concurrentSlots: auto shares an upstream's maxConcurrency, and upstream '{up}' declares none",
                )
            failed.add(pool)
            continue
        fixed = sum(
            s
            for d in sharing
            for _, m in d.models()
            if m.get("upstream") == up and not m.get("absent")
            for s in [m.get("concurrentSlots")]
            if isinstance(s, int) and not isinstance(s, bool)
        )
        try:
            shares = share_slots(max(limit - fixed, 0), [w for _, _, w in autos])
        except ValueError as exc:
            names = ", ".join(f"{d.entry.name}/{_label(d.models(), i)}" for d, i, _ in autos)
            left = (
                f"{limit - fixed} left of its maxConcurrency {limit} after {fixed} fixed slots"
                if fixed
                else f"maxConcurrency {limit}"
            )
            diags.append(
                Diagnostic(
                    source.locate(("upstreams", up, "maxConcurrency")),
                    format_path(("upstreams", up, "maxConcurrency")),
                    f"concurrentSlots: auto cannot share upstream '{up}' ({left}) among {names}: {exc}",
                )
            )
            for d, _, _ in autos:
                d.blocked = True
            failed.add(pool)
            continue
        for (d, i, _), n in zip(autos, shares, strict=True):
            d.merged.data["models"][i]["concurrentSlots"] = n
    return failed


def _label(models: list[tuple[int, dict[str, Any]]], i: int) -> str:
    m = dict(models).get(i) or {}
    return str(m.get("name") or m.get("modelId") or f"models[{i}]")


def _check_shared_slots(
    built: list[tuple[_Draft, Desired, list[tuple[SecretUse, Path_]]]], shared: Merged, skip: set[_Pool]
) -> list[Diagnostic]:
    """The sum of the slots every provider's models promise on a shared upstream: no more than its
    maxConcurrency (each provider's own sum is checked as a single provider's is)."""
    out: list[Diagnostic] = []
    for up, raw in (shared.data.get("upstreams") or {}).items():
        limit = raw.get("maxConcurrency") if isinstance(raw, dict) else None
        if not isinstance(limit, int) or ("", up) in skip:
            continue
        on_it = [
            (d.entry.name, m)
            for d, desired, _ in built
            if up not in d.own_upstreams
            for m in desired.models
            if m.upstream == up and not m.absent and m.concurrent_slots
        ]
        total = sum(m.concurrent_slots or 0 for _, m in on_it)
        if total > limit:
            names = ", ".join(f"{p}/{m.name or m.key} ({m.concurrent_slots})" for p, m in on_it)
            out.append(
                Diagnostic(
                    shared.locate(("upstreams", up, "maxConcurrency")),
                    format_path(("upstreams", up, "maxConcurrency")),
                    f"the models on upstream '{up}' across the fleet promise {total} concurrent slots ({names}), "
                    f"more than its maxConcurrency {limit}: every provider reselling the account shares it "
                    "(lower their concurrentSlots, or write concurrentSlots: auto)",
                )
            )
    return out


def _network_key(desired: Desired) -> tuple[object, ...]:
    """Which chain and marketplace a member writes to, from its files alone: a known preset's chain id and Diamond
    (reconciler.desired.presets) under what the member writes out, so `preset: base` and Base's chain id and
    Diamond written out are one network. A devnet's come from its devnet.json, read only with the network: a
    devnet is told by its preset and what it writes out."""
    n = desired.network
    known = PRESETS.get(n.preset) if n.preset else None
    if n.preset and known is None:
        return ("preset", n.preset, n.chain_id, (n.diamond or "").lower())
    chain_id = n.chain_id or (known.chain_id if known else None)
    diamond = n.diamond or (known.diamond if known else None)
    return ("chain", chain_id, (diamond or "").lower())


def _network_name(desired: Desired) -> str:
    """The network as a diagnostic names it: its chain id, with the preset that gave it."""
    n = desired.network
    known = PRESETS.get(n.preset) if n.preset else None
    chain_id = n.chain_id or (known.chain_id if known else None)
    if chain_id is None:
        return n.preset or "its network"
    return f"chain {chain_id} ({n.preset})" if n.preset else f"chain {chain_id}"


def _check_one_member_per_provider(
    built: list[tuple[_Draft, Desired, list[tuple[SecretUse, Path_]]]],
) -> list[Diagnostic]:
    """One provider address on one network is one member's: two folders writing for it would undo each other
    (each deletes the bids and models the other declares as undeclared). Reported at the later member's
    provider.address, naming both; the same wallet on another network is another provider."""
    out: list[Diagnostic] = []
    first: dict[tuple[object, ...], str] = {}
    for d, desired, _ in built:
        key = (*_network_key(desired), desired.provider.address.lower())
        other = first.setdefault(key, d.entry.name)
        if other == d.entry.name:
            continue
        network = _network_name(desired)
        out.append(
            Diagnostic(
                d.merged.locate(("provider", "address")),
                "provider.address",
                f"provider {desired.provider.address} on {network} is declared by both {other} and {d.entry.name}: "
                "two writers on one provider would undo each other's changes; one member per provider and network",
            )
        )
    return out


def _check_secret_roles(
    root: Path,
    built: list[tuple[_Draft, Desired, list[tuple[SecretUse, Path_]]]],
    environ: Mapping[str, str] | None,
    given: tuple[SecretUse, ...],
) -> list[Diagnostic]:
    """A secret serves one role across the whole fleet: a value held by two role classes anywhere is an error
    (reported once, at the first field holding it in the second class); one admin token on every host is fine."""
    out: list[Diagnostic] = []
    fleet_file = Location(str(root / FLEET_FILE))
    placed: dict[SecretUse, tuple[Location, str]] = {}
    uses: list[SecretUse] = []
    for use in given:
        for is_error, message in file_problems(use, root / FLEET_FILE):
            severity = Severity.ERROR if is_error else Severity.WARNING
            out.append(Diagnostic(fleet_file, use.field, message, severity))
        placed[use] = (fleet_file, use.field)
        uses.append(use)
    for d, _, member_uses in built:
        locate: Callable[[Path_], Location] = d.merged.locate
        for use, path in member_uses:
            named = SecretUse(f"{d.entry.name}: {use.field}", use.role, use.ref, use.key)
            placed[named] = (locate(path), format_path(path))
            uses.append(named)
    for use, other in first_conflicts(uses, environ):
        where, dotted = placed[use]
        out.append(
            Diagnostic(
                where,
                dotted,
                f"{use.field} ({use.ref}) holds the same value as {other.field} ({other.ref}): a secret serves one "
                f"role across the fleet, and this one is a {other.role} secret used as a {use.role} (value not shown)",
            )
        )
    return out
