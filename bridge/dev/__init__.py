"""Tools for running the bridge on a laptop: `bridge dev`, `bridge simulate`, an embedded Redis."""
