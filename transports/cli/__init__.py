"""transports/cli."""
