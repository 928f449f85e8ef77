/** The one vegeta client of the project: targets, attack, results, report and plot. */
export { encodeTarget, taggedUrl, urlTags, writeTargets, type VegetaTarget } from './targets.js';
export { answerCode, notSent, parseResult, readResults, transportCode, type VegetaResult } from './results.js';
export { attackArgs, startAttack, type Attack, type AttackOptions, type AttackOutcome } from './attack.js';
export { vegetaPlot, vegetaReport, type VegetaReport } from './report.js';
export { startPacedAttack, type PacedAttack, type PacedAttackOptions } from './paced.js';
