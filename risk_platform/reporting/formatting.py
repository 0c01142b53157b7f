"""Figures as a person reads them: money with a currency and a magnitude suffix, shares as percentages."""

from __future__ import annotations

import math

_MAGNITUDES = ((1e9, "bn"), (1e6, "m"), (1e3, "k"))


def money(value: float, currency: str = "USD") -> str:
    """``6190471`` -> ``'USD 6.19m'`` (three significant figures, k / m / bn); NaN or None -> ``'n/a'``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    size = abs(value)
    for scale, suffix in _MAGNITUDES:
        if size >= scale * (1 - 5e-4):  # 999,600 reads USD 1.00m, not USD 1000k
            return f"{currency} {sign}{_three_figures(size / scale)}{suffix}"
    return f"{currency} {sign}{size:,.0f}"


def _three_figures(x: float) -> str:
    """Three significant figures, no exponent: 6.19, 61.9, 619, 1.00 (and 12,345 beyond the largest suffix)."""
    return f"{x:,.0f}" if x >= 999.5 else f"{x:#.3g}".rstrip(".")


def percent(value: float, digits: int = 2) -> str:
    """A figure already in percent -> ``'1.24%'``; NaN or None -> ``'n/a'``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}%"


def share(value: float, digits: int = 0) -> str:
    """A fraction -> percent: ``0.62`` -> ``'62%'``; NaN or None -> ``'n/a'``."""
    return percent(None if value is None else 100.0 * value, digits)
