"""The classical data-assimilation core that every learned method is anchored on (plain arrays, working units).

Below the models and the tasks, above the labeled layer: the background-error
covariance ``B`` and its estimators (:mod:`.covariance`), quality control (:mod:`.qc`),
the classical anchors (:mod:`.anchor`: the OI analysis and the balanced multivariate
analysis, one copy used by inference and by training) and verification (:mod:`.verify`:
folds, withheld-observation cross-validation, the weight of a learned correction, the
observation-space table and Desroziers diagnostics).
"""
