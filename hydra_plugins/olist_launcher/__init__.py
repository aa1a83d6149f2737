"""Hydra launcher plugins of olist-pipeline (Hydra finds launchers in the `hydra_plugins` namespace)."""
