"""Benchmarks of the platform (figures, not pass/fail): ``python -m bench`` / ``python -m bench --models``
(``make bench`` runs both). Not part of the installed package: run them from the checkout."""
