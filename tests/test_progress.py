"""Progress without a terminal: plain lines on stderr, rate-limited, the last one always."""

import io
import sys

from overlapflow.internal import LineBar, progress_bar


def test_progress_lines_without_a_terminal(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)  # StringIO is not a terminal
    with progress_bar(total=10, desc="runs", unit="ep") as bar:
        for _ in range(10):
            bar.update(1)
    lines = stream.getvalue().splitlines()
    # the first update reports immediately only if the interval passed; the last always does
    assert lines[-1].startswith("runs: 10/10 ep (100%)")
    assert "elapsed" in lines[-1] and "left" in lines[-1]
    assert len(lines) <= 2


def test_progress_lines_every_update_when_the_interval_is_zero():
    stream = io.StringIO()
    bar = LineBar(total=4, desc="chunks", unit="chunk", stream=stream, interval=0.0)
    for _ in range(4):
        bar.update(1)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert [ln.split(" (")[0] for ln in lines] == [f"chunks: {k}/4 chunk" for k in range(1, 5)]
    assert lines[1].endswith("left") and "(50%)" in lines[1]


def test_progress_disabled_prints_nothing(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with progress_bar(total=3, enabled=False) as bar:
        bar.update(3)
    assert stream.getvalue() == ""


def test_long_jobs_are_announced_with_an_estimate(monkeypatch):
    from overlapflow.internal import progress

    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(progress, "WARN_ABOVE_S", 0.0)  # any job counts as long
    with progress_bar(total=1000, desc="sweep chunks", unit="chunk") as bar:
        bar.update(1)
        bar.update(1)
    warnings = [ln for ln in stream.getvalue().splitlines() if ln.startswith("overlapflow:")]
    assert len(warnings) == 1 and "sweep chunks will take about" in warnings[0]
    monkeypatch.setattr(progress, "WARN_ABOVE_S", 1e9)
    stream.truncate(0)
    with progress_bar(total=1000, desc="short") as bar:
        bar.update(1)
    assert "will take" not in stream.getvalue()


def test_a_bar_never_counts_past_its_total(monkeypatch):
    # the epoch loop records E + 1 states for E epochs: the bar counts the E epochs
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with progress_bar(total=10, desc="exact", unit="ep") as bar:
        for n in (4, 4, 3):
            bar.update(n)
        assert bar.n == 10
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith("exact: 10/10 ep (100%)")
    assert not any("11/10" in line for line in lines)


def test_an_epoch_loop_counts_its_epochs(monkeypatch):
    """A 10-epoch run shows 10/10 epochs (not the 11 records, initial state included)."""
    import overlapflow as of

    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    spec = of.NetworkSpec(N=20, rank=1, dt=0.1)
    task = of.make_task("impulse_exp", dt=0.1, t_max=1.0, n_in=1, n_out=1)
    X = of.random_vectors(spec, seed=0)
    of.learn_overlaps(X.T @ X / 20, task, spec, eta=0.01, epochs=10, progress=True)
    last = stream.getvalue().splitlines()[-1]
    assert last.startswith("exact: 10/10 ep (100%)"), last
