"""Model: fitting, explanations, the champion decision, business value, scoring and MLflow tracking."""
