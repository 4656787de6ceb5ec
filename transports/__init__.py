"""Chat transports: the Transport ABC and the stdout, telegram and discord implementations."""
