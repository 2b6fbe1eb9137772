"""Scoring a trained run on a record split (``evaluator.evaluate``), the library of the evaluate binary."""
