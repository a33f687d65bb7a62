// Decode a Cellwright cell's ZeroMQ state stream (docs/state-stream.md) from Node.js.
//
//   npm install
//   node tail.js tcp://127.0.0.1:5556 [topic_prefix] [limit]
//
// Frames: [topic (UTF-8), header (24 bytes LE: u64 seq, i64 sim_time_ns, i64 wall_time_ns),
// payload (protobuf: cellwright.v1.RobotState or cellwright.v1.CellState by topic)].
"use strict";

const path = require("node:path");
const protobuf = require("protobufjs");
const zmq = require("zeromq");

const PROTO_ROOT = process.env.CELLWRIGHT_PROTO_DIR || path.join(__dirname, "..", "..", "proto");

function loadTypes() {
  const root = new protobuf.Root();
  // Resolve `import "cellwright/v1/packml.proto"` against the proto root, as protoc -I does.
  root.resolvePath = (_origin, target) => path.join(PROTO_ROOT, target);
  root.loadSync("cellwright/v1/state.proto");
  return {
    robot: root.lookupType("cellwright.v1.RobotState"),
    state: root.lookupType("cellwright.v1.CellState"),
  };
}

// Decode one message; throws Error on malformed frames, like cellwright.api.statestream.decode.
function decode(types, frames) {
  if (frames.length !== 3) throw new Error(`expected 3 frames, got ${frames.length}`);
  const [topicFrame, header, payload] = frames;
  if (header.length !== 24) throw new Error(`header must be 24 bytes, got ${header.length}`);
  const topic = topicFrame.toString("utf8");
  const seq = header.readBigUInt64LE(0);
  const simTimeNs = header.readBigInt64LE(8);
  const wallTimeNs = header.readBigInt64LE(16);
  const parts = topic.split("/");
  if (parts.length < 3 || parts[0] !== "cell" || parts.slice(1).some((p) => p === "")) {
    throw new Error(`unknown topic layout ${topic}`);
  }
  let message = payload; // unknown topic kinds stay raw bytes
  if (parts[2] === "robot" && parts.length === 4) message = types.robot.decode(payload);
  else if (parts[2] === "state" && parts.length === 3) message = types.state.decode(payload);
  else if (parts[2] === "robot" || parts[2] === "state") {
    throw new Error(`unknown topic layout ${topic}`);
  }
  return { topic, seq, simTimeS: Number(simTimeNs) / 1e9, wallTimeNs, message };
}

function format(types, m) {
  const head = `${m.topic} #${m.seq} t=${m.simTimeS.toFixed(3)}s`;
  if (Buffer.isBuffer(m.message)) return `${head} <${m.message.length} bytes>`;
  const o = (m.message.$type === types.robot ? types.robot : types.state).toObject(m.message, {
    enums: String,
    defaults: true,
  });
  if (m.message.$type === types.robot) {
    const q = o.positionRad.map((x) => x.toFixed(3)).join(", ");
    const p = (o.toolPose && o.toolPose.positionM) || { x: 0, y: 0, z: 0 };
    return `${head} q=[${q}] tool=(${p.x.toFixed(3)}, ${p.y.toFixed(3)}, ${p.z.toFixed(3)})` +
      ` gripper=${o.gripperWidthM.toFixed(3)}m${o.gripperHolding ? " holding" : ""}` +
      `${o.estopped ? " ESTOP" : ""}`;
  }
  const name = o.packmlState.replace("PACKML_STATE_", "");
  const state = name.charAt(0) + name.slice(1).toLowerCase(); // EXECUTE -> Execute
  return `${head} ${state} clock=${o.clockS.toFixed(3)}s${o.busy ? ` busy task=${o.taskId}` : ""}`;
}

async function main() {
  const [endpoint, prefix = "", limitArg] = process.argv.slice(2);
  if (!endpoint) {
    console.error("usage: node tail.js <endpoint> [topic_prefix] [limit]");
    process.exit(2);
  }
  const limit = limitArg === undefined ? Infinity : Number(limitArg);
  const types = loadTypes();
  // Bounded queues, like cellwright's StateSubscriber: a slow reader sees gaps, not old state.
  const sock = new zmq.Subscriber({ receiveHighWaterMark: 500, receiveBufferSize: 64 * 1024 });
  sock.connect(endpoint);
  sock.subscribe(prefix);
  const lastSeq = new Map();
  let count = 0;
  for await (const frames of sock) {
    let m;
    try {
      m = decode(types, frames);
    } catch (err) {
      console.log(`WARNING malformed message skipped: ${err.message}`);
      continue;
    }
    const last = lastSeq.get(m.topic);
    if (last !== undefined && m.seq !== last + 1n) {
      const ageS = Number(BigInt(Date.now()) * 1000000n - m.wallTimeNs) / 1e9; // same host or synced clocks
      console.log(`WARNING ${m.topic}: messages lost before #${m.seq};` +
        ` the view was stale until this one (sent ${ageS.toFixed(3)} s ago)`);
    }
    lastSeq.set(m.topic, m.seq);
    console.log(format(types, m));
    if (++count >= limit) break;
  }
  sock.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
