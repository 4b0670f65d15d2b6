"""The demo shop's commands: seeding and linking to the peer."""
