"""Custom through models (filled in with ``FederatedManyToManyField``)."""
