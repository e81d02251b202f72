"""The watcher's memory for policy.unserved kept in the provider's state folder (`serving.json`): written whole
(a temporary file renamed over it), read back equal; a corrupt or foreign file is a warning and an empty memory,
never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_the_memory_is_written_whole_and_read_back_equal(tmp_path: Path) -> None:
    from reconciler.plan.unserved import Serving, Since
    from reconciler.watch.serving_file import FILE, load, save

    path = tmp_path / "31337-0xabc" / FILE
    assert load(path) == (Serving(), None)  # no file yet: no memory, nothing to say
    memory = Serving(Since(down=True, at=1_800_000_000), {"0x" + "ab" * 32: Since(down=False, at=1_800_000_600)})
    save(path, memory)
    assert load(path) == (memory, None)
    assert [p.name for p in path.parent.iterdir()] == [FILE]  # no temporary file left
    save(path, Serving())
    assert load(path) == (Serving(), None)


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "",
        "[1, 2]",
        '{"kind": "something-else", "version": 1}',
        '{"kind": "reconcile-watch-serving", "version": 99, "forwarder": null, "models": {}}',
        '{"kind": "reconcile-watch-serving", "version": 1, "forwarder": {"down": "yes", "at": "x"}, "models": {}}',
        '{"kind": "reconcile-watch-serving", "version": 1, "forwarder": null, "models": [1]}',
        "\udcff",
    ],
)
def test_a_corrupt_or_foreign_file_is_a_warning_and_no_memory(tmp_path: Path, text: str) -> None:
    from reconciler.plan.unserved import Serving
    from reconciler.watch.serving_file import FILE, load

    path = tmp_path / FILE
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    memory, warning = load(path)
    assert memory == Serving()
    assert warning is not None and str(path) in warning and "starts with no memory" in warning


def test_an_unreadable_state_folder_is_a_warning_when_saving_never_a_crash(tmp_path: Path) -> None:
    from reconciler.plan.unserved import Serving, Since
    from reconciler.watch.serving_file import save

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    warning = save(blocker / "serving.json", Serving(Since(down=True, at=1)))
    assert warning is not None and "not kept" in warning
