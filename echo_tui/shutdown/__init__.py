"""Stopping cleanly: stop signals and the events their handlers set, and the
backstop that bounds how long stopping may take."""
