/** Local Kimi (Moonshot) API simulator: public surface. */
export { startKimiSimulator } from './server.js';
export { expectedReply, simulatedCompletionTokens, simulatedPromptTokens } from './content.js';
export type { SimulatedMessage } from './content.js';
export { akId } from './errors.js';
export { DEFAULT_MODELS } from './options.js';
export type {
  AccountStats,
  ArrivalKind,
  ArrivalRecord,
  FaultKind,
  KimiSimulator,
  KimiSimulatorOptions,
  LatencyOption,
  RefusalKind,
  SimulatorAccount,
  SimulatorAccountPatch,
  SimulatorFaults,
  SimulatorStats,
} from './types.js';
export { describeAccounts, loadSimulatorConfig, simulatorOptionsFromJson } from './config-file.js';
