// The IG-3D joint threshold search (`ig3dc tune`) and its ablation report.

export { loadAt, raise, staticBatch, tune, type TuneOptions, type TuneResult, type Measured, type ConfigCost, type ChosenPoint, type AblationRow, type ImportanceMethodRow, type EvaluationRecord, type Decisions, ABLATION_STEPS, STAGE_NAMES, TABLE6_RATIO } from './tune.ts';
export { formatTuneReport, tuneJson, TUNE_JSON_FORMAT } from './report.ts';
export { serialSearch, type SearchPoint, type SearchStage, type FeasibilityOracle, type TraceEvent, type SearchResult } from './search.ts';
export { type Candidate, applyCandidate, baselineCandidate, candidateAnnotation, candidateKey, candidatePipeline } from './candidate.ts';
export { type Thresholds, type PointCost, type TunePoint, cutPoints, thresholdPipeline } from './space.ts';
export { type DevSet, type LabelledDevSet, type ModelLimits, readDevSet, readLabelledDevSet, modelLimits, checkDevSetFits, checkLabelledDevSetFits, devSetShape, isImageDevSet } from './dev-set.ts';
export { type ImageDevSet, IMAGE_INPUT, checkImageDevSetFits, imageRows, readImageDevSet } from './image-dev-set.ts';
export { AccuracyMeter, accuracyBackend, percent, wrongOf, type AccuracyBackend, type AccuracyCount } from './accuracy.ts';
export { type TuneProgress, progressBar, SILENT } from './progress.ts';
