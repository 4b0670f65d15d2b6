"""What the workers of a server share through ``CACHE_ALIAS``: single flight, breaker, discovery.

The fake peers (``tests.fake_peers``) run the real client. Another worker is simulated by a
second ``FederationClient`` (its own memory, the same cache), or by a lock or a record put
in the cache by hand as another worker's resolution would. Waiting runs on a fake clock
(``peers._clock`` / ``peers._sleep``): the tests count requests, never seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache
from django.core.cache.backends.base import BaseCache

from federated_relations import peers
from federated_relations.client import FederationClient, get_client, reset_clients
from federated_relations.exceptions import PeerUnavailable, ProtocolError
from federated_relations.models import GenericContentType
from federated_relations.test import assert_num_requests
from tests import fake_peers as fakes

pytestmark = pytest.mark.django_db
fake_peers = fakes.fake_peers

PKS = {str(pk) for pk in range(1, 11)}
BATCH = "objects/testapp/animal/batch/"


@pytest.fixture
def animals(fake_peers):
    for pk in sorted(PKS):
        fake_peers["shop_b"].add("testapp", "animal", pk, f"B{pk}", common_name=f"b{pk}")
    return GenericContentType.objects.get_for_remote("shop_b", "testapp", "animal")


class FakeTime:
    """``peers._clock`` and ``peers._sleep``: sleeping advances the clock; ``then`` runs once."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0
        self.then = None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds
        if self.then is not None:
            then, self.then = self.then, None
            then()


@pytest.fixture
def fake_time(monkeypatch):
    time = FakeTime()
    monkeypatch.setattr(peers, "_clock", time.clock)
    monkeypatch.setattr(peers, "_sleep", time.sleep)
    return time


def lock_of(content_type, pks):
    return peers._lock_key(content_type, sorted(pks))


# -- single flight -----------------------------------------------------------------------


def test_threads_resolving_the_same_cold_pks_send_one_request(fake_peers, animals):
    fake_peers["shop_b"].delay = 0.2  # the first request is still out when the others look
    start = threading.Barrier(8)

    def resolve(_):
        start.wait(timeout=10)
        return peers.states({animals: set(PKS)})

    with assert_num_requests(1, "shop_b"):
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(resolve, range(8)))
    assert all(result == results[0] for result in results)
    assert sorted(entry["str"] for entry in results[0].values()) == sorted(
        f"B{pk}" for pk in PKS
    )
    assert not cache.get(lock_of(animals, PKS)), "the holder released its lock"


def test_a_failing_holders_waiters_fail_the_same_way(fake_peers, animals):
    fake_peers["shop_b"].delay = 0.2
    fake_peers["shop_b"].error = ProtocolError("garbage")  # answered 500
    start = threading.Barrier(4)

    def resolve(_):
        start.wait(timeout=10)
        return peers.states({animals: set(PKS)})

    with assert_num_requests(1, "shop_b"):
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(resolve, range(4)))
    for result in results:
        assert len(result) == len(PKS)
        assert all(isinstance(state, ProtocolError) for state in result.values())
    assert not cache.get(lock_of(animals, PKS))
    fake_peers["shop_b"].error = None
    with assert_num_requests(1):  # errors are not cached: the next resolution asks
        assert all(not isinstance(s, Exception) for s in peers.states({animals: PKS}).values())


def test_a_waiter_takes_over_when_the_lock_vanishes_without_an_answer(
    fake_peers, animals, fake_time
):
    lock = lock_of(animals, PKS)
    cache.add(lock, "other-worker", timeout=60)
    fake_time.then = lambda: cache.delete(lock)  # the holder died (or its lock expired)
    with assert_num_requests(1, "shop_b"):
        found = peers.states({animals: set(PKS)})
    assert {entry["str"] for entry in found.values()} == {f"B{pk}" for pk in PKS}
    assert 0 < fake_time.slept < 1


def test_a_waiter_fails_as_the_holder_it_saw_failed(fake_peers, animals, fake_time):
    lock = lock_of(animals, PKS)
    cache.add(lock, "other-worker", timeout=60)

    def holder_fails():
        cache.set(lock + ":failed", ("other-worker", PeerUnavailable("refused")), timeout=60)
        cache.delete(lock)

    fake_time.then = holder_fails
    with assert_num_requests(0):
        found = peers.states({animals: set(PKS)})
    assert all(isinstance(state, PeerUnavailable) for state in found.values())
    assert str(found[animals, "1"]) == "refused"


