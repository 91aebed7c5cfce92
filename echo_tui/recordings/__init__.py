"""Recordings: the record format (shared with the viewer protocol), the recorder,
the timeline read back from a file, and playback in the dashboard."""
