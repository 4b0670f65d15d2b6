"""Tests of the two-server demo (example_project and remote_project)."""
