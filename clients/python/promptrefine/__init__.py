"""PromptRefine client: cached, ETag-revalidated prompts (see ``client``)."""

from .client import AsyncClient, Client, Prompt, PromptRefineError, Unavailable
from .template import MissingVariables, RenderedTooLarge, RenderError, render, variables

__all__ = [
    "AsyncClient",
    "Client",
    "MissingVariables",
    "Prompt",
    "PromptRefineError",
    "RenderError",
    "RenderedTooLarge",
    "Unavailable",
    "render",
    "variables",
]
