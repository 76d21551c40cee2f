"""Movie and TV recommender: data pipeline, Spark ALS training and model artifacts."""

__version__ = "0.1.0"
