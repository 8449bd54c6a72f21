"""What people use: the web app with its JSON API, and the `medialens` command."""
