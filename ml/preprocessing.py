"""Feature preprocessing shared by every tuned classifier: a scikit-learn transformer that imputes
numbers (with missing-indicator columns), one-hot encodes low-cardinality categoricals and target-encodes
high-cardinality ones (cross-fitted, so a row's own label never feeds its encoding during training)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler, TargetEncoder
from sklearn.utils.validation import check_is_fitted

__all__ = ["CustomerFeaturePreprocessor"]

_MISSING_CATEGORY = "__missing__"


def _writable_float_copy(X) -> np.ndarray:
    return np.array(X, dtype=float, copy=True)


class CustomerFeaturePreprocessor(TransformerMixin, BaseEstimator):
    """Numbers imputed by median plus indicators; categoricals one-hot or target encoded by cardinality.

    Parameters
    ----------
    max_onehot_categories : int, default=12
        A categorical with at most this many distinct values (seen in fit) is one-hot encoded; above it,
        target encoded.
    random_state : int or None, default=None
        Seeds the target encoder's cross-fitting folds and the iterative imputer.
    imputation : {"median", "knn", "iterative"}, default="median"
        How missing numbers are filled; every choice adds missing-indicator columns. "knn" uses the 5 nearest
        rows on standardized features (KNNImputer), "iterative" models each feature from the others
        (IterativeImputer, 10 rounds). Median is the default because bench-models measured no gain from the
        others for the tree models on the real datasets (see benchmarks/RESULTS.md).
    """

    IMPUTATIONS = ("median", "knn", "iterative")

    def __init__(self, *, max_onehot_categories=12, random_state=None, imputation="median"):
        self.max_onehot_categories = max_onehot_categories
        self.random_state = random_state
        self.imputation = imputation

    def _numeric_imputer(self):
        # keep_empty_features: a feature all-null in one training window must not shift the columns
        if self.imputation == "median":
            return SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
        if self.imputation == "knn":
            return make_pipeline(StandardScaler(), KNNImputer(n_neighbors=5, add_indicator=True, keep_empty_features=True))
        if self.imputation == "iterative":
            from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (registers IterativeImputer)
            from sklearn.impute import IterativeImputer

            # a writable copy first: IterativeImputer writes into its input, and pandas 3 hands out read-only arrays
            return make_pipeline(
                FunctionTransformer(_writable_float_copy, feature_names_out="one-to-one"),
                IterativeImputer(max_iter=10, add_indicator=True, keep_empty_features=True, random_state=self.random_state),
            )
        raise ValueError(f"imputation must be one of {', '.join(self.IMPUTATIONS)}, got {self.imputation!r}")

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
            transformers.append(("numeric", self._numeric_imputer(), numeric))
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
