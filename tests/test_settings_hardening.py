"""Malformed ``FEDERATION`` settings stop a real process at startup, naming the key.

``tests/test_conf.py`` checks ``load_settings()`` value by value, and ``tests/test_checks.py``
the system checks; this module proves the promise end to end: a fresh Python process whose
settings are malformed fails in ``django.setup()`` (``AppConfig.ready``) with
``ImproperlyConfigured``, and the message names the offending key. Each case is its own
process (started all at once, so the module costs about one startup).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PEER = {"URL": "http://127.0.0.1:8001/federation/", "KEY": "k"}
GOOD = {
    "PROJECT_NAME": "shop_a",
    "PEERS": {"shop_b": PEER},
    "EXPOSE": {"library_app.Book": ["title", "price"]},
}
STARTUP = "import django; django.setup(); print('STARTED')"

#: name -> (FEDERATION as JSON data, fragments the error message must contain)
CASES = {
    "not_a_dict": (["shop_a"], ["FEDERATION must be a dict"]),
    "unknown_key": ({**GOOD, "PEER": {}}, ["unknown keys", "'PEER'"]),
    "project_name_wrong_type": ({**GOOD, "PROJECT_NAME": 7}, ["FEDERATION['PROJECT_NAME']"]),
    "timeout_wrong_type": ({**GOOD, "TIMEOUT": "2"}, ["FEDERATION['TIMEOUT']", "'2'"]),
    "timeout_negative": ({**GOOD, "TIMEOUT": -1}, ["FEDERATION['TIMEOUT']"]),
    "peers_wrong_type": ({**GOOD, "PEERS": ["shop_b"]}, ["FEDERATION['PEERS']"]),
    "peer_url_relative": (
        {**GOOD, "PEERS": {"shop_b": {**PEER, "URL": "/federation/"}}},
        ["FEDERATION['PEERS']['shop_b']['URL']", "absolute http(s) URL"],
    ),
    "peer_url_other_scheme": (
        {**GOOD, "PEERS": {"shop_b": {**PEER, "URL": "file:///etc/passwd"}}},
        ["['shop_b']['URL']"],
    ),
    "peer_key_missing": (
        {**GOOD, "PEERS": {"shop_b": {"URL": PEER["URL"]}}},
        ["FEDERATION['PEERS']['shop_b']['KEY']", "shared secret"],
    ),
    "peer_key_empty": (
        {**GOOD, "PEERS": {"shop_b": {**PEER, "KEY": ""}}}, ["['shop_b']['KEY']"],
    ),
    "peer_is_this_server": ({**GOOD, "PEERS": {"shop_a": PEER}}, ["'shop_a'", "PROJECT_NAME"]),
    "expose_wrong_type": ({**GOOD, "EXPOSE": ["library_app.Book"]}, ["FEDERATION['EXPOSE']"]),
    "expose_missing_model": (
        {**GOOD, "EXPOSE": {"library_app.Nope": ["title"]}},
        ["FEDERATION['EXPOSE']", "'library_app.Nope'", "not an installed model"],
    ),
    "expose_missing_field": (
        {**GOOD, "EXPOSE": {"library_app.Book": ["title", "isbn"]}},
        ["FEDERATION['EXPOSE']['library_app.Book']", "'isbn'"],
    ),
    "expose_reverse_relation": (
        # A reverse relation has no column: it would serve another model's rows.
        {**GOOD, "EXPOSE": {"library_app.Author": ["name", "book"]}},
        ["FEDERATION['EXPOSE']['library_app.Author']", "'book'"],
    ),
    "cache_alias_unknown": ({**GOOD, "CACHE_ALIAS": "nope"}, ["FEDERATION['CACHE_ALIAS']"]),
    "on_remote_error_unknown": (
        {**GOOD, "ON_REMOTE_ERROR": "ignore"}, ["FEDERATION['ON_REMOTE_ERROR']", "'ignore'"],
    ),
}


def _start(federation) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.integration.peer_settings",
        FR_DB="sqlite",
        FR_PEER_FEDERATION=json.dumps(federation),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return subprocess.Popen(
        [sys.executable, "-c", STARTUP], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.fixture(scope="module")
def startups():
    """Start every case at once; return name -> (exit code, stdout, stderr)."""
    processes = {name: _start(federation) for name, (federation, _) in CASES.items()}
    processes["good"] = _start(GOOD)
    results = {}
    for name, process in processes.items():
        try:
            out, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        results[name] = (process.returncode, out, err)
    return results


def test_good_settings_start(startups):
    code, out, err = startups["good"]
    assert (code, out.strip()) == (0, "STARTED"), err


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_settings_stop_the_process_naming_the_key(startups, name):
    code, out, err = startups[name]
    assert code != 0 and "STARTED" not in out
    last = err.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: "), err[-2000:]
    for fragment in CASES[name][1]:
        assert fragment in last
