"""Support for the tests and benchmarks (like Nautilus's `test_kit`): where the shared exchange
captures live, replaying them through a Nautilus book and the pipeline, and running a live node
against the replay venue. Nothing in the engine imports it, and it is not part of the installed
package (`tests/` is not in the wheel)."""
