"""A Django project that serves the app and its floor side by side for the benchmarks."""
