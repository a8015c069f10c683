"""Which version a run saves under and which stored version it reads. No Kedro.

A version is a UTC time to the millisecond, in the form Kedro gives its versions
(`2026-11-29T05.16.48.533Z`), so versions sort by time. A run takes its own once it holds
the project's lock, so it is later than the version of every run that held the lock
before, even one that started later. A run that reads datasets of a stored run (a model,
its split, history, metrics and record) reads them all at one version, so none comes from
another run.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

VERSION_FORMAT = "%Y-%m-%dT%H.%M.%S.%f"
# The version of the run a process is one step of, when an orchestrator (an Airflow DAG run)
# runs each step as a `kedro run` of its own: every step saves and reads that run's version.
ORCHESTRATED_RUN = "MULTIMODAL_FUSION_RUN"


class VersionError(ValueError):
    """The stored datasets a run reads have no version in common that it can read."""


def run_version() -> str:
    """Now, as a version."""
    return as_version(datetime.now(tz=UTC))


def as_version(moment: datetime) -> str:
    """A moment (timezone-aware) as a version."""
    return moment.astimezone(UTC).strftime(VERSION_FORMAT)[:-3] + "Z"


def orchestrated_version() -> str | None:
    """The version of the orchestrated run this process is a step of; None for a run of
    its own."""
    version = os.environ.get(ORCHESTRATED_RUN)
    if version is None:
        return None
    try:
        version_time(version)
    except ValueError:
        raise VersionError(
            f"{ORCHESTRATED_RUN}={version!r} is not a version: set it to the time of the run "
            "this is a step of, such as 2026-11-29T05.16.48.533Z, the same for every step "
            "of that run") from None
    return version


def version_time(version: str) -> float:
    """The POSIX time a version stands for."""
    return datetime.strptime(version.removesuffix("Z"), VERSION_FORMAT).replace(
        tzinfo=UTC).timestamp()


def stored_run_version(stored: dict[str, set[str]], named: dict[str, str]) -> str | None:
    """The one version to read every stored dataset at.

    Args:
        stored: each dataset the run reads but does not write, with its stored versions.
        named: the versions `--load-versions` names, by dataset.

    Returns:
        The version named for any of them, else the newest that every one of them has;
        None when they have none in common (nothing stored yet: loading will say so).
    """
    chosen = {version for name, version in named.items() if name in stored}
    if len(chosen) > 1:
        raise VersionError(f"--load-versions names {', '.join(sorted(chosen))} for datasets "
                           "of one stored run; name one version (the model's)")
    if chosen:
        (version,) = chosen
        lacking = sorted(name for name, versions in stored.items() if version not in versions)
        if lacking:
            raise VersionError(
                f"{', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no version "
                f"{version}, which --load-versions names: this run reads "
                f"{', '.join(sorted(stored))} of one stored run. Choose a version that "
                "`kedro run --pipelines=train` saved in full")
        return version
    common = set.intersection(*stored.values()) if stored else set()
    return max(common) if common else None
