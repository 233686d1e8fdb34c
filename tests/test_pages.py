"""Memory hygiene hooks: they change no value and run where they are attached."""

from __future__ import annotations

import sys

import torch
from torch import nn

from pifuhd.checkpoint import pages


def test_trim_heap_before_runs_before_each_forward_and_changes_nothing(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(pages, "trim_heap", lambda: calls.append(1) or True)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x = torch.randn(3, 4)
    expected = net(x)
    pages.trim_heap_before(net)
    torch.testing.assert_close(net(x), expected, rtol=0, atol=0)
    net(x)
    assert len(calls) == 2


def test_trim_heap_reports_whether_glibc_is_there() -> None:
    assert pages.trim_heap() is sys.platform.startswith("linux")
