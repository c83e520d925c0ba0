"""Build the model a profile names, with the thinking policy applied. Backends are imported lazily:
nothing here imports torch."""

from __future__ import annotations

import importlib

from rioagent.config import ModelProfile
from rioagent.models.base import Model, ModelError

THINK_POLICIES = ("on", "off", "swi", "auto")


async def create_model(profile: ModelProfile, *, thinking: bool = True, think: str | None = None) -> Model:
    """endpoint -> EndpointModel; demo -> a llama.cpp server started for this session; local -> in-process.

    `think`: on (plain thinking), off, swi (SwiReasoning in the in-process engine), auto (swi where the
    backend allows it, the endpoint approximation otherwise). Without it, `thinking` picks on or off."""
    think = think or ("on" if thinking else "off")
    if think not in THINK_POLICIES:
        raise ModelError(f"unknown thinking policy {think!r}; use one of {', '.join(THINK_POLICIES)}")
    thinking = think != "off"
    if profile.backend == "local":
        try:
            local = importlib.import_module("rioagent.models.local")
            importlib.import_module("torch")
            importlib.import_module("transformers")
        except ModuleNotFoundError as exc:
            if exc.name == "rioagent.models.local":
                raise ModelError(
                    "the in-process engine is not installed in this build; use an endpoint"
                ) from exc
            raise ModelError(
                f"the in-process engine needs {exc.name}; run: pip install 'rioagent[local]'"
            ) from exc
        return await local.create_local_model(profile, thinking=thinking, think=think)
    if think == "swi":
        raise ModelError(
            "--think swi needs the in-process engine (--local PATH): a remote server cannot be fed latent "
            "thoughts; use --think auto for the endpoint approximation"
        )
    if profile.backend == "endpoint":
        from rioagent.models.endpoint import EndpointModel

        model: Model = EndpointModel(profile, thinking=thinking)
    elif profile.backend == "demo":
        from rioagent.models.demo import start_demo_model

        model = await start_demo_model(profile, thinking=thinking)
    else:
        raise ModelError(f"unknown backend {profile.backend!r}; use endpoint, demo or local")
    if think == "auto":
        from rioagent.reasoning.endpoint_swi import SwiEndpointModel
        from rioagent.reasoning.swireasoning import SwiConfig

        render = None
        if profile.backend == "demo":  # llama.cpp cannot continue a message: resume on /v1/completions
            from rioagent.models.gguf_template import gguf_prompt_renderer

            try:
                render = gguf_prompt_renderer(model.server.gguf, thinking=thinking)  # type: ignore[attr-defined]
            except BaseException:
                await model.aclose()  # the server it started goes with it
                raise
        config = SwiConfig(max_new_tokens=max(1, profile.max_output_tokens))
        model = SwiEndpointModel(model, config=config, render_prompt=render)  # type: ignore[arg-type]
    return model
