"""The closed loop: rules that open cases, priority, deadlines, routing, the recovery protocol.

loop = ws.loop                      # reads loop.yaml and sla.yaml
result, _ = loop.run()              # open cases from new signals; warn, escalate, hand over
loop.step("C0000001", "called_back", actor="lea", details=StepDetails(note="reached"))
"""

from voxloop.loop.config import LoopConfig, load_loop
from voxloop.loop.protocol import ROOT_CAUSE_DOMAINS, STATES, StepDetails
from voxloop.loop.service import ClosedLoop

__all__ = ["ROOT_CAUSE_DOMAINS", "STATES", "ClosedLoop", "LoopConfig", "StepDetails", "load_loop"]
