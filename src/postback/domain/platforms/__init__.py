"""Sales platforms that post their sales to us, one module each: its `TEMPLATE`."""
