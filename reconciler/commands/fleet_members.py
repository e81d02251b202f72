"""Which providers of a fleet a command acts on: one writer per provider, one watcher per host.

A fleet folder (reconciler.desired.fleet) declares several providers, each served from its own host, where its
forwarder runs and its watcher writes. So `apply` and `watch` on a fleet act for the one provider named by
`--provider NAME`; writing for several providers from one host is refused, but for a devnet, where
`apply --all-providers` converges every member in turn (tests, demos). `--provider` on a single-provider folder is
refused too: it names nothing there, and a unit meant for a fleet host must not write for whatever it finds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler import GuardRefused
from reconciler.desired.diagnostics import ValidationFailed
from reconciler.desired.fleet import FLEET_FILE, is_fleet, load_fleet
from reconciler.desired.loader import load_desired
from reconciler.desired.model import Desired
from reconciler.desired.secrets import SecretUse


class FleetWriteRefused(GuardRefused):
    """A writing command on a fleet without one `--provider` (or on one provider with it): nothing was sent."""


@dataclass(frozen=True)
class Target:
    """One provider a command acts on: its name in fleet.yaml (None: a single-provider folder) and its state."""

    name: str | None
    desired: Desired
    warnings: tuple[object, ...] = ()


def check_selection(path: Path, providers: Sequence[str], all_providers: bool) -> None:
    """Refuse before anything is read: the shape of the selection alone (the names are checked by the loader)."""
    if not is_fleet(path):
        if providers or all_providers:
            flag = "--all-providers" if all_providers else "--provider"
            raise FleetWriteRefused(
                f"{flag} selects providers of a fleet, and {path} holds one provider (no {FLEET_FILE}): leave it out"
            )
        return
    if all_providers and providers:
        raise FleetWriteRefused("--all-providers and --provider together: give one of them")
    if len(providers) > 1:
        raise FleetWriteRefused(
            f"one writer per provider: give one --provider (not {', '.join(providers)}); each host writes for its "
            "own provider (--all-providers writes for every one, on a devnet only)"
        )


def writer_targets(
    path: Path,
    providers: Sequence[str],
    all_providers: bool,
    environ: Mapping[str, str] | None = None,
    given: tuple[SecretUse, ...] = (),
) -> list[Target]:
    """The desired states a writing command acts on, in fleet.yaml order (raises FleetWriteRefused,
    ValidationFailed)."""
    check_selection(path, providers, all_providers)
    if not is_fleet(path):
        desired, warnings = load_desired(path, environ, given)
        return [Target(None, desired, tuple(warnings))]
    fleet = load_fleet(path, environ, given)
    if not providers and not all_providers:
        raise FleetWriteRefused(
            f"{path} is a fleet of {len(fleet.members)} providers ({', '.join(fleet.names())}): name the one this "
            "host writes for with --provider NAME (one writer per provider, on the host where its forwarder runs)"
        )
    chosen = fleet.members if all_providers else (fleet.member(providers[0]),)
    if all_providers:
        elsewhere = [f"{m.name} ({m.desired.network.preset or 'custom'})" for m in chosen if not _on_devnet(m.desired)]
        if elsewhere:
            raise FleetWriteRefused(
                "--all-providers writes for several providers from one host, which only a devnet allows; not a "
                f"devnet: {', '.join(elsewhere)}. Apply each provider on its own host with --provider NAME"
            )
    return [Target(m.name, m.desired, tuple(m.warnings)) for m in chosen]


def _on_devnet(desired: Desired) -> bool:
    return desired.network.preset == "devnet"


def watched_provider(
    path: Path, providers: Sequence[str], environ: Mapping[str, str] | None = None, given: tuple[SecretUse, ...] = ()
) -> str | None:
    """The provider a watcher on `path` keeps converged: its name on a fleet (checked now when the fleet loads; an
    invalid fleet is the loop's to report, as any invalid desired state), None on a single-provider folder."""
    check_selection(path, providers, all_providers=False)
    if not is_fleet(path):
        return None
    try:
        fleet = load_fleet(path, environ, given)
    except ValidationFailed:
        fleet = None
    if not providers:
        known = f" ({', '.join(fleet.names())})" if fleet is not None else ""
        raise FleetWriteRefused(
            f"{path} is a fleet{known}: name the provider this host's watcher keeps converged with --provider NAME "
            "(one watcher per host, on the host where its forwarder runs)"
        )
    if fleet is not None:
        fleet.member(providers[0])  # an unknown name is refused at start, naming the known ones
    return providers[0]
