"""Transports: how bytes and datagrams move (TCP, UDP, TLS, QUIC); never imports the API layer."""
