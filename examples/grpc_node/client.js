#!/usr/bin/env node
// Submit a Cellwright job over gRPC, watch it with WatchJobs until it ends, and show how
// an error looks (an unknown workflow -> NOT_FOUND).
//
//   node client.js [host:port] [workflow[@version]] [KEY=VALUE ...]
//   node client.js 127.0.0.1:50061 noop duration_s=0.5
//   node client.js 127.0.0.1:50061 pick-place part=red_cube
//
// The .proto files are read from ../../proto (override with CELLWRIGHT_PROTO_DIR); the
// google/protobuf well-known types (Struct, Timestamp) ship with proto-loader.
'use strict';

const path = require('path');
const crypto = require('crypto');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_DIR = process.env.CELLWRIGHT_PROTO_DIR || path.join(__dirname, '..', '..', 'proto');
const FINAL = new Set(['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED']);
const DEADLINE_MS = 10000;

const definition = protoLoader.loadSync(
  ['cellwright/v1/job_service.proto', 'cellwright/v1/cell_service.proto'],
  {
    includeDirs: [PROTO_DIR],
    keepCase: true, // field names as in the .proto: request_id, after_seq, ...
    enums: String, // 'JOB_STATE_RUNNING' instead of 2
    longs: String, // uint64 seq and Timestamp seconds as decimal strings
    defaults: true, // absent fields read as their proto3 defaults
    oneofs: true,
  },
);
const v1 = grpc.loadPackageDefinition(definition).cellwright.v1;

// --- google.protobuf.Struct <-> plain JS objects ----------------------------------------
function toValue(v) {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v) };
}
function toStruct(obj) {
  return { fields: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, toValue(v)])) };
}
function fromValue(v) {
  switch (v.kind) {
    case 'numberValue': return v.numberValue;
    case 'stringValue': return v.stringValue;
    case 'boolValue': return v.boolValue;
    case 'listValue': return (v.listValue.values || []).map(fromValue);
    case 'structValue': return fromStruct(v.structValue);
    default: return null;
  }
}
function fromStruct(s) {
  return Object.fromEntries(Object.entries((s && s.fields) || {}).map(([k, v]) => [k, fromValue(v)]));
}

// --- helpers -----------------------------------------------------------------------------
const short = (name, prefix) => name.replace(prefix, '');
const statusName = (code) => Object.keys(grpc.status).find((k) => grpc.status[k] === code);
const deadline = () => new Date(Date.now() + DEADLINE_MS);

function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: deadline() }, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

function parseParam(text) {
  const i = text.indexOf('=');
  if (i < 1) throw new Error(`parameter ${JSON.stringify(text)} must be KEY=VALUE`);
  const raw = text.slice(i + 1);
  let value = raw;
  if (raw === 'true' || raw === 'false') value = raw === 'true';
  else if (raw !== '' && !Number.isNaN(Number(raw))) value = Number(raw);
  return [text.slice(0, i), value];
}

function describe(event) {
  const job = event.job;
  let line = `#${String(event.seq).padEnd(5)} ${job.id} ${short(job.state, 'JOB_STATE_').padEnd(9)}`;
  const task = job.tasks.find((t) => t.id === event.task_id);
  if (task) {
    line += `  ${task.step_id}: ${short(task.state, 'TASK_STATE_')}`;
    if (task.cell_id) line += ` on ${task.cell_id} (epoch ${task.epoch}, attempt ${task.attempt})`;
    if (task.error && task.error.reason) line += ` [${task.error.reason}: ${task.error.message}]`;
  }
  return line;
}

// Resolves with the final job once WatchJobs shows it in a final state.
function watchUntilDone(jobs, jobId) {
  return new Promise((resolve, reject) => {
    let finalJob = null;
    const stream = jobs.WatchJobs({ after_seq: '0', job_id: jobId });
    stream.on('data', ({ event }) => {
      console.log(describe(event));
      if (FINAL.has(event.job.state)) {
        finalJob = event.job;
        stream.cancel(); // WatchJobs never ends by itself: it stays live for new events
      }
    });
    stream.on('error', (err) => {
      if (err.code === grpc.status.CANCELLED && finalJob) resolve(finalJob);
      else reject(err);
    });
    stream.on('end', () => (finalJob ? resolve(finalJob) : reject(new Error('WatchJobs ended early'))));
  });
}

async function main() {
  const [address = '127.0.0.1:50061', workflow = 'noop', ...paramArgs] = process.argv.slice(2);
  const params = Object.fromEntries(
    (paramArgs.length || workflow !== 'noop' ? paramArgs : ['duration_s=0.5']).map(parseParam),
  );
  const jobs = new v1.JobService(address, grpc.credentials.createInsecure());

  // 1. An error: an unknown workflow is NOT_FOUND, and the details list the known ones.
  try {
    await call(jobs, 'SubmitJob', { request_id: crypto.randomUUID(), workflow: 'no-such-workflow' });
  } catch (err) {
    console.log(`SubmitJob(no-such-workflow) -> ${statusName(err.code)} (${err.code}): ${err.details}`);
  }

  // 2. Submit. request_id is the idempotency key: retrying with the same key and the
  //    same body returns the same job (created=false) instead of a second one.
  const request = {
    request_id: crypto.randomUUID(),
    workflow,
    params: toStruct(params),
    priority: 0,
    labels: { source: 'grpc-node-example' },
  };
  const submitted = await call(jobs, 'SubmitJob', request);
  console.log(`submitted ${submitted.job.id} workflow=${submitted.job.workflow} (version ${submitted.job.workflow_version}) ` +
              `params=${JSON.stringify(fromStruct(submitted.job.params))} state=${submitted.job.state} created=${submitted.created}`);
  const again = await call(jobs, 'SubmitJob', request);
  console.log(`same request_id again -> ${again.job.id} created=${again.created}`);

  // 3. Watch the job's events (replayed from the start, then live) until it ends.
  const job = await watchUntilDone(jobs, submitted.job.id);
  const results = job.tasks.map((t) => `${t.step_id}=${JSON.stringify(fromStruct(t.result))}`).join(' ');
  console.log(`done: ${job.state} cycle_time_s=${job.cycle_time_s.toFixed(3)} ${results}`);
  jobs.close();
  return job.state === 'JOB_STATE_SUCCEEDED' ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => {
  const status = err.code !== undefined ? `${statusName(err.code)}: ${err.details}` : err.message;
  console.error(`error: ${status}`);
  process.exit(1);
});