def test_an_old_failure_record_is_not_taken_for_the_holders(fake_peers, animals, fake_time):
    lock = lock_of(animals, PKS)
    cache.set(lock + ":failed", ("an-earlier-holder", PeerUnavailable("refused")), timeout=60)
    cache.add(lock, "other-worker", timeout=60)
    fake_time.then = lambda: cache.delete(lock)
    with assert_num_requests(1):
        found = peers.states({animals: set(PKS)})
    assert all(isinstance(state, dict) for state in found.values())


def test_the_holders_answer_is_read_from_the_cache(fake_peers, animals, fake_time):
    lock = lock_of(animals, PKS)
    cache.add(lock, "other-worker", timeout=60)

    def holder_answers():
        peers.cache_states(animals, {pk: {"pk": pk, "str": f"W{pk}", "fields": {}}
                                     for pk in PKS})
        cache.delete(lock)

    fake_time.then = holder_answers
    with assert_num_requests(0):
        found = peers.states({animals: set(PKS)})
    assert {entry["str"] for entry in found.values()} == {f"W{pk}" for pk in PKS}


def test_waiting_for_a_lock_that_is_never_released_is_bounded_by_the_timeout(
    fake_peers, animals, fake_time, settings
):
    settings.FEDERATION = {**settings.FEDERATION, "TIMEOUT": 1.5}
    cache.add(lock_of(animals, PKS), "stuck-worker", timeout=60)
    with assert_num_requests(1, "shop_b"):  # then it asks for itself, once
        found = peers.states({animals: set(PKS)})
    assert {entry["str"] for entry in found.values()} == {f"B{pk}" for pk in PKS}
    assert fake_time.slept == pytest.approx(1.5)


def test_pages_lock_apart(fake_peers, animals, fake_time):
    fake_peers["shop_b"].max_batch = 4
    get_client("shop_b").discover()
    ordered = sorted(PKS)
    second = ordered[4:8]
    cache.add(lock_of(animals, second), "other-worker", timeout=60)

    def holder_answers():
        peers.cache_states(animals, {pk: {"pk": pk, "str": f"W{pk}", "fields": {}}
                                     for pk in second})
        cache.delete(lock_of(animals, second))

    fake_time.then = holder_answers
    with assert_num_requests(2, "shop_b") as log:  # pages 1 and 3; page 2 was another's
        found = peers.states({animals: set(PKS)})
    assert {r.path for r in log.requests} == {BATCH}
    assert {pk for (_, pk), entry in found.items() if entry["str"].startswith("W")} == set(
        second
    )


def test_fresh_reads_do_not_wait(fake_peers, animals, fake_time):
    cache.add(lock_of(animals, PKS), "other-worker", timeout=60)
    with assert_num_requests(1):
        missing, errors = peers.check_existence(animals, PKS | {"99"})
    assert missing == {"99"} and not errors
    assert fake_time.slept == 0


# -- the circuit breaker ---------------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def fail(client, times):
    for _ in range(times):
        with pytest.raises(PeerUnavailable):
            client.fetch("testapp", "animal", ["1"])


def test_a_circuit_opened_by_one_worker_is_open_for_the_others(fake_peers, animals):
    fake_peers["shop_b"].error = PeerUnavailable("refused")
    worker_1 = get_client("shop_b")
    with assert_num_requests(worker_1.failure_threshold):
        fail(worker_1, worker_1.failure_threshold)
    worker_2 = FederationClient("shop_b")  # another process: its own memory, same cache
    with assert_num_requests(0):
        with pytest.raises(PeerUnavailable, match="failed 3 times in a row.*circuit open"):
            worker_2.fetch("testapp", "animal", ["1"])
        found = peers.states({animals: set(PKS)})  # a resolution of worker 1
    assert all(isinstance(state, PeerUnavailable) for state in found.values())
    assert worker_2.breaker.is_open


def test_failures_add_up_across_workers(fake_peers):
    fake_peers["shop_b"].error = PeerUnavailable("refused")
    workers = [FederationClient("shop_b") for _ in range(3)]
    with assert_num_requests(3):
        for worker in workers:
            fail(worker, 1)
        with pytest.raises(PeerUnavailable, match="circuit open"):
            FederationClient("shop_b").fetch("testapp", "animal", ["1"])


