"""Django management commands of the sandbox app."""
