"""A local ACE IoT API simulator: a real HTTP server serving a deterministic building.

Use ``ace_simulator.server.start_simulator(...)`` from Python, ``vitals simulate`` or
``python -m ace_simulator`` from a shell, and ``ace_simulator.building`` for the
samples a window holds (to compare with what a client stored).
"""

from ace_simulator.building import Building, BuildingConfig, expected_samples
from ace_simulator.server import SimulatorHandle, start_simulator

__all__ = ["Building", "BuildingConfig", "SimulatorHandle", "expected_samples", "start_simulator"]
