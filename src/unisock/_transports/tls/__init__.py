"""TLS: our TLS layer over any stream transport, its configuration and its names."""
