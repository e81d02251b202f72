"""Load a desired state: one YAML file or a directory of *.yaml, merged, schema-checked, then built.

Every problem is collected and reported at once as `file:LINE: json.path: message`; nothing here
touches the network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.desired.build import build_desired
from reconciler.desired.diagnostics import Diagnostic, Location, Severity, ValidationFailed, format_path
from reconciler.desired.model import Desired
from reconciler.desired.schema import desired_state_validator, explain
from reconciler.desired.secrets import SecretUse
from reconciler.desired.yamlsource import Path_, parse_yaml

MERGED_MAPPINGS = ("upstreams",)
MERGED_LISTS = ("models",)
FLEET_FILE = "fleet.yaml"  # marks a folder as a fleet (reconciler.desired.fleet): nothing else makes one


@dataclass
class Merged:
    """The merged document and, for each path in it, where it was written."""

    data: dict[str, Any] = field(default_factory=dict)
    where: dict[Path_, Location] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def locate(self, path: Path_) -> Location:
        """The location of path, or of its nearest written parent."""
        for n in range(len(path), -1, -1):
            loc = self.where.get(tuple(path[:n]))
            if loc is not None:
                return loc
        return Location(self.files[0] if self.files else "")


def source_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


def merge_sources(path: Path) -> tuple[Merged, list[Diagnostic]]:
    if not path.exists():
        return Merged(), [Diagnostic(Location(str(path)), "(root)", "no such file or directory")]
    files = source_files(path)
    if not files:
        return Merged(), [Diagnostic(Location(str(path)), "(root)", "no *.yaml files in this directory")]
    return merge_files(files)


def merge_files(
    files: list[Path], mappings: tuple[str, ...] = MERGED_MAPPINGS, lists: tuple[str, ...] = MERGED_LISTS
) -> tuple[Merged, list[Diagnostic]]:
    """The files merged in the order given: the sections in `mappings` by name, those in `lists` concatenated,
    every other section in one file only."""
    diags: list[Diagnostic] = []
    merged = Merged()
    for f in files:
        name = str(f)
        merged.files.append(name)
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            diags.append(Diagnostic(Location(name), "(root)", f"cannot read the file: {type(exc).__name__}"))
            continue
        doc, problems = parse_yaml(text, name)
        diags += problems
        if doc is None:
            continue
        if not isinstance(doc.data, dict):
            diags.append(Diagnostic(Location(name, 1), "(root)", "the top level must be a mapping of sections"))
            continue

        def loc(p: Path_, doc_lines: dict[Path_, int] = doc.lines, file: str = name) -> Location:
            return Location(file, doc_lines.get(p, 0))

        merged.where.setdefault((), Location(name, 1))
        _merge_one(merged, doc.data, doc.lines, loc, diags, mappings, lists)
    return merged, diags


def _merge_one(
    merged: Merged,
    data: dict[str, Any],
    lines: dict[Path_, int],
    loc: Callable[[Path_], Location],
    diags: list[Diagnostic],
    mappings: tuple[str, ...],
    lists: tuple[str, ...],
) -> None:
    def copy_locations(src_prefix: Path_, dst_prefix: Path_) -> None:
        n = len(src_prefix)
        for p in lines:
            if p[:n] == src_prefix:
                merged.where[(*dst_prefix, *p[n:])] = loc(p)

    for key, value in data.items():
        if key in mappings and isinstance(value, dict):
            target = merged.data.setdefault(key, {})
            merged.where.setdefault((key,), loc((key,)))
            if not isinstance(target, dict):
                continue
            for name, item in value.items():
                if name in target:
                    first = merged.where[(key, name)]
                    diags.append(
                        Diagnostic(
                            loc((key, name)),
                            format_path((key, name)),
                            f"duplicate {_singular(key)} (also defined at {first})",
                        )
                    )
                    continue
                target[name] = item
                copy_locations((key, name), (key, name))
        elif key in lists and isinstance(value, list):
            target_list = merged.data.setdefault(key, [])
            merged.where.setdefault((key,), loc((key,)))
            if not isinstance(target_list, list):
                continue
            offset = len(target_list)
            target_list.extend(value)
            for i in range(len(value)):
                copy_locations((key, i), (key, offset + i))
        elif key in merged.data:
            first = merged.where[(key,)]
            diags.append(Diagnostic(loc((key,)), key, f"section '{key}' is defined twice (also at {first})"))
        else:
            merged.data[key] = value
            copy_locations((key,), (key,))


def load_desired(
    path: Path, environ: Mapping[str, str] | None = None, given: tuple[SecretUse, ...] = ()
) -> tuple[Desired, list[Diagnostic]]:
    """Load and validate. Returns (desired, warnings); raises ValidationFailed with every error found.
    `environ` (None: os.environ) is read only to tell whether two roles share one secret, never shown; `given`:
    the secrets a command's flags name (reconciler.desired.secrets), checked with the desired state's. A fleet's
    folder is refused: one of its providers is loaded with `reconciler.desired.fleet.load_fleet`."""
    if path.is_dir() and (path / FLEET_FILE).is_file():
        raise ValidationFailed([_fleet_refusal(path)])
    if (member := _fleet_member(path)) is not None:
        raise ValidationFailed([member])
    merged, diags = merge_sources(path)
    if not any(d.severity is Severity.ERROR for d in diags):
        for error in desired_state_validator().iter_errors(merged.data):
            for p, message in explain(error):
                diags.append(Diagnostic(merged.locate(p), format_path(p), message))
    desired: Desired | None = None
    if not any(d.severity is Severity.ERROR for d in diags):
        desired, more = build_desired(merged.data, merged.locate, tuple(merged.files), environ, given)
        diags += more
    diags = sort_diagnostics(diags)
    if desired is None or any(d.severity is Severity.ERROR for d in diags):
        raise ValidationFailed(diags)
    return desired, diags


def _singular(section: str) -> str:
    """'upstreams' -> 'upstream', 'modelDefinitions' -> 'model definition'."""
    return "model definition" if section == "modelDefinitions" else section[:-1]


def sort_diagnostics(diags: list[Diagnostic]) -> list[Diagnostic]:
    """By file, line, path and message, each once (a shared file's problem is found once per provider)."""
    seen: set[str] = set()
    out = []
    for d in sorted(diags, key=lambda d: (d.location.file, d.location.line, d.path, d.message)):
        if str(d) not in seen:
            seen.add(str(d))
            out.append(d)
    return out


def _fleet_providers(fleet: Path) -> list[tuple[str, Path]]:
    """(name, folder) of each provider the fleet.yaml in `fleet` names, as far as it can be read."""
    doc, _ = parse_yaml(_read_or_empty(fleet / FLEET_FILE), str(fleet / FLEET_FILE))
    if doc is None or not isinstance(doc.data, dict) or not isinstance(doc.data.get("providers"), list):
        return []
    return [
        (str(p["name"]), fleet / str(p.get("folder", p["name"])))
        for p in doc.data["providers"]
        if isinstance(p, dict) and "name" in p
    ]


def _fleet_member(path: Path) -> Diagnostic | None:
    """A provider's folder of a fleet (or a file in it) loaded alone lacks the shared files: say what to give."""
    folder = (path if path.is_dir() else path.parent).resolve()
    for fleet in folder.parents:
        if (fleet / FLEET_FILE).is_file():
            for name, member in _fleet_providers(fleet):
                if member.resolve() == folder:
                    return Diagnostic(
                        Location(str(path)),
                        "(root)",
                        f"{path} is provider {name!r} of the fleet at {fleet}: give the fleet's folder and "
                        f"--provider {name}",
                    )
    return None


def _fleet_refusal(path: Path) -> Diagnostic:
    """The one diagnostic of a single-provider load of a fleet's folder: which providers it could have named."""
    names = [name for name, _ in _fleet_providers(path)]
    known = f" (providers: {', '.join(names)})" if names else ""
    return Diagnostic(
        Location(str(path / FLEET_FILE), 1),
        "(root)",
        f"{path} is a fleet (it holds {FLEET_FILE}): name a provider with --provider NAME{known}",
    )


def _read_or_empty(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
