"""Build the model a profile names. Backends are imported lazily: nothing here imports torch."""

from __future__ import annotations

import importlib

from rioagent.config import ModelProfile
from rioagent.models.base import Model, ModelError


async def create_model(profile: ModelProfile, *, thinking: bool = True) -> Model:
    """endpoint -> EndpointModel; demo -> a llama.cpp server started for this session; local -> in-process."""
    if profile.backend == "endpoint":
        from rioagent.models.endpoint import EndpointModel

        return EndpointModel(profile, thinking=thinking)
    if profile.backend == "demo":
        from rioagent.models.demo import start_demo_model

        return await start_demo_model(profile, thinking=thinking)
    if profile.backend == "local":
        try:
            local = importlib.import_module("rioagent.models.local")
        except ModuleNotFoundError as exc:
            if exc.name != "rioagent.models.local":
                raise ModelError(
                    f"the in-process engine needs {exc.name}; run: pip install 'rioagent[local]'"
                ) from exc
            raise ModelError(
                "the in-process engine is not installed in this build yet; use an endpoint"
            ) from exc
        return await local.create_local_model(profile, thinking=thinking)
    raise ModelError(f"unknown backend {profile.backend!r}; use endpoint, demo or local")
