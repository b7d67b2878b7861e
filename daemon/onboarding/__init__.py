"""Onboarding: monitor a model that already serves, one mlmaint never trained.

`mlmaint onboard NAME --model-uri models:/NAME@ALIAS ...` reads the registered
version behind the alias, and from it (and from a sample of the prediction log
when given) writes the model's `[[models]]` table: task, source, labels,
schema, a retrain section fit for the model. It appends the table to the
config file after validating the whole file with it, so a table that would
not load is never written.

The reference is recorded for the serving version, the same way a retrain
records one (contracts: version tags `mlmaint.reference_uri` /
`mlmaint.reference_sha256` and the store's `models` row), so
`[models.reference] kind = "snapshot"` serves it now and a rollback to this
version restores it later. It comes from a file (Parquet, CSV), from the
dataset the version's MLflow run logged, or from a fixed first window of
production (`kind = "window"`). A file or dataset reference is typed like every
window (checks.typed), scored by the champion when it holds no predictions
(so the performance baseline and the calibration of scores exist), and
written as a content-hashed Parquet under the state dir.

Every failure is an `OnboardError` naming what is wrong and what to give.

Rooms: `request` (the request, the result, the error), `registered` (what the
MLflow version says), `schema` (features and roles), `reference` (typed, scored,
recorded), `table` (the TOML table, validated), `onboard` (the steps in order),
`cli` (the command).
"""
