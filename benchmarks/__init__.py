"""Benchmarks of federated_relations (not part of the test suite)."""
