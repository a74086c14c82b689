"""Modal screens of the console: the one confirm dialog and the help."""
