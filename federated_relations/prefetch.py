"""``FederatedPrefetch``: one queryset per local target model, like ``GenericPrefetch``."""

from __future__ import annotations

from django.contrib.contenttypes.prefetch import GenericPrefetch

__all__ = ["FederatedPrefetch"]


class FederatedPrefetch(GenericPrefetch):
    """Prefetch a federated relation with a custom queryset for each local target model.

    ``FederatedPrefetch("content_object", [Book.objects.only("title"), Author.objects.all()])``.
    Remote targets are always fetched from their peers.
    """
