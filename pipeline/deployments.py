"""The deployments declared in prefect.yaml, as Prefect objects to serve from this machine.

prefect.yaml is the one place where deployments, parameters and the annual schedule are
declared: `prefect deploy --all` reads it for a work pool, and `handlingsplan serve`
reads it here to serve the same deployments from a single process.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.config import LOCAL_ZONE, PROJECT_ROOT
from pipeline.errors import HandlingsplanError


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of prefect.yaml: name, flow, parameters and schedules."""

    name: str
    entrypoint: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: tuple[dict[str, Any], ...] = ()
    concurrency_limit: int | None = None
    tags: tuple[str, ...] = ()

    def flow(self) -> Any:
        """Returns the Prefect flow object the entrypoint names."""
        path, _, attribute = self.entrypoint.partition(":")
        module = path.removesuffix(".py").replace("/", ".")
        return getattr(importlib.import_module(module), attribute)


def prefect_file() -> Path:
    """Returns the path of the project's prefect.yaml."""
    return PROJECT_ROOT / "prefect.yaml"


def load_specs(path: Path | None = None) -> list[DeploymentSpec]:
    """Returns the deployments declared in prefect.yaml."""
    source = path or prefect_file()
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise HandlingsplanError(f"{source} kan inte läsas: {exc}") from None
    return [
        DeploymentSpec(
            name=item["name"],
            entrypoint=item["entrypoint"],
            description=item.get("description", ""),
            parameters=dict(item.get("parameters") or {}),
            schedules=tuple(item.get("schedules") or ()),
            concurrency_limit=item.get("concurrency_limit"),
            tags=tuple(item.get("tags") or ()),
        )
        for item in data.get("deployments", [])
    ]


def to_runner_deployments(specs: list[DeploymentSpec]) -> list[Any]:
    """Returns Prefect RunnerDeployments for `prefect.serve`, schedules in their time zones."""
    from prefect.schedules import Cron

    deployments = []
    for spec in specs:
        schedules = [
            Cron(s["cron"], timezone=s.get("timezone", LOCAL_ZONE), active=s.get("active", True))
            for s in spec.schedules
        ]
        deployments.append(
            spec.flow().to_deployment(
                name=spec.name,
                description=spec.description,
                parameters=spec.parameters,
                schedules=schedules or None,
                concurrency_limit=spec.concurrency_limit,
                tags=list(spec.tags),
            )
        )
    return deployments


def serve_from_here(specs: list[DeploymentSpec]) -> None:
    """Serves the deployments from this process, one run at a time, until stopped."""
    from prefect import serve

    serve(*to_runner_deployments(specs), limit=1)
