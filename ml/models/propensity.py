"""Purchase propensity: will a customer place at least one purchase order in the next H days?"""

from __future__ import annotations

from ml.models.churn import LIGHTGBM_SEARCH_SPACE, lightgbm_classifier
from ml.models.tuned import TunedCalibratedClassifier

__all__ = ["PropensityClassifier"]


class PropensityClassifier(TunedCalibratedClassifier):
    """Tuned, calibrated LightGBM propensity classifier; parameters as TunedCalibratedClassifier."""

    def _make_estimator(self):
        return lightgbm_classifier(random_state=self.random_state)

    def _search_space(self) -> dict:
        return LIGHTGBM_SEARCH_SPACE
