"""The browser chat (Gradio): a thin adapter over ``qa.Assistant`` and ``ingest``.

from qa.ui import build, launch
launch(build(assistant), settings)      # what `python -m qa chat` does (serve)
"""

from .app import build, launch, serve

__all__ = ["build", "launch", "serve"]
