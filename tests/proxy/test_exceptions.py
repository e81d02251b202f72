"""The forwarder's exceptions are one tree, drawn in proxy/exceptions.py's docstring as the classes are."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import proxy
from proxy import exceptions
from proxy.exceptions import ForwarderError

DRAWN = re.compile(r"^    (?P<indent>[│├└─ ]*)(?P<name>[A-Z]\w+)")


def proxy_exceptions() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for info in pkgutil.walk_packages(proxy.__path__, "proxy."):
        for _, obj in inspect.getmembers(importlib.import_module(info.name), inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__.startswith("proxy"):
                found.add(obj)
    return found


def drawn_parents() -> dict[str, str | None]:
    """Each class the docstring draws, with the class it is drawn under."""
    parents: dict[str, str | None] = {}
    path: list[str] = []
    for line in (exceptions.__doc__ or "").splitlines():
        drawn = DRAWN.match(line)
        if drawn is None:
            continue
        depth = len(drawn["indent"]) // 4
        del path[depth:]
        parents[drawn["name"]] = path[-1] if path else None
        path.append(drawn["name"])
    return parents


def test_every_exception_of_the_forwarder_is_in_the_tree_and_defined_with_it() -> None:
    found = proxy_exceptions()
    assert len(found) >= 12
    assert sorted(e.__name__ for e in found if not issubclass(e, ForwarderError)) == []
    assert sorted(e.__qualname__ for e in found if e.__module__ != "proxy.exceptions") == []


def test_the_drawing_is_the_class_tree() -> None:
    classes = {e.__name__: e for e in proxy_exceptions()}
    drawn = drawn_parents()
    assert set(drawn) == set(classes)
    for name, parent in drawn.items():
        base = next(b for b in classes[name].__bases__ if issubclass(b, ForwarderError) or b is Exception)
        assert (base.__name__ if base is not Exception else None) == parent, name
