"""What the errors of talking to a peer say, and the checks that a server can be reached.

Transport failures are real sockets on 127.0.0.1 (a closed port, a listener that never
answers, a full accept queue) and an unresolvable host; refused signatures come from the
real views, served in-process under the peer's own settings.
"""

from __future__ import annotations

import socket
import sys
from io import StringIO

import pytest
from django.core import checks
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import include, path

from federated_relations.checks import check_urls
from federated_relations.client import FederationClient, reset_clients
from federated_relations.exceptions import PeerAuthError, PeerUnavailable
from tests.library_app.transport import (
    InProcessAdapter,
    ScriptedAdapter,
    ScriptedHTTPServer,
    free_port,
    session_with,
)

KEY = "secret-ab"
SERVER = {
    "PROJECT_NAME": "shop_b",
    "PEERS": {"shop_a": {"URL": "http://shop-a.test/federation/", "KEY": KEY}},
    "EXPOSE": {"library_app.Author": ["name"]},
}
DISCOVERY = {"protocol": 1, "project": "shop_b", "max_batch": 500, "types": []}
URLLIB3_INTERNALS = ("_Deadline", "HTTPConnectionPool", "Max retries", "NewConnectionError")


def federation(url: str, key: str = KEY, timeout: float = 1.0) -> dict:
    return {
        "PROJECT_NAME": "shop_a",
        "PEERS": {"shop_b": {"URL": url, "KEY": key}},
        "TIMEOUT": timeout,
    }


@pytest.fixture(autouse=True)
def fresh_clients():
    reset_clients()
    yield
    reset_clients()


def unavailable(url: str, timeout: float = 1.0) -> str:
    with override_settings(FEDERATION=federation(url, timeout=timeout)):
        client = FederationClient("shop_b")
        try:
            with pytest.raises(PeerUnavailable) as info:
                client.discover()
        finally:
            client.close()
    message = str(info.value)
    for internal in URLLIB3_INTERNALS:
        assert internal not in message
    return message


# -- PeerUnavailable: the peer, the URL and the cause in words ---------------------------------


def test_connection_refused():
    port = free_port()
    assert unavailable(f"http://127.0.0.1:{port}/federation/") == (
        f"Peer 'shop_b' did not answer GET http://127.0.0.1:{port}/federation/types/: "
        f"connection refused (is the peer's server running and listening on "
        f"127.0.0.1:{port}?)."
    )


def test_a_listener_that_never_answers_times_out_after_timeout():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepted by the kernel, never read: no answer comes
        port = listener.getsockname()[1]
        message = unavailable(f"http://127.0.0.1:{port}/federation/", timeout=0.3)
    assert message == (
        f"Peer 'shop_b' did not answer GET http://127.0.0.1:{port}/federation/types/: "
        "timed out after 0.3 s waiting for the answer (FEDERATION['TIMEOUT'])."
    )


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs")
def test_a_full_accept_queue_times_out_connecting():
    # Linux drops the SYNs of a listener whose accept queue is full: connect() times out.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        try:
            message = unavailable(f"http://127.0.0.1:{port}/federation/", timeout=0.3)
        finally:
            for filler in fillers:
                filler.close()
    assert message == (
        f"Peer 'shop_b' did not answer GET http://127.0.0.1:{port}/federation/types/: "
        f"timed out after 0.3 s connecting to 127.0.0.1:{port} (FEDERATION['TIMEOUT'])."
    )


def test_an_unresolvable_host():
    assert unavailable("http://nonexistent.invalid/federation/") == (
        "Peer 'shop_b' did not answer GET http://nonexistent.invalid/federation/types/: "
        "DNS lookup of 'nonexistent.invalid' failed (check the host name in "
        "FEDERATION['PEERS']['shop_b']['URL'])."
    )


def test_the_open_circuit_says_the_url_and_the_last_failure():
    port = free_port()
    url = f"http://127.0.0.1:{port}/federation/"
    with override_settings(FEDERATION=federation(url)):
        client = FederationClient("shop_b")
        for _ in range(client.failure_threshold):
            with pytest.raises(PeerUnavailable):
                client.discover()
        with pytest.raises(PeerUnavailable) as info:
            client.discover()
        client.close()
    assert str(info.value) == (
        f"Peer 'shop_b' ({url}) failed 3 times in a row; not asking it again for up to "
        f"30 s (circuit open). Last failure: Peer 'shop_b' did not answer GET "
        f"{url}types/: connection refused (is the peer's server running and listening on "
        f"127.0.0.1:{port}?)."
    )


def test_filter_values_stay_out_of_the_message():
    port = free_port()
    with override_settings(FEDERATION=federation(f"http://127.0.0.1:{port}/f/")):
        client = FederationClient("shop_b")
        with pytest.raises(PeerUnavailable) as info:
            client.list("library_app", "book", filters={"title": "secret title"})
        client.close()
    assert "secret" not in str(info.value)
    assert f"GET http://127.0.0.1:{port}/f/objects/library_app/book/:" in str(info.value)


# -- PeerAuthError: what to fix ---------------------------------------------------------------


def in_process_client(server: dict, key: str = KEY) -> FederationClient:
    with override_settings(FEDERATION=federation("http://shop-b.test/federation/", key=key)):
        return FederationClient(
            "shop_b", session=session_with(InProcessAdapter(server, "tests.library_app.urls"))
        )


