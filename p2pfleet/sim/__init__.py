"""Fleet-scale discrete-event simulation on the same core logic as the live network.

Sans-IO: no trio, no libp2p, no sockets. `run_simulation(SimConfig(...))`
returns a `SimReport`; `p2pfleet simulate` is the command-line front end and
docs/simulator.md states the model's assumptions.
"""

from p2pfleet.sim.byzantine import Behaviour
from p2pfleet.sim.config import SimConfig
from p2pfleet.sim.engine import Simulation, run_simulation
from p2pfleet.sim.report import SimReport

__all__ = ["Behaviour", "SimConfig", "SimReport", "Simulation", "run_simulation"]
