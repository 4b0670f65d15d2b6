"""The books sold by Hilltop Books, and its staff picks of books of either shop.

``FEDERATION["EXPOSE"]`` shares a book's title, author and price with the peers. A
``Recommendation`` points with a ``FederatedForeignKey`` at one of this shop's books or at
a book of the peer ``shop_a`` (read through the federation).
"""

from django.db import models

from federated_relations.fields import FederatedForeignKey
from federated_relations.models import GenericContentType


class Book(models.Model):
    """A book on sale in this shop."""

    title = models.CharField(max_length=200)
    author = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=7, decimal_places=2)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Recommendation(models.Model):
    """A staff pick: a book of this shop or of another shop of the federation."""

    content_type = models.ForeignKey(GenericContentType, models.CASCADE, related_name="+")
    object_id = models.CharField(max_length=64)
    book = FederatedForeignKey()
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id"], name="recommendation_unique_book"
            )
        ]

    def __str__(self) -> str:
        return f"staff pick {self.content_type} #{self.object_id}"
