"""Refuse references that could never resolve, before they are stored.

A reference names a project, a type and a pk. Three mistakes make one that no read will
ever resolve, and each is refused with ``InvalidTarget`` (a ``ValueError``):

* the project is not a peer of ``PEERS``, nor this server, nor ``"shared"``
  (``check_project``, which ``remote()`` calls: no request, settings only);
* the type resolves locally but no such model is installed (``"catalog.Bok"``);
* the peer's discovery document does not list the type (``auth.User`` where only
  ``catalog.Book`` is exposed).

The last needs the peer's discovery, which the shared client asks at most once per peer
per process. When the peer cannot be asked (down, refusing our signature, answering
garbage), the reference is accepted and a warning is logged: a write never fails because
a peer is down. Rows already stored that name a since-removed peer are never checked here;
reading them gives placeholders.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models

from . import peers
from .conf import SHARED_PROJECT, federated_settings
from .exceptions import FederationError, InvalidTarget

if TYPE_CHECKING:
    from .models import GenericContentType

__all__ = ["check_project", "check_targets", "check_type"]

logger = logging.getLogger("federated_relations")


def check_project(project: str, what: str = "") -> None:
    """Refuse a project that is neither a peer of ``PEERS``, this server nor ``"shared"``.

    ``what`` names the reference in the message (``"catalog.Book 5"``).
    """
    peers = federated_settings.PEERS
    this = federated_settings.PROJECT_NAME
    if project in peers or project in (this, SHARED_PROJECT):
        return
    known = ", ".join(repr(name) for name in sorted(peers)) or "none"
    subject = f"a reference to {what} on {project!r}" if what else f"a reference to {project!r}"
    raise InvalidTarget(
        f"No peer named {project!r}: {subject} could never be resolved. Known peers "
        f"(FEDERATION['PEERS']): {known}; this server is {this!r} and {SHARED_PROJECT!r} "
        f"names the tables every server has.{_did_you_mean(project, [*peers, this])}"
    )


def check_type(content_type: GenericContentType) -> None:
    """Refuse a type that no server of the federation can resolve (see the module doc).

    The peer's discovery is asked once per process; when it cannot be asked, a warning is
    logged and the type is accepted.
    """
    label = f"{content_type.app_label}.{content_type.model}"
    check_project(content_type.project, label)
    if content_type.resolves_locally:
        if content_type.model_class() is None:
            where = (
                "the shared tables" if content_type.is_shared
                else f"this server ({content_type.project!r})"
            )
            installed = [m._meta.label_lower for m in apps.get_models()]
            raise InvalidTarget(
                f"No model {label} is installed on {where}: a reference to it could never "
                f"be resolved.{_did_you_mean(label, installed)}"
            )
        return
    peer = content_type.project
    try:
        discovery = peers.discover(peer)
    except FederationError as error:
        logger.warning(
            "Could not check that peer %r exposes %s, so the reference is stored "
            "unchecked: %s", peer, label, error,
        )
        return
    exposed = sorted(f"{t['app_label']}.{t['model']}" for t in discovery["types"])
    if label not in exposed:
        raise InvalidTarget(
            f"Peer {peer!r} does not expose {label}: a reference to it could never be "
            f"resolved. It exposes: {', '.join(exposed) or 'nothing'} (the peer's "
            f"FEDERATION['EXPOSE']).{_did_you_mean(label, exposed)}"
        )


def check_targets(objs: Iterable[Any]) -> None:
    """Refuse the first remote object of ``objs`` whose type cannot resolve.

    Model instances are always valid targets; each remote type is checked once.
    """
    seen: set[tuple[str, str, str]] = set()
    for obj in objs:
        if isinstance(obj, models.Model):
            continue
        content_type = getattr(obj, "content_type", None)
        natural_key = getattr(content_type, "natural_key", None)
        if content_type is None or natural_key is None:
            continue  # not a reference at all: the caller's own TypeError says so
        key = natural_key()
        if key not in seen:
            seen.add(key)
            check_type(content_type)


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    return f" Did you mean {by_lower[close[0]]!r}?" if close else ""
