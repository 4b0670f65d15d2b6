"""Custom through models for ``FederatedManyToManyField``, used by the demo and the tests."""
