"""Operations: Prometheus metrics, the health verdict, structured logs, correlation ids."""

from terminal.ops.correlation import CorrelationTracker, current_correlation, use_correlation
from terminal.ops.health import HealthPolicy, HealthReport, evaluate
from terminal.ops.logs import JsonFormatter, LogHandles, SecretScrubber, configure_logging, scrub
from terminal.ops.service import Ops, OpsConfig

__all__ = [
    "CorrelationTracker",
    "HealthPolicy",
    "HealthReport",
    "JsonFormatter",
    "LogHandles",
    "Ops",
    "OpsConfig",
    "SecretScrubber",
    "configure_logging",
    "current_correlation",
    "evaluate",
    "scrub",
    "use_correlation",
]
