/**
 * Learning-rate schedules: a constant, the lectures' step decay, or any
 * function of the step.
 *
 * @module
 */

/** Step decay: `lr` before step `decayAt`, `decayedLr` from it on (lecture 2: 0.1, 100,000, 0.01). */
export interface StepDecay {
  /** learning rate of the first steps */
  lr: number;
  /** first step (0-based) that uses `decayedLr` */
  decayAt: number;
  /** learning rate from step `decayAt` on */
  decayedLr: number;
}

/** A learning rate: constant, step decay, or any function of the (0-based) step. */
export type LrSchedule = number | StepDecay | ((step: number) => number);

/** The learning rate a schedule gives at a step. */
export function learningRate(schedule: LrSchedule, step: number): number {
  if (typeof schedule === "number") return schedule;
  if (typeof schedule === "function") return schedule(step);
  return step < schedule.decayAt ? schedule.lr : schedule.decayedLr;
}
