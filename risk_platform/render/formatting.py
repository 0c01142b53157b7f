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


def sig4(value: float | None) -> str:
    """A figure as people read it: 4 significant figures, thousands separated, no exponent between 1e-4 and
    1e15, trailing zeros dropped; ``n/a`` for None or NaN (``0.012345 -> 0.01235``, ``1234567 -> 1,235,000``)."""
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    rounded = float(f"{float(value):.4g}")
    if rounded == 0:
        return "0"
    if not 1e-4 <= abs(rounded) < 1e15:
        return f"{rounded:.4g}"
    decimals = max(0, 3 - math.floor(math.log10(abs(rounded))))
    text = f"{rounded:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
