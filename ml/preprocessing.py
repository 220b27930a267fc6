"""Feature preprocessing shared by every tuned classifier: a scikit-learn transformer that imputes
numbers (with missing-indicator columns), one-hot encodes low-cardinality categoricals and target-encodes
high-cardinality ones (cross-fitted, so a row's own label never feeds its encoding during training)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import OneHotEncoder, TargetEncoder
from sklearn.utils.validation import check_is_fitted

__all__ = ["CustomerFeaturePreprocessor"]

_MISSING_CATEGORY = "__missing__"


class CustomerFeaturePreprocessor(TransformerMixin, BaseEstimator):
    """Numbers imputed by median plus indicators; categoricals one-hot or target encoded by cardinality.

    Parameters
    ----------
    max_onehot_categories : int, default=12
        A categorical with at most this many distinct values (seen in fit) is one-hot encoded; above it,
        target encoded.
    random_state : int or None, default=None
        Seeds the target encoder's cross-fitting folds.
    """

    def __init__(self, *, max_onehot_categories=12, random_state=None):
        self.max_onehot_categories = max_onehot_categories
        self.random_state = random_state

    def _build(self, X: pd.DataFrame) -> ColumnTransformer:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame with named columns, got {type(X).__name__}")
        if not isinstance(self.max_onehot_categories, int) or self.max_onehot_categories < 1:
            raise ValueError(f"max_onehot_categories must be an int >= 1, got {self.max_onehot_categories!r}")
        categorical = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        numeric = [c for c in X.columns if c not in categorical]
        low = [c for c in categorical if X[c].nunique(dropna=False) <= self.max_onehot_categories]
        high = [c for c in categorical if c not in low]
        self.numeric_columns_, self.onehot_columns_, self.target_encoded_columns_ = numeric, low, high
        transformers = []
        if numeric:
            # keep_empty_features: a feature all-null in one training window must not shift the columns
            transformers.append(("numeric", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), numeric))
        if low:
            transformers.append(("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False), low))
        if high:
            folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=self.random_state)
            transformers.append(("target", TargetEncoder(target_type="binary", cv=folds), high))
        return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)

    @staticmethod
    def _categoricals_as_text(X: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        if not columns:
            return X
        X = X.copy()
        for column in columns:
            X[column] = X[column].astype("object").where(X[column].notna(), _MISSING_CATEGORY).astype(str)
        return X

    def fit(self, X, y=None):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        """Fit and transform at once; the target encoder cross-fits here, unlike fit().transform()."""
        self.column_transformer_ = self._build(X)
        text = self._categoricals_as_text(X, self.onehot_columns_ + self.target_encoded_columns_)
        if self.target_encoded_columns_ and y is None:
            raise ValueError("y is required to fit the target encoder of columns " + ", ".join(self.target_encoded_columns_))
        transformed = self.column_transformer_.fit_transform(text, None if y is None else np.asarray(y))
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.feature_names_out_ = np.asarray(self.column_transformer_.get_feature_names_out(), dtype=object)
        return np.asarray(transformed, dtype=float)

    def transform(self, X):
        check_is_fitted(self, "column_transformer_")
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame with named columns, got {type(X).__name__}")
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the fitted feature columns {missing}")
        text = self._categoricals_as_text(X[list(self.feature_names_in_)], self.onehot_columns_ + self.target_encoded_columns_)
        return np.asarray(self.column_transformer_.transform(text), dtype=float)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_
