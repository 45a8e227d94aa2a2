"""Small sample recordings with labels (sources and licenses in README.md)."""
