"""Models of the ``FederatedManyToManyField`` tests (and of the gm2m parity tests)."""
