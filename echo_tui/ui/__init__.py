"""The Textual dashboard over the engine."""

# Dashboard refreshes per second that `--refresh` and `+`/`-` choose from (importable without
# Textual, for the command line); at least 1 so an engine crash shows within a second.
REFRESH_RATES = (1.0, 2.0, 5.0, 10.0, 20.0)
