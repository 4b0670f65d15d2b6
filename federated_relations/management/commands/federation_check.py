"""``manage.py federation_check``: is each peer reachable, does it accept our signature?"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import resolver
from ...conf import federated_settings
from ...exceptions import FederationError, PeerAuthError, PeerUnavailable, ProtocolError

__all__ = ["Command"]


class Command(BaseCommand):
    """Ask every peer (or the named ones) for its discovery document, and report."""

    help = (
        "Check each peer of FEDERATION['PEERS']: reachable, signature accepted, and the "
        "types it exposes. Exits with an error if any peer fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("peers", nargs="*", metavar="PEER", help="Peers to check (all).")

    def handle(self, *args: Any, **options: Any) -> None:
        configured = federated_settings.PEERS
        peers = options["peers"] or sorted(configured)
        if not peers:
            self.stdout.write("No peers are configured in FEDERATION['PEERS'].")
            return
        failed = []
        for peer in peers:
            if peer not in configured:
                self.stdout.write(self.style.ERROR(f"{peer}: not in FEDERATION['PEERS']"))
                failed.append(peer)
                continue
            url = configured[peer]["URL"]
            try:
                discovery = resolver.discover(peer, fresh=True)
            except PeerAuthError as error:
                problem = f"reachable, but our signature was refused: {error}"
            except PeerUnavailable as error:
                problem = f"unreachable: {error}"
            except ProtocolError as error:
                problem = f"reachable, but its answer does not follow the protocol: {error}"
            except FederationError as error:
                problem = str(error)
            else:
                types = discovery.get("types", [])
                self.stdout.write(self.style.SUCCESS(
                    f"{peer}: OK ({url}): reachable, signature accepted, protocol "
                    f"{discovery.get('protocol')}, max batch {discovery.get('max_batch')}, "
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
