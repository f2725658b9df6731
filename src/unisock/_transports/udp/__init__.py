"""UDP: the batched datagram endpoint and the per-peer table of a UDP listener."""
