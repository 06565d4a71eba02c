/**
 * BullMQ and ioredis, the optional peer dependencies of remote execution, for the files of this folder.
 * Imported dynamically: a static import would make a missing package fail while Node links the module
 * graph, before any of our code could say what is missing (see ../../engine/optional-dependency.ts). This folder
 * is loaded only by `--remote`, `tributary worker` and the package's `./remote` entry.
 *
 * Each class is exported twice under one name, as a value (the loaded class) and as a type (its
 * instances, with the type parameters this folder uses), so that importers read as if from the packages.
 */
import type * as BullMQ from "bullmq";
import type * as IORedis from "ioredis";
import { importOptional, REMOTE_EXECUTION } from "../../engine/optional-dependency.js";

const [bullmq, ioredis] = await importOptional(REMOTE_EXECUTION, () =>
  Promise.all([import("bullmq"), import("ioredis")]),
);

export const { Queue, QueueEvents, Worker, WaitingError } = bullmq;
export const { Redis } = ioredis;

export type Queue<Data, Result> = BullMQ.Queue<Data, Result>;
export type QueueEvents = BullMQ.QueueEvents;
export type Worker<Data, Result> = BullMQ.Worker<Data, Result>;
export type Redis = IORedis.Redis;
export type { ConnectionOptions, Job, JobsOptions } from "bullmq";
export type { RedisOptions } from "ioredis";
