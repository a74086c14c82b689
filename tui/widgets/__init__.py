"""The console's panels: small widgets that render plain state objects."""
