export { main } from './main.js';
export { runScenario, type ScenarioOptions, type ScenarioResult, type ScenarioMessage, type ScenarioStep } from './demo/scenario.js';
