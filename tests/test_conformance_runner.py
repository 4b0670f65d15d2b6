"""The checks ``conformance/run.py`` makes of a ``runtests.py`` run before trusting it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "conformance" / "run.py"
_SPEC = importlib.util.spec_from_file_location("conformance_run", _PATH)
run = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(run)

LABELS = {"generic_relations": ["generic_relations.tests"]}
EXPECTED = {"generic_relations.tests.T.test_c": "a documented difference"}
LINES = """\
test_a (generic_relations.tests.T.test_a) ... ok
test_b (generic_relations.tests.T.test_b) ... ok
test_c (generic_relations.tests.T.test_c) ... FAIL
"""
FINISHED = LINES + """
======================================================================
FAIL: test_c (generic_relations.tests.T.test_c)
----------------------------------------------------------------------
Ran 3 tests in 0.101s

FAILED (failures=1)
"""


def problems(output: str, returncode: int = 1, labels=LABELS) -> list[str]:
    return run.run_problems(output, returncode, run.parse_results(output), EXPECTED, labels)


def test_a_finished_run_has_no_problem():
    assert problems(FINISHED) == []
    assert run.report(run.parse_results(FINISHED), EXPECTED, list(LABELS)) == 0


@pytest.mark.parametrize("output, problem", [
    # runtests crashed after some tests ran: exit status 1, but results were read.
    (LINES + "Traceback (most recent call last):\nMemoryError\n", "no 'Ran N tests'"),
    (FINISHED.replace("Ran 3 tests", "Ran 4 tests"), "ran 4 tests but 3 results"),
    (FINISHED.replace("FAILED (failures=1)", "Traceback ..."), "no OK/FAILED verdict"),
])
def test_an_unfinished_run_fails(output, problem):
    assert run.report(run.parse_results(output), EXPECTED, list(LABELS)) == 0
    assert any(problem in text for text in problems(output)), problems(output)


def test_an_app_without_labels_or_passing_tests_fails():
    labels = {**LABELS, "model_meta": []}
    assert problems(FINISHED, labels=labels) == ["model_meta: no test was selected"]
    skipped = (
        "test_a (generic_relations.tests.T.test_a) ... skipped 'no database'\n"
        "\nRan 1 test in 0.001s\n\nOK (skipped=1)\n"
    )
    assert problems(skipped, returncode=0) == ["generic_relations: no test passed"]


def test_a_failing_exit_status_needs_a_failed_test():
    output = FINISHED.replace("... FAIL", "... ok").replace("FAILED (failures=1)", "OK")
    output = output.replace("FAIL: test_c (generic_relations.tests.T.test_c)\n", "")
    assert problems(output, returncode=0) == []
    assert problems(output, returncode=1) == ["runtests exited with 1 but no test failed"]
