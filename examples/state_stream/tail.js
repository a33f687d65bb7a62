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

const f3 = (x) => x.toFixed(3);
const xyz = (pose) => {
  const p = (pose && pose.positionM) || { x: 0, y: 0, z: 0 };
  return `(${f3(p.x)}, ${f3(p.y)}, ${f3(p.z)})`;
};

// A RobotState line: every chain with its joints and default tool frame, every gripper, a
// floating base, IO values. A 0.1 publisher (no chains) is shown from its single-arm fields.
function formatRobot(o) {
  const parts = [];
  if (o.chains.length) {
    for (const chain of o.chains) {
      const q = chain.positionRad.map(f3).join(", ");
      // Each chain's default tool frame is its first frame, named "<chain>/<frame>".
      const tool = o.frames.find((f) => f.name.startsWith(`${chain.name}/`));
      parts.push(`${chain.name} q=[${q}]` + (tool ? ` tool=${xyz(tool.pose)}` : ""));
    }
    for (const g of o.grippers) parts.push(`${g.name}=${f3(g.widthM)}m${g.holding ? " holding" : ""}`);
  } else { // deprecated single-chain fields (3..9), from a 0.1 publisher
    parts.push(`q=[${o.positionRad.map(f3).join(", ")}] tool=${xyz(o.toolPose)}` +
      ` gripper=${f3(o.gripperWidthM)}m${o.gripperHolding ? " holding" : ""}`);
  }
  if (o.floatingBase) parts.push(`base=${xyz(o.basePose)}`);
  if (o.io.length) {
    parts.push(`io={${o.io.map((v) => `${v.name}: ${v.value === "analog" ? f3(v.analog) : v.digital}`).join(", ")}}`);
  }
  if (o.estopped) parts.push("ESTOP");
  return parts.join(" ");
}

function format(types, m) {
  const head = `${m.topic} #${m.seq} t=${m.simTimeS.toFixed(3)}s`;
  if (Buffer.isBuffer(m.message)) return `${head} <${m.message.length} bytes>`;
  const o = (m.message.$type === types.robot ? types.robot : types.state).toObject(m.message, {
    enums: String,
    defaults: true,
    oneofs: true, // IOValue.value names the set field: "digital" or "analog"
  });
  if (m.message.$type === types.robot) return `${head} ${formatRobot(o)}`;
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

module.exports = { loadTypes, decode, format };

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
