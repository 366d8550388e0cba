"""The one progress display of the long commands, when its output is not a terminal."""

from __future__ import annotations

import io

from services.cli.progress import Progress


def test_without_a_terminal_it_prints_plain_lines_with_count_total_and_rate() -> None:
    stream = io.StringIO()
    with Progress("importing leads.csv", unit="rows", rate_unit="events", stream=stream,
                  plain_every_s=3600) as shown:
        shown.update(10, 40, counted=25)  # the first update prints at once
        shown.update(20, 40, counted=50)  # within the period: nothing
        shown.update(40, 40, counted=100)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines  # the first update and the end
    assert lines[0].startswith("importing leads.csv: 10 of 40 (25%) rows · 25 events · ")
    assert lines[-1].startswith("importing leads.csv: 40 of 40 (100%) rows · 100 events · ")
    assert "events/s" in lines[-1]


def test_an_unknown_total_and_one_unit_print_the_count_and_its_rate() -> None:
    stream = io.StringIO()
    with Progress("rebuilding", stream=stream, plain_every_s=0) as shown:
        shown.update(1500)
    assert stream.getvalue().splitlines()[0].startswith("rebuilding: 1,500 events · ")


def test_a_failed_command_prints_no_final_line() -> None:
    stream = io.StringIO()
    try:
        with Progress("exporting", stream=stream, plain_every_s=3600) as shown:
            shown.update(5, 10)
            raise RuntimeError("disk full")
    except RuntimeError:
        pass
    assert len(stream.getvalue().splitlines()) == 1
