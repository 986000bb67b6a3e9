"""The Gradio chat app (the only package that imports gradio): `start(bot, host=..., port=...)` serves it."""

from __future__ import annotations

import os

# Before gradio is imported: no usage analytics or version checks, so no request leaves this machine.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from paperbot.app.server import RunningApp, exposure_warning, parse_auth, start  # noqa: E402
from paperbot.app.ui import AppOptions, build_app  # noqa: E402
from paperbot.app.uploads import UploadLimits  # noqa: E402

__all__ = ["AppOptions", "RunningApp", "UploadLimits", "build_app", "exposure_warning", "parse_auth", "start"]
