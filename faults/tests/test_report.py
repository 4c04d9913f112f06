"""The figures table that ``python -m faults`` writes into docs/reliability.md (no stack needed)."""

from __future__ import annotations

from faults.cases import CaseResult
from faults.run import BEGIN, END, table, write_table


def _result(**overrides) -> CaseResult:
    fields = dict(
        name="kill_sends_50pct", recipients=300, created_once=300, doubles=0, missing=0, seconds_to_finish=7.0,
        status="sent", leftover={}, fault_hit=True,
    )  # fmt: skip
    fields.update(overrides)
    return CaseResult(**fields)


def test_table_has_a_row_per_case_and_says_what_failed():
    lost = _result(name="redis_restart", created_once=270, missing=30, seconds_to_finish=None, status="sending",
                   leftover={"unknown": 30})  # fmt: skip
    text = table([_result(), lost], command="python -m faults", seconds=200)
    assert "| kill_sends_50pct | 300 | 300 | 0 | 0 | 7.0 | none |" in text
    assert "| redis_restart | 300 | 270 | 0 | 30 | not in 60 s | 30 unknown (campaign sending) |" in text
    assert "1 of 2 cases exactly once" in text
    assert "`python -m faults`" in text


def test_missed_fault_is_not_a_pass():
    missed = _result(fault_hit=False)
    assert not missed.ok
    assert "(fault missed)" in table([missed], command="python -m faults", seconds=1)


def test_write_table_replaces_only_between_the_markers(tmp_path):
    doc = tmp_path / "reliability.md"
    doc.write_text(f"# Title\n\nBefore.\n\n{BEGIN}\nold table\n{END}\n\nAfter.\n")
    write_table("new table", doc)
    assert doc.read_text() == f"# Title\n\nBefore.\n\n{BEGIN}\nnew table\n{END}\n\nAfter.\n"


def test_a_harness_error_is_a_row_and_a_failure():
    broken = CaseResult.failed("postgres_restart", RuntimeError("faults.agent seed failed:\nTraceback …"))
    assert not broken.ok
    text = table([_result(), broken], command="python -m faults", seconds=1)
    assert "| postgres_restart | | | | | harness error | RuntimeError: faults.agent seed failed: |" in text
    assert "1 of 2 cases exactly once" in text
