"""SwiReasoning: the switching controller (pure logic), entropy estimates, and the endpoint approximation.

Nothing here imports torch at import time; rioagent.reasoning.endpoint_swi is imported on demand.
"""

from rioagent.reasoning.entropy import entropy_from_logits, entropy_from_top_logprobs
from rioagent.reasoning.swireasoning import Mode, SwiConfig, SwiController, SwiDecision

__all__ = [
    "Mode",
    "SwiConfig",
    "SwiController",
    "SwiDecision",
    "entropy_from_logits",
    "entropy_from_top_logprobs",
]
