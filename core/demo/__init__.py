"""The demo workspace: deterministic telemetry, monitor specs and the truth of what was planted.

``watchkeeper demo`` opens a workspace a new user can explore without any data of their
own, and the tests of every later analysis use the same workspace as ground truth: the
manifest says which drift, incident, concept change and challenger weakness were planted,
where and how large, so an analysis can be checked against it.

Modules: ``workspace`` (the build steps, staging, reuse, Parquet export), ``recipe`` (the
calendar, seeds and shared draws), ``fraud`` and ``churn`` (the two models' telemetry),
``specs`` (their monitor specs), ``registry`` (the MLflow registry of the portfolio) and
``governance`` (the signed governance history). This module is the API the command line,
the benchmarks and the tests use; a test that swaps build steps patches ``workspace``,
which owns them.
"""

from __future__ import annotations

from watchkeeper.core.demo.recipe import AS_OF, DAYS, SEED, START, table_digest
from watchkeeper.core.demo.workspace import (
    BUILD_STEPS,
    DEFAULT_EVENTS_PER_DAY,
    MODELS,
    RECIPE_VERSION,
    BuildStep,
    DemoParams,
    DemoWorkspace,
    ensure_workspace,
    generate_events,
    model_columns,
    read_manifest,
    write_parquet,
)

__all__ = [
    "AS_OF",
    "BUILD_STEPS",
    "DAYS",
    "DEFAULT_EVENTS_PER_DAY",
    "MODELS",
    "RECIPE_VERSION",
    "SEED",
    "START",
    "BuildStep",
    "DemoParams",
    "DemoWorkspace",
    "ensure_workspace",
    "generate_events",
    "model_columns",
    "read_manifest",
    "table_digest",
    "write_parquet",
]
