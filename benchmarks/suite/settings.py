"""How long each measurement runs, per mode of ``run.py``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """Timing of one run of the suite."""

    mode: str
    warmup: float
    """Seconds of traffic before the window opens (connection set-up, slow start)."""
    duration: float
    """Seconds in the measured window."""
    repeats: int
    """Measurements per figure; the figure is their median."""
    start_timeout: float = 20.0
    """Seconds a server gets to print its port (imports are slow on a busy machine)."""

    def client_timeout(self) -> float:
        """Seconds a client gets before it counts as hung and is killed."""
        return self.warmup + self.duration + 20.0


MODES: dict[str, Settings] = {
    "smoke": Settings("smoke", warmup=0.1, duration=0.3, repeats=1),
    "quick": Settings("quick", warmup=0.4, duration=2.0, repeats=1),
    "full": Settings("full", warmup=1.0, duration=3.0, repeats=3),
}
