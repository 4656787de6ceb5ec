"""transports/discord."""
