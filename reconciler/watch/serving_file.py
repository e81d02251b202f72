"""The watcher's memory for policy.unserved (since when the forwarder and each model's upstream have (not) served,
reconciler.watch.serving) kept in the provider's state folder as `serving.json`.

Why: a watcher restarted more often than `policy.unservedGraceSeconds` (a timer, a crash loop, a deploy) would
start with no memory each time and never withdraw the bids of a model nothing serves, or repost them at once after
a withdrawal. Written whole (a temporary file renamed over it, so a crash leaves the old one or the new one); read
tolerantly: a corrupt, foreign or newer file is a warning and no memory (what a first start has), never a crash.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from reconciler.plan.unserved import Serving, Since

FILE = "serving.json"
KIND, VERSION = "reconcile-watch-serving", 1


def _since(obj: Any) -> Since | None:
    if obj is None:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("down"), bool) or type(obj.get("at")) is not int:
        raise ValueError(f"not a since: {obj!r}"[:80])
    return Since(down=obj["down"], at=obj["at"])


def _json(s: Since | None) -> dict[str, Any] | None:
    return None if s is None else {"down": s.down, "at": s.at}


def load(path: Path) -> tuple[Serving, str | None]:
    """The memory kept at `path` and None; no file: no memory and None; a file that cannot be read as ours: no
    memory and a warning naming the file."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Serving(), None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return Serving(), _unreadable(path, type(exc).__name__)
    try:
        if not isinstance(doc, dict) or doc.get("kind") != KIND:
            raise ValueError("not a watcher's serving memory")
        if doc.get("version") != VERSION:
            raise ValueError(f"version {doc.get('version')!r}, this watcher reads {VERSION}")
        models = doc.get("models")
        if not isinstance(models, dict):
            raise ValueError("models is not an object")
        read = {str(mid).lower(): _since(s) for mid, s in models.items()}
        return Serving(_since(doc.get("forwarder")), {m: s for m, s in read.items() if s is not None}), None
    except ValueError as exc:
        return Serving(), _unreadable(path, str(exc))


def _unreadable(path: Path, why: str) -> str:
    return f"{path} cannot be read as the watcher's serving memory ({why}): the watcher starts with no memory"


def save(path: Path, memory: Serving) -> str | None:
    """Write the memory whole; a warning (the memory is still held by the running watcher) when it cannot be."""
    doc = {
        "kind": KIND,
        "version": VERSION,
        "forwarder": _json(memory.forwarder),
        "models": {mid: _json(s) for mid, s in sorted(memory.models.items())},
    }
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, indent=1, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        return f"the serving memory is not kept in {path} ({exc.strerror or type(exc).__name__}); a restart forgets it"
    return None
