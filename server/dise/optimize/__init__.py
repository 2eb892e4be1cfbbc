"""Phase 2: background optimisation (queue, triggers, experiments, selection, registry update,
resumable state). See ``runner`` for the stages and ``optimizer`` for the background thread."""

from dise.optimize.control import Control
from dise.optimize.experiments import run_variant
from dise.optimize.optimizer import Optimizer
from dise.optimize.runner import OptimizeResult, optimize_node
from dise.optimize.state import NodeBusy, NodeState, load_state
from dise.optimize.triggers import Triggers, next_run
from dise.optimize.variants import Outcome, Variant, plan

__all__ = ["Control", "NodeBusy", "NodeState", "OptimizeResult", "Optimizer", "Outcome",
           "Triggers", "Variant", "load_state", "next_run", "optimize_node", "plan",
           "run_variant"]
