"""The local replay venue: exchange core, capture replay, wire APIs, settings, and the thread that runs it."""
