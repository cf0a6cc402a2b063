"""The per-second timeline figure that load runs and chaos runs both draw.

Three panels on one time axis: requests, errors, latency, plus any extra panels a caller asks for
(chaos adds an alert lane). Each caller fills the panels with its own series; this module owns
the figure, the latency panel and saving, so the two PNGs read the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

NAN = float("nan")
# One colour per latency quantile, in both figures.
LATENCY_COLOURS = {"p50": "tab:green", "p95": "tab:orange", "p99": "tab:red"}


def timeline_figure(
    title: str, heights: Sequence[float] = (3, 2, 2), figsize: tuple[float, float] = (10, 8)
) -> tuple[Any, list[Any]]:
    """A figure with one row per entry of `heights`, sharing the x axis (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(heights), 1, figsize=figsize, sharex=True, gridspec_kw={"height_ratios": list(heights)}
    )
    fig.suptitle(title)
    return fig, list(axes)


def plot_latency(ax: Any, xs: Sequence[float], series: Mapping[str, Sequence[float | None]]) -> None:
    """One line per quantile (`{"p50": [...], ...}`); a second without data is a gap."""
    for label, values in series.items():
        ys = [v if v is not None else NAN for v in values]
        ax.plot(xs, ys, label=label, color=LATENCY_COLOURS.get(label), marker=".", ms=3)
    ax.set_ylabel("latency ms")
    ax.legend(loc="upper left", fontsize="small")


def save(fig: Any, path: Path, dpi: int = 100) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
