"""What the user watches while a run is going: a live rich panel on a terminal, or one line
per finished scenario otherwise. rich is imported only when a display is opened.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from readiness.engine.progress import Progress

REFRESH_PER_SECOND = 4
_DASH = "—"


class Display(Protocol):
    """Where the CLI sends progress: entered around the run, fed by the engine's sink."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def update(self, progress: Progress) -> None: ...

    def scenario_done(self, line: str) -> None: ...


class LiveDisplay:
    """A live panel of the current scenario, redrawn about four times a second.

    `update` only stores the snapshot: the panel is built in rich's refresh thread, so the
    engine's event loop never pays for rendering.
    """

    def __init__(self, console: Console | None = None) -> None:
        self._console = console
        self._live: Live | None = None
        # the latest snapshot per target: a fleet run side by side shows a panel each
        self._progress: dict[str, Progress] = {}

    def __repr__(self) -> str:
        state = "open" if self._live is not None else "closed"
        showing = ", ".join(p.scenario for p in self._progress.values()) or None
        return f"<LiveDisplay [{state}, showing {showing!r}]>"

    def __enter__(self) -> Self:
        from rich.live import Live

        self._live = Live(
            console=self._console,
            get_renderable=self._renderable,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def update(self, progress: Progress) -> None:
        # A new dict, not a change to the one rich's refresh thread may be reading.
        self._progress = {**self._progress, progress.target: progress}

    def scenario_done(self, line: str) -> None:
        """Print a line that stays above the panel; the finished scenario's panel goes away."""
        # Every panel goes; the targets still running redraw theirs with their next snapshot.
        self._progress = {}
        if self._live is not None:
            self._live.console.print(line, markup=False, highlight=False, soft_wrap=True)
            self._live.refresh()

    def _renderable(self) -> RenderableType:
        shown = list(self._progress.values())
        if not shown:
            from rich.text import Text

            return Text("")
        if len(shown) == 1:
            return render_progress(shown[0])
        from rich.console import Group

        return Group(*map(render_progress, shown))


class LineDisplay:
    """For `--quiet` or when stdout is not a terminal: nothing per tick, a line per scenario."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console

    def __repr__(self) -> str:
        return "<LineDisplay>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def update(self, progress: Progress) -> None:
        return None

    def scenario_done(self, line: str) -> None:
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False)
        self._console.print(line, markup=False, highlight=False, soft_wrap=True)


def choose_display(quiet: bool) -> Display:
    """A live panel on an interactive terminal, unless asked to be quiet."""
    if quiet or not sys.stdout.isatty():
        return LineDisplay()
    return LiveDisplay()


def fraction_done(progress: Progress) -> float | None:
    """Progress by planned duration, else by planned request count; None when unknown."""
    if progress.planned_s:
        done = progress.elapsed_s / progress.planned_s
    elif progress.planned_requests:
        done = progress.sent / progress.planned_requests
    else:
        return None
    return min(max(done, 0.0), 1.0)


def render_progress(progress: Progress) -> RenderableType:
    """The panel for one snapshot (also used by tests, through the display)."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    title = Text.assemble(
        (progress.scenario, "bold"),
        f" · {progress.kind} · target {progress.target} · ",
        (progress.phase, "cyan"),
    )
    done = fraction_done(progress)
    bar = Table.grid(padding=(0, 1))
    bar.add_column(ratio=1)
    bar.add_column(justify="right", no_wrap=True)
    planned = f" / {progress.planned_s:.0f} s" if progress.planned_s else ""
    bar.add_row(
        ProgressBar(total=1.0 if done is not None else None, completed=done or 0.0),
        f"{'' if done is None else f'{done:4.0%} '}{progress.elapsed_s:.1f} s{planned}",
    )

    figures = Table.grid(padding=(0, 2))
    labels = ("sent", "ok", "errors", "in flight", "req/s", "p50 ms", "p99 ms")
    for _ in labels:
        figures.add_column(justify="right", no_wrap=True)
    figures.add_row(*(Text(label, style="dim") for label in labels))
    figures.add_row(
        f"{progress.sent:,}",
        f"{progress.ok:,}",
        Text(f"{progress.errors:,}", style="red" if progress.errors else ""),
        f"{progress.in_flight:,}",
        f"{progress.rps:,.1f}",
        _ms(progress.p50_ms),
        _ms(progress.p99_ms),
    )
    return Group(title, bar, figures)


def _ms(value: float | None) -> str:
    if value is None:
        return _DASH
    return f"{value:.2f}" if value < 100 else f"{value:,.1f}"
