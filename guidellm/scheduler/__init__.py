"""Scheduling: strategies, profiles, the Scheduler and its RequestsWorkers."""

from guidellm.scheduler.strategy import (
    BenchmarkOutcome,
    Profile,
    SchedulingStrategy,
    StrategyProfile,
)

__all__ = ["BenchmarkOutcome", "Profile", "SchedulingStrategy", "StrategyProfile"]
