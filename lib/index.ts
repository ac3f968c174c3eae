/**
 * makemore-ts: what a notebook imports. The names the notebooks, the README's
 * examples and a learner's first notebooks use, and every type; the rest of
 * the lib is imported from its own file (e.g. `./lib/experiments/checkpoint`),
 * folders in the order of lib/README.md. A notebook (kernel at the project
 * root) writes `import { Vocab, train } from "./lib/index";` (tslab resolves a
 * folder import only through its index file).
 *
 * @module
 */

// runtime: the TensorFlow.js namespace and its backend
export { projectRoot } from "./runtime/paths";
export { tf } from "./runtime/tf";
export { initBackend } from "./runtime/backend";

// random: seeded streams: the lib's own, and PyTorch's and Python's bit for bit
export { Generator } from "./random/generator";
export { TorchGenerator } from "./random/torch";
export { lectureSplit } from "./random/python";

// data: lines, vocabularies, examples
export { DataError, datasetFacts, readLines } from "./data/lines";
export { Vocab } from "./data/vocab";
export { buildContexts, buildSplitContexts, splitWords } from "./data/contexts";
export { checkSqrtLine, DATASET_NAMES, loadDataset, parseAddition } from "./data/datasets";
export { buildSequences, longestLine } from "./data/sequences";
export { sampleBatch, subsetExamples } from "./data/examples";

// nn: tfjs pieces, layers, lecture 4's backprop, activation statistics
export { crossEntropy, embedding, linear, sequenceCrossEntropy } from "./nn/ops";
export { EagerOps } from "./nn/eager";
export {
  BatchNorm1d,
  Embedding,
  Flatten,
  FlattenConsecutive,
  kaimingStd,
  Linear,
  runLayers,
  Sequential,
  setTraining,
  Tanh,
} from "./nn/layers";
export {
  autodiffGradients,
  compareGradient,
  EXERCISE_PARAM_NAMES,
  exerciseForward,
  exerciseParamList,
  exerciseParams,
  formatComparison,
} from "./nn/backprop";
export {
  activationStats,
  deadFraction,
  formatLayerStat,
  formatWeightGradStat,
  gradientStats,
  saturationMap,
  statsPass,
  summarize,
  UpdateRatioRecorder,
  weightGradStats,
} from "./nn/stats";

// optim: optimizers
export { AdamW, makeOptimizer, SGD } from "./optim/optimizers";

// models: the models, lecture 1's counts, sampling
export { bigramCounts, bigramNll, bigramPairs, countsToProbs, scoreWord, topBigrams } from "./models/counts";
export { sampleWord, sampleWords, tableModel } from "./models/sample";
export { batchLoss, countParameters, isSequenceModel, modelLoss, modelState } from "./models/model";
export { NeuralTrigram } from "./models/trigram";
export { findModel, MODEL_KINDS } from "./models/registry";
export { DeepMLP } from "./models/deep";
export { HierarchicalMLP } from "./models/hierarchical";
export { NeuralBigram, oneHotInputs, oneHotLogits, weightsToProbs } from "./models/nn-bigram";
export { INIT_PRESETS, lectureMlp, MLP } from "./models/mlp";
export { hasNamedParameters } from "./models/parts";
export { Transformer } from "./models/transformer";
export { Recurrent } from "./models/rnn";
export { BoW } from "./models/bow";
export { MakemoreMLP } from "./models/makemore-mlp";
export { MakemoreBigram } from "./models/makemore-bigram";

// engines: the fused engine, for notebooks that look inside it
export { createEngine } from "./engines/factory";
export { GraphNet } from "./engines/graph-net";
export { checkFusedGradients } from "./engines/gradient-check";

// training: the loop, losses, the learning-rate finder
export { learningRate } from "./training/schedule";
export { nextTokenProbs, sampleFromModel, splitLoss, splitLosses } from "./training/evaluate";
export { lrFinder, suggestLr } from "./training/lr-finder";

