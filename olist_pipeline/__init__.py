"""olist-pipeline: a config-driven MLOps pipeline (Hydra -> ZenML -> MLflow -> scikit-learn).

Kept import-free on purpose: `python -m olist_pipeline --help` must not pay for ZenML or MLflow.
"""

__version__ = "0.1.0"
