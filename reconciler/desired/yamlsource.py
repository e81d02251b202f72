"""Parse YAML into plain Python values while remembering the line of every key and item.

PyYAML's composer keeps marks on nodes; we walk the node tree ourselves so that each JSON path
(`('models', 0, 'bid')`) maps to the line where it was written, and so duplicate keys are errors
instead of a silent last-one-wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler import DesiredStateInvalid
from reconciler.desired.diagnostics import Diagnostic, Location, format_path

Path_ = tuple[str | int, ...]


@dataclass
class SourceDoc:
    """One parsed file: its data and the line of each path in it."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    values: int = 0  # built so far, against MAX_VALUES


MAX_VALUES = 200_000  # far past any real desired state; a YAML alias bomb expands to billions


class _TooBig(DesiredStateInvalid):
    """The document expands past MAX_VALUES (nested aliases): stop building it."""


def parse_yaml(text: str, file: str) -> tuple[SourceDoc | None, list[Diagnostic]]:
    """Parse one YAML document. Returns (doc, diagnostics); doc is None when the text cannot be read."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        msg = " ".join(x for x in (exc.context, exc.problem) if x) or "invalid YAML"
        return None, [Diagnostic(Location(file, line), "(yaml)", f"YAML syntax error: {msg}")]
    except yaml.YAMLError as exc:
        return None, [Diagnostic(Location(file), "(yaml)", f"YAML error: {type(exc).__name__}")]
    finally:
        loader.dispose()
    if node is None:
        return None, [Diagnostic(Location(file, 1), "(root)", "the file is empty")]
    doc = SourceDoc(file=file, data=None)
    problems: list[Diagnostic] = []
    try:
        doc.data = _build(node, (), doc, problems, yaml.SafeLoader(""))
    except _TooBig:
        message = f"the document expands to more than {MAX_VALUES} values (nested YAML aliases?); not read further"
        return None, [Diagnostic(Location(file, 1), "(yaml)", message)]
    return doc, problems


def _build(node: yaml.Node, path: Path_, doc: SourceDoc, problems: list[Diagnostic], ctor: yaml.SafeLoader) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    doc.values += 1
    if doc.values > MAX_VALUES:
        raise _TooBig
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(
                    Diagnostic(Location(doc.file, line), format_path(path), "YAML merge keys (<<) are not supported")
                )
                continue
            key = _scalar(key_node, path, doc, problems, ctor) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                problems.append(
                    Diagnostic(Location(doc.file, line), format_path(path), f"keys must be strings, got {key!r}")
                )
                continue
            child = (*path, key)
            if key in out:
                first = doc.lines.get(child, 0)
                problems.append(
                    Diagnostic(
                        Location(doc.file, line),
                        format_path(child),
                        f"duplicate key (first written at {doc.file}:{first})",
                    )
                )
                continue
            doc.lines[child] = line
            out[key] = _build(value_node, child, doc, problems, ctor)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), doc, problems, ctor) for i, item in enumerate(node.value)]
    return _scalar(node, path, doc, problems, ctor)


def _scalar(node: yaml.Node, path: Path_, doc: SourceDoc, problems: list[Diagnostic], ctor: yaml.SafeLoader) -> Any:
    """A scalar as YAML reads it; a value it cannot build (a number of over 4300 digits, which Python refuses to
    convert, or an impossible date such as 2024-13-45) is a diagnostic at its line, never a crash."""
    try:
        return ctor.construct_object(node)
    except (ValueError, OverflowError) as exc:
        why = "a number too long to read" if "digits" in str(exc) else "a value YAML cannot read"
        problems.append(Diagnostic(Location(doc.file, node.start_mark.line + 1), format_path(path), why))
        return None
