"""``manage.py federation_check``: is each peer reachable, does it accept our signature?

Each peer is asked for its discovery document, then sent an empty batch of events: a peer
whose events endpoint answers 404 has not mounted ``federated_relations.urls`` (or mounted
only part of it) and would never receive this server's deletion events.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import peers
from ...conf import federated_settings
from ...exceptions import FederationError, PeerAuthError, PeerUnavailable, ProtocolError

__all__ = ["Command"]


class Command(BaseCommand):
    """Ask every peer (or the named ones) for its discovery document, and report."""

    help = (
        "Check each peer of FEDERATION['PEERS']: reachable, signature accepted, events "
        "endpoint mounted, and the types it exposes. Exits with an error if any peer fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("peers", nargs="*", metavar="PEER", help="Peers to check (all).")

    def handle(self, *args: Any, **options: Any) -> None:
        configured = federated_settings.PEERS
        names = options["peers"] or sorted(configured)
        if not names:
            self.stdout.write("No peers are configured in FEDERATION['PEERS'].")
            return
        failed = []
        problem: str | None
        for peer in names:
            if peer not in configured:
                self.stdout.write(self.style.ERROR(f"{peer}: not in FEDERATION['PEERS']"))
                failed.append(peer)
                continue
            url = configured[peer]["URL"]
            try:
                discovery = peers.discover(peer, fresh=True)
            except PeerAuthError as error:
                problem = f"reachable, but our signature was refused: {error}"
            except PeerUnavailable as error:
                problem = f"unreachable: {error}"
            except ProtocolError as error:
                if getattr(error, "status", None) == 404:
                    problem = (
                        f"no federation endpoints at this URL (404): check that the peer "
                        f"mounts federated_relations.urls there. {error}"
                    )
                else:
                    problem = (
                        f"reachable, but its answer does not follow the protocol: {error}"
                    )
            except FederationError as error:
                problem = str(error)
            else:
                problem = self._events_problem(peer)
            if problem is None:
                types = discovery.get("types", [])
                self.stdout.write(self.style.SUCCESS(
                    f"{peer}: OK ({url}): reachable, signature accepted, events accepted, "
                    f"protocol {discovery.get('protocol')}, max batch "
                    f"{discovery.get('max_batch')}, "
                    f"{len(types)} exposed type(s)"
                ))
                for entry in types:
                    fields = ", ".join(entry.get("fields", []))
                    self.stdout.write(f"    {entry['app_label']}.{entry['model']}: {fields}")
                continue
            self.stdout.write(self.style.ERROR(f"{peer}: FAILED ({url}): {problem}"))
            failed.append(peer)
        if failed:
            raise CommandError(f"{len(failed)} peer(s) failed the check: {', '.join(failed)}.")

    def _events_problem(self, peer: str) -> str | None:
        """Return why ``peer`` cannot take this server's deletion events, or ``None``."""
        try:
            peers.check_events(peer)
        except ProtocolError as error:
            status = getattr(error, "status", None)
            if status == 404:
                return (
                    "its events endpoint answers 404: it will never receive this server's "
                    "deletion events, so its rows pointing at our deleted objects stay. "
                    "The peer must mount all of federated_relations.urls "
                    '(path("federation/", include("federated_relations.urls"))) at the URL '
                    f"in FEDERATION['PEERS'][{peer!r}]['URL']. {error}"
                )
            if status == 501:
                return f"it does not accept deletion events (501). {error}"
            return f"its events endpoint does not follow the protocol: {error}"
        except FederationError as error:
            return f"discovery worked, but its events endpoint failed: {error}"
        return None
