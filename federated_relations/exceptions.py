"""The ``FederationError`` tree: every failure to reach or trust a peer is one of these."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist

__all__ = [
    "FederationError",
    "PeerUnavailable",
    "PeerAuthError",
    "ProtocolError",
    "RemoteObjectDoesNotExist",
]


class FederationError(Exception):
    """Base class of every error raised while talking to a peer."""


class PeerUnavailable(FederationError):
    """The peer could not be asked: not configured, refused, timed out or circuit open."""


class PeerAuthError(FederationError):
    """The peer refused our signature (401/403)."""


class ProtocolError(FederationError):
    """The peer answered something that does not follow the protocol."""


class RemoteObjectDoesNotExist(FederationError, ObjectDoesNotExist):
    """The peer answered that the object does not exist.

    It is also an ``ObjectDoesNotExist`` so code written for local objects catches it.
    """