def test_one_trial_for_the_whole_server_then_its_success_closes_it_everywhere(
    fake_peers, animals
):
    fake_peers["shop_b"].error = PeerUnavailable("refused")
    clock = FakeClock()
    worker_1, worker_2 = FederationClient("shop_b"), FederationClient("shop_b")
    worker_1.breaker.clock = worker_2.breaker.clock = clock
    fail(worker_1, 3)
    clock.now += worker_1.cooldown
    assert worker_1.breaker.before()  # worker 1 has the trial...
    assert not worker_2.breaker.before()  # ...so worker 2 fails fast
    worker_1.breaker.release()
    fake_peers["shop_b"].error = None
    with assert_num_requests(1):
        worker_2.fetch("testapp", "animal", ["1"])  # worker 2's trial succeeds
    assert not worker_1.breaker.is_open
    with assert_num_requests(1):
        worker_1.fetch("testapp", "animal", ["1"])


def test_a_failed_trial_reopens_for_everyone(fake_peers):
    fake_peers["shop_b"].error = PeerUnavailable("refused")
    clock = FakeClock()
    worker_1, worker_2 = FederationClient("shop_b"), FederationClient("shop_b")
    worker_1.breaker.clock = worker_2.breaker.clock = clock
    fail(worker_1, 3)
    clock.now += worker_1.cooldown
    with assert_num_requests(1):
        fail(worker_2, 1)  # the trial
    with assert_num_requests(0):
        fail(worker_1, 1)
        fail(worker_2, 1)


def test_reset_clients_forgets_the_shared_circuit_and_discovery(fake_peers):
    fake_peers["shop_b"].error = PeerUnavailable("refused")
    fail(get_client("shop_b"), 3)
    reset_clients()
    fake_peers["shop_b"].error = None
    with assert_num_requests(2):
        get_client("shop_b").discover()
        get_client("shop_b").fetch("testapp", "animal", ["1"])
    reset_clients()
    with assert_num_requests(1):
        FederationClient("shop_b").discover()


# -- discovery ---------------------------------------------------------------------------------


def test_one_workers_discovery_serves_every_worker(fake_peers, animals):
    fake_peers["shop_b"].max_batch = 4
    with assert_num_requests(1):
        assert FederationClient("shop_b").discover()["max_batch"] == 4
    with assert_num_requests(0):
        assert FederationClient("shop_b").discover()["max_batch"] == 4
    # A worker that never discovered pages by the cached max_batch: no 413, no discovery.
    with assert_num_requests(3) as log:
        peers.states({animals: set(PKS)})
    assert {(r.path, r.status) for r in log.requests} == {(BATCH, 200)}


def test_the_shared_discovery_expires_with_the_cache_ttl(fake_peers):
    FederationClient("shop_b").discover()
    key = cache.make_and_validate_key(FederationClient("shop_b")._shared_key("discovery"))
    expires = cache._expire_info[key]  # LocMem's expiry time (None: never)
    assert expires is not None and expires - time.time() <= 300


# -- a cache that fails ------------------------------------------------------------------------


class BrokenCache(BaseCache):
    """A cache backend whose server is down: every operation raises."""

    def __init__(self, location, params):
        super().__init__(params)

    def _down(self, *args, **kwargs):
        raise ConnectionError("Connection refused (the cache server)")

    add = get = set = touch = delete = clear = incr = has_key = _down
    get_many = set_many = delete_many = _down


@pytest.fixture
def broken_cache(fake_peers, settings, caplog):
    caplog.set_level(logging.WARNING, logger="federated_relations")
    settings.CACHES = {**settings.CACHES, "broken": {
        "BACKEND": "tests.test_shared_state.BrokenCache"
    }}
    settings.FEDERATION = {**settings.FEDERATION, "CACHE_ALIAS": "broken"}
    return fake_peers


def test_reads_work_while_the_cache_fails_and_the_outage_is_logged_once(
    broken_cache, animals, caplog
):
    for _ in range(2):
        with assert_num_requests(1):  # nothing is remembered: each read asks
            found = peers.states({animals: set(PKS)})
        assert {entry["str"] for entry in found.values()} == {f"B{pk}" for pk in PKS}
    assert peers.discover("shop_b")["project"] == "shop_b"
    records = caplog.get_records("setup") + caplog.get_records("call")
    outages = [r for r in records if "cache 'broken' failed" in r.getMessage()]
    assert len(outages) == 1, records


def test_the_breaker_works_per_process_while_the_cache_fails(broken_cache):
    broken_cache["shop_b"].error = PeerUnavailable("refused")
    client = get_client("shop_b")
    with assert_num_requests(3):
        fail(client, 5)
    assert client.breaker.is_open
