"""The local web app (``dgm serve``): Flask, an optional extra; importing dgm never needs it."""
