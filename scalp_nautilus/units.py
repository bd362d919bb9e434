"""Time units: Nautilus stamps everything in integer nanoseconds since the UNIX epoch."""

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
