"""The Textual dashboard over the engine."""
