"""Integration tests: real peer servers on 127.0.0.1, started and stopped by the fixtures."""
