"""``dise.engine.verdict.time_summary``: the time line of the result box, status and hover."""

from __future__ import annotations

from dise.engine.verdict import time_summary


def test_time_summary_names_the_whole_request_and_its_long_stages():
    """A 21 s request whose model answered in 3.7 s says so: the repair and the retrieval
    are named, sub-second stages are not (a new user saw only "generation time 3.7 s")."""
    line = time_summary(3.7, {"generation": 3.7, "retrieval": 3.0, "repair": 15.04,
                              "tests": 0.2, "test_writing": 1.5, "total": 24.0})
    assert line == ("3.7 s generating · 24.0 s in all (repair 15.0 s, retrieval 3.0 s, "
                    "writing tests 1.5 s)")
    # the embedding model loading beside the generation: the stages add up to more
    line = time_summary(3.7, {"generation": 3.7, "retrieval": 9.7, "repair": 15.0,
                              "total": 21.0})
    assert line.endswith("(repair 15.0 s, retrieval 9.7 s, beside generating)")
    assert time_summary(2.0, {}) == "2.0 s generating"  # older artifacts: no total stored
    assert time_summary(0.0, {"total": 0.4}) == "0.0 s generating · 0.4 s in all"
