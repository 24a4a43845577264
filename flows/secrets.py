"""Reading Prefect Secret blocks for channel URLs (`{{ prefect.blocks.secret.NAME }}` in the config).

Only flows/ imports Prefect; newswatch.config gets this function and calls it at load.
"""

from __future__ import annotations


def read_prefect_secret(name: str) -> str:
    """The value of the Prefect Secret block `name` (from the Prefect API the process talks to)."""
    from prefect.blocks.system import Secret

    value = Secret.load(name).get()
    if not isinstance(value, str):
        raise TypeError(f"the Secret block {name!r} does not hold a string")
    return value
