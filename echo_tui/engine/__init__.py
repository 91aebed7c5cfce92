"""The selectors echo server: owns every socket in its own thread; knows nothing of the UI."""
