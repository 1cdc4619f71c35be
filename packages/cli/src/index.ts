export { main } from './main.js';
export { CliError, EXIT, UsageError, type CliErrorCode, type ExitCode } from './errors.js';
export { runScenario, type ScenarioEvidence, type ScenarioOptions, type ScenarioResult, type ScenarioMessage, type ScenarioStep } from './demo/scenario.js';
