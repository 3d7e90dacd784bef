"""The simulated market: a source whose positions are known."""

# The bars the market can be made at (emit.py writes these archive intervals); 1m by default.
BARS = ("1m", "5m")
