"""Primitives with no event loop in them: Deferred, addresses, records, frozen options."""
