"""Signals of federated_relations (Signal objects only; receivers live with their logic)."""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["deleting", "remote_deleted", "peer_request"]

#: Sent by the ``*_SIGNAL`` deletion handlers of a ``FederatedManyToManyField``.
#: ``sender`` is the field; receivers get ``del_objs`` (the objects being deleted) and
#: ``rel_objs`` (the related objects). With ``CASCADE_SIGNAL_VETO`` a truthy return
#: value of any receiver vetoes the cascade.
deleting = Signal()

#: Sent once when a peer reports that a referenced remote object no longer exists.
#: ``sender`` is the ``GenericContentType``; receivers get ``pk`` (a string).
remote_deleted = Signal()

#: Sent after every HTTP request to a peer. ``sender`` is the client class; receivers get
#: ``peer`` (the project name), ``method``, ``path`` and ``status`` (``None`` when no
#: answer came). ``federated_relations.test.assert_num_requests`` counts these.
peer_request = Signal()
