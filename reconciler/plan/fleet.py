"""A fleet's plan: one ordinary plan per provider, or why that provider could not be planned.

A provider whose network could not be read has no plan, only its error; the others are still planned and
shown. The fleet's exit code is the worst of its providers' (an error anywhere: 1). What the fleet costs is
summed per network, since fees and stakes are paid in that network's MOR and gas in its coin.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.plan.model import Plan


@dataclass(frozen=True)
class MemberPlan:
    """One provider of the fleet: its name in fleet.yaml, its network's name, its plan or its error."""

    name: str
    network: str
    plan: Plan | None
    error: str | None = None


@dataclass(frozen=True)
class NetworkTotals:
    """What the planned providers of one network would create, change and spend (money in wei)."""

    network: str
    providers: int
    failed: int
    create: int
    update: int
    delete: int
    fees: int
    stake: int
    gas: int
    gas_wei: int
    mor_out: int


@dataclass(frozen=True)
class FleetPlan:
    members: tuple[MemberPlan, ...]

    @property
    def planned(self) -> tuple[MemberPlan, ...]:
        return tuple(m for m in self.members if m.plan is not None)

    @property
    def failed(self) -> tuple[MemberPlan, ...]:
        return tuple(m for m in self.members if m.plan is None)

    @property
    def pending(self) -> bool:
        return any(m.plan.pending for m in self.members if m.plan is not None)

    @property
    def has_errors(self) -> bool:
        return any(m.plan is None or m.plan.has_errors for m in self.members)

    def totals(self) -> list[NetworkTotals]:
        """Per network, in the order the networks first appear among the providers."""
        out = []
        for network in dict.fromkeys(m.network for m in self.members):
            members = [m for m in self.members if m.network == network]
            sums = [m.plan.summary() for m in members if m.plan is not None]
            out.append(
                NetworkTotals(
                    network=network,
                    providers=len(members),
                    failed=sum(1 for m in members if m.plan is None),
                    create=sum(s.create for s in sums),
                    update=sum(s.update for s in sums),
                    delete=sum(s.delete for s in sums),
                    fees=sum(s.fees for s in sums),
                    stake=sum(s.stake for s in sums),
                    gas=sum(s.gas for s in sums),
                    gas_wei=sum(s.gas_wei for s in sums),
                    mor_out=sum(s.mor_out for s in sums),
                )
            )
        return out