// plots: figures
export { barFigure, heatmapFigure, heatmapGridFigure, lineFigure, scatterFigure, spreadFigure } from "./plots/figure";
export { countHeatmap, probabilityBar } from "./plots/bigram";
export {
  activationHistogramFigure,
  gradientHistogramFigure,
  saturationMapFigure,
  updateRatioFigure,
  valuesHistogramFigure,
  weightGradHistogramFigure,
} from "./plots/stats";
export {
  bigramWeightsVsLogCounts,
  embeddingScatter,
  evalCurve,
  lossCurve,
  lossCurves,
  lrFinderPlot,
  stepProfileFigure,
} from "./plots/training";
export { learningCurvesFigure } from "./plots/learning-curves";

// notebook: display, quick mode, the notebooks' train with live progress
export { byHandSplitLoss, calibrateByHand, trainByHand } from "./notebook/by-hand";
export { isQuick, steps } from "./notebook/quick";
// the training loop with the live progress display as its default
export { train } from "./notebook/progress";
export { show, showHtml, showTable } from "./notebook/display";
export { runsBoard } from "./notebook/runs-board";

// experiments: runs, logs, grids
export { readRunLog } from "./experiments/runlog";
export { readCheckpoint, writeCheckpoint } from "./experiments/checkpoint";
export { buildModel, loadRun } from "./experiments/run-model";
export { parameterCount, resolveConfig } from "./experiments/hyperparams";
export { runExperiment } from "./experiments/experiment";
export { expandGrid, lossSpread, planGrid, runGrid, sortResults } from "./experiments/grid";
export { groupSamples } from "./experiments/run-data";
export { measureStepCost } from "./experiments/step-cost";