@pytest.mark.django_db
def test_bad_signature_says_the_keys_of_both_servers_must_match():
    client = in_process_client(SERVER, key="not-the-same-secret")
    with pytest.raises(PeerAuthError) as info:
        client.discover()
    assert info.value.status == 403 and info.value.code == "bad_signature"
    assert str(info.value) == (
        "Peer 'shop_b' answered GET http://shop-b.test/federation/types/ with 403 "
        "(bad_signature): The signature does not match the request. Hint: the KEYs of "
        "both servers must match: FEDERATION['PEERS']['shop_b']['KEY'] here and "
        "FEDERATION['PEERS']['shop_a']['KEY'] on 'shop_b' must be the same secret."
    )


@pytest.mark.django_db
def test_unknown_peer_says_the_peer_must_list_this_server():
    server = {**SERVER, "PEERS": {"shop_z": {"URL": "http://z.test/f/", "KEY": KEY}}}
    client = in_process_client(server)
    with pytest.raises(PeerAuthError) as info:
        client.discover()
    assert info.value.code == "unknown_peer"
    assert str(info.value).endswith(
        "Hint: 'shop_b' has no peer named 'shop_a'; add it to the peer's "
        "FEDERATION['PEERS'] with the KEY this server has in "
        "FEDERATION['PEERS']['shop_b']['KEY']."
    )


def test_unsigned_and_expired_have_their_own_hints():
    unsigned = (401, {"error": {"code": "unsigned", "message": "Missing."}})
    expired = (403, {"error": {"code": "expired", "message": "Too old."}})
    with override_settings(FEDERATION=federation("http://shop-b.test/federation/")):
        client = FederationClient("shop_b", session=session_with(ScriptedAdapter(unsigned,
                                                                                 expired)))
        with pytest.raises(PeerAuthError, match="a proxy in between may drop them"):
            client.discover()
        with pytest.raises(PeerAuthError, match=r"clocks disagree .* synchronize them"):
            client.discover()


# -- the URLs a server with peers must mount ----------------------------------------------------

#: This module's URLconf: a server that forgot to mount federated_relations.urls.
urlpatterns = [path("shop/", include([]))]


@override_settings(ROOT_URLCONF=__name__, FEDERATION=federation("http://shop-b.test/federation/"))
def test_a_server_with_peers_and_without_the_urls_gets_a_warning():
    with override_settings(ROOT_URLCONF="tests.urls"):
        assert check_urls() == []  # mounted next to the admin
    messages = check_urls()
    assert [(m.level, m.id) for m in messages] == [(checks.WARNING, "federated_relations.W701")]
    assert messages[0].msg == (
        "FEDERATION['PEERS'] names 'shop_b', but ROOT_URLCONF "
        "('tests.test_errors') does not include "
        "federated_relations.urls: this server will miss the deletion events its peers send, "
        "so rows pointing at their deleted objects are never cascaded, kept or signalled by "
        "on_delete_tgt / on_remote_delete, and peers cannot read what FEDERATION['EXPOSE'] "
        "offers."
    )
    assert 'include("federated_relations.urls")' in messages[0].hint
    # Registered with Django's URL checks: `manage.py check` shows it.
    assert "federated_relations.W701" in [m.id for m in checks.run_checks(tags=["urls"])]


@override_settings(ROOT_URLCONF=__name__, FEDERATION={"PROJECT_NAME": "shop_a"})
def test_a_server_without_peers_needs_no_urls():
    assert check_urls() == []


# -- federation_check --------------------------------------------------------------------------


def test_federation_check_reports_a_peer_whose_events_endpoint_answers_404():
    not_found = {"error": {"code": "not_exposed", "message": "There is no such endpoint."}}
    with ScriptedHTTPServer((200, DISCOVERY, 0), (404, not_found, 0)) as server:
        with override_settings(FEDERATION=federation(server.url)):
            out = StringIO()
            with pytest.raises(CommandError, match="1 peer"):
                call_command("federation_check", stdout=out)
        assert server.hits == 2
    assert out.getvalue().strip() == (
        f"shop_b: FAILED ({server.url}): its events endpoint answers 404: it will never "
        "receive this server's deletion events, so its rows pointing at our deleted objects "
        "stay. The peer must mount all of federated_relations.urls "
        '(path("federation/", include("federated_relations.urls"))) at the URL in '
        "FEDERATION['PEERS']['shop_b']['URL']. Peer 'shop_b' answered POST "
        f"{server.url}events/ with 404 (not_exposed): There is no such endpoint."
    )


def test_federation_check_accepts_a_peer_that_takes_events():
    with ScriptedHTTPServer((200, DISCOVERY, 0), (200, {"accepted": []}, 0)) as server:
        with override_settings(FEDERATION=federation(server.url)):
            out = StringIO()
            call_command("federation_check", stdout=out)
    assert out.getvalue().startswith(
        f"shop_b: OK ({server.url}): reachable, signature accepted, events accepted"
    )


def test_federation_check_says_the_cause_of_an_unreachable_peer():
    port = free_port()
    with override_settings(FEDERATION=federation(f"http://127.0.0.1:{port}/federation/")):
        out = StringIO()
        with pytest.raises(CommandError):
            call_command("federation_check", stdout=out)
    assert "unreachable: Peer 'shop_b' did not answer GET" in out.getvalue()
    assert "connection refused" in out.getvalue()
