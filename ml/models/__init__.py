"""Customer classifiers (churn, purchase propensity) and the baselines they are measured against."""
