"""The ``FederationError`` tree: every failure to reach or trust a peer is one of these.

``InvalidTarget`` stands apart: it refuses a value (a reference that could never resolve)
before anything is stored, so no ``ON_REMOTE_ERROR`` handling ever turns it into a
placeholder.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist

__all__ = [
    "FederationError",
    "InvalidTarget",
    "PeerUnavailable",
    "PeerAuthError",
    "ProtocolError",
    "RemoteObjectDoesNotExist",
]


class FederationError(Exception):
    """Base class of every error raised while talking to a peer."""


class PeerUnavailable(FederationError):
    """The peer could not be asked: not configured, refused, timed out or circuit open.

    The message names the peer, the URL and the cause in words.
    """


class PeerAuthError(FederationError):
    """The peer refused our signature (401/403); the message hints at what to fix."""


class ProtocolError(FederationError):
    """The peer answered something that does not follow the protocol."""


class RemoteObjectDoesNotExist(FederationError, ObjectDoesNotExist):
    """The peer answered that the object does not exist.

    It is also an ``ObjectDoesNotExist`` so code written for local objects catches it.
    """


class InvalidTarget(ValueError):
    """A reference names a peer, model or type that no server could ever resolve.

    Raised by ``remote()`` (unknown peer) and by the many-to-many managers' ``add()`` and
    ``set()`` (also a model that is not installed, or a type the peer does not expose).
    """
