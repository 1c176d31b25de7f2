"""The benchmark and its data generator: tools beside the app, never imported by it."""
