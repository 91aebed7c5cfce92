"""Modal screens: confirmation, help, selector chooser."""
