/** Distributed execution on BullMQ: the orchestrator's executor and the worker loop. */
export { createRedisExecutor, type RedisExecutor, type RedisExecutorOptions } from "./redis-executor.js";
export { startWorker, type RemoteWorker, type RemoteWorkerOptions } from "./worker.js";
export { bullPriority, type OutputFile, type TransferOutputs } from "./protocol.js";
