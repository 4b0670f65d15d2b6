"""Models a test server exposes to its peers (``FEDERATION["EXPOSE"]``), and test transports."""
