"""The forwarder's counters as usage per model and UTC day (issue 31): read from /metrics, folded run by run."""

from __future__ import annotations

from fractions import Fraction as F
from pathlib import Path

from reconciler.market.margin import Usage
from reconciler.observe.prometheus import parse
from reconciler.observe.usage import usage_of
from reconciler.status import usage_days
from reconciler.status.usage_days import UsageDays, fold

A, B = "0x" + "ab" * 32, "0x" + "cd" * 32


def test_usage_of_reads_tokens_by_type_and_served_seconds_per_model_id() -> None:
    text = (
        f'morpheus_proxy_tokens_total{{model="a",model_id="{A.upper().replace("0X", "0x")}",type="prompt"}} 900\n'
        f'morpheus_proxy_tokens_total{{model="a",model_id="{A}",type="completion"}} 1200\n'
        f'morpheus_proxy_tokens_total{{model="a",model_id="{A}",type="cached"}} 600\n'
        f'morpheus_proxy_tokens_total{{model="a",model_id="{A}",type="cache_write"}} 50\n'
        f'morpheus_proxy_tokens_total{{model="a",model_id="{A}",type="reasoning"}} 7\n'
        f'morpheus_proxy_served_seconds_total{{model="a",model_id="{A}"}} 12.3456\n'
        f'morpheus_proxy_served_seconds_total{{model="b",model_id="{B}"}} NaN\n'
        'morpheus_proxy_tokens_total{model="old",type="prompt"} 5\n'  # a forwarder without model_id labels
        f'morpheus_proxy_requests_total{{model="a",model_id="{A}",status="200"}} 3\n'
    )
    assert usage_of(parse(text)) == {
        A: Usage(prompt=900, completion=1200, cached=600, cache_write=50, seconds=F(12346, 1000))
    }


def test_fold_counts_what_the_counters_gained_on_the_day_of_each_reading(tmp_path: Path) -> None:
    first = {A: Usage(prompt=100, completion=40, seconds=F(10))}
    ledger = fold(UsageDays(), first, "2026-12-05")  # first seen: everything since the forwarder started
    assert ledger.days == {"2026-12-05": first}
    second = {A: Usage(prompt=160, completion=70, cached=20, seconds=F(16)), B: Usage(prompt=5, seconds=F(1))}
    ledger = fold(ledger, second, "2026-12-06")
    assert ledger.days["2026-12-06"] == {
        A: Usage(prompt=60, completion=30, cached=20, seconds=F(6)),
        B: Usage(prompt=5, seconds=F(1)),
    }
    ledger = fold(ledger, second, "2026-12-06")  # nothing gained: nothing added
    assert ledger.days["2026-12-06"][A] == Usage(prompt=60, completion=30, cached=20, seconds=F(6))
    restarted = {A: Usage(prompt=8, completion=2, seconds=F(1))}  # the forwarder restarted: counters went down
    ledger = fold(ledger, restarted, "2026-12-06")
    assert ledger.days["2026-12-06"][A] == Usage(prompt=68, completion=32, cached=20, seconds=F(7))
    assert ledger.last == {A: restarted[A], B: second[B]}
    path = tmp_path / usage_days.FILE
    usage_days.save(path, ledger)
    assert usage_days.load(path) == ledger
    path.write_text("{not json")
    assert usage_days.load(path) == UsageDays()
