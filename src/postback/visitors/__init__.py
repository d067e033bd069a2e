"""What a click tells about its visitor, offline and in the process: where (geo.py), on
what device and whether it is a bot (agents.py), put together with caches per address
and per User-Agent (profiler.py)."""
