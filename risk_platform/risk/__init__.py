"""Risk maths: position revaluation, VaR / ES (historical and parametric), Euler contributions."""
