"""The feature replay: a catalog's book and trades through the strategy's `BookSnapshotBuilder` and
`FeaturePipeline` without the engine, rows to the `FeatureRecorder` (`scalp-nautilus features`)."""