// every type of the lib (types add nothing to a notebook's namespace)
export type { Scalar, Tensor, Tensor1D, Tensor2D, Tf, Variable } from "./runtime/tf";
export type { BackendName } from "./runtime/backend";
export type { NormalDraws, RandomSource } from "./random/torch";
export type { LectureSplit } from "./random/python";
export type { DatasetFacts } from "./data/lines";
export type { VocabJSON } from "./data/vocab";
export type { Contexts, Split } from "./data/contexts";
export type { Dataset, DatasetName, DatasetOptions } from "./data/datasets";
export type { Sequences } from "./data/sequences";
export type { Batch, ExampleKind, Examples, IntDraws } from "./data/examples";
export type { BatchNormTrainOptions } from "./nn/ops";
export type { Applies, BatchNormState, Cell, L2Term, LinearParams, Ops, Window } from "./nn/ops-interface";
export type { EagerListener } from "./nn/eager";
export type {
  BatchNorm1dOptions,
  EmbeddingOptions,
  Layer,
  LayerHook,
  LayerKind,
  LinearOptions,
  Nonlinearity,
} from "./nn/layers";
export type {
  ExerciseForward,
  ExerciseParams,
  ExerciseShape,
  ExerciseStep,
  GradientComparison,
  GradientMap,
} from "./nn/backprop";
export type {
  GradientSet,
  Histogram,
  HistogramOptions,
  LayerRecord,
  LayerStat,
  LayerStatOptions,
  Matrix2D,
  ParamRecord,
  ProbedModel,
  StatsPassOptions,
  StatsSnapshot,
  Summary,
  UpdateRatioOptions,
  UpdateRatioSeries,
  Values,
  WeightGradStat,
} from "./nn/stats";
export type { BigramCount, BigramPairs, BigramScore, Likelihood, Matrix } from "./models/counts";
export type { NextTokenModel, SampleOptions } from "./models/sample";
export type { HasBuffers, LanguageModel, Model, ModelBase, OpsModel, SequenceModel } from "./models/model";
export type { ModelShape, ModelSpec, ShapeKey, TrainingDefaults } from "./models/spec";
export type { NeuralTrigramConfig } from "./models/trigram";
export type { DeepConfig, ResolvedDeepConfig } from "./models/deep";
export type { HierarchicalConfig, ResolvedHierarchicalConfig } from "./models/hierarchical";
export type { NeuralBigramConfig } from "./models/nn-bigram";
export type { MlpActivations, MlpConfig, MlpInit } from "./models/mlp";
export type { NamedParameters, NormParams } from "./models/parts";
export type { TransformerConfig } from "./models/transformer";
export type { CellKind, RecurrentConfig } from "./models/rnn";
export type { BoWConfig } from "./models/bow";
export type { MakemoreMLPConfig } from "./models/makemore-mlp";
export type { KernelBuild, KernelExports, WasmMemory } from "./engines/kernels";
export type { Engine, EngineChoice, EngineName, EngineState, GradMap } from "./engines/engine";
export type { EngineOptions, EnginePlan } from "./engines/factory";
export type { GraphModel } from "./engines/graph-net";
export type { GradientCheck } from "./engines/gradient-check";
export type { AdamWStep, Optimizer, OptimizerKind, OptimizerOptions } from "./optim/optimizers";
export type { LrSchedule, StepDecay } from "./training/schedule";
export type { SplitLossOptions } from "./training/evaluate";
export type {
  Display,
  EvalRecord,
  ProgressInfo,
  Reporter,
  StopSignal,
  TrainEngine,
  TrainOptions,
  TrainResult,
} from "./training/train";
export type { BatchNormStats, ByHandOptions, ByHandResult } from "./notebook/by-hand";
export type { LrFinderOptions, LrFinderPoint, LrSuggestion } from "./training/lr-finder";
export type {
  BarSeries,
  Figure,
  HeatmapGridOptions,
  HeatmapOptions,
  HeatmapPanel,
  LabelledPoint,
  LineFigureOptions,
  Series,
  Trace,
} from "./plots/figure";
export type {
  HistogramLine,
  HistogramLinesOptions,
  UpdateRatioFigureOptions,
  ValuesHistogramOptions,
} from "./plots/stats";
export type { LossCurveOptions, NamedLosses, StageTime } from "./plots/training";
export type { CurvePoint, LearningCurvesOptions, RunCurve } from "./plots/learning-curves";
export type { FrameLike, LiveDisplay, TableCells, TableOptions, TableRecord } from "./notebook/display";
export type { RunCallbacks, RunProgressLike, RunsBoard, RunsBoardOptions, RunStartLike } from "./notebook/runs-board";
export type { RunLogRow } from "./experiments/runlog";
export type { Checkpoint, CheckpointTensor } from "./experiments/checkpoint";
export type { CheckpointMeta, RunConfigFile, SavedRun } from "./experiments/run-files";
export type { LoadedRun } from "./experiments/run-model";
export type {
  BestSoFar,
  ModelPlan,
  PlanOptions,
  ResumePlan,
  RunData,
  RunLimits,
  RunPlan,
} from "./experiments/run-plan";
export type { ExperimentConfig, HyperKey, HyperSpec, ModelKind } from "./experiments/hyperparams";
export type {
  ExperimentOptions,
  ExperimentProgress,
  ExperimentResult,
  ExperimentStart,
  ExperimentStatus,
  PlannedExperiment,
  RunHooks,
} from "./experiments/experiment";
export type {
  GridAxes,
  GridEvent,
  GridJob,
  GridMemory,
  GridOptions,
  GridRow,
  GridStatus,
  LossSpread,
  WorkerJob,
  WorkerMessage,
} from "./experiments/grid";
export type { LockHolder, RunLock } from "./experiments/run-lock";
export type { EvalSample, ExperimentData, SampleGroups } from "./experiments/run-data";
export type { DataHistoryEntry, DatasetRecord, ResumeDataCheck } from "./experiments/data-record";
export type { DataSize, EstimateOptions, MemoryCeiling, MemoryEstimate, MemoryPart } from "./experiments/limits";
export type { StepCost, StepCostOptions } from "./experiments/step-cost";
