// An independent OPC UA client (node-opcua) against a Cellwright virtual controller: it finds
// the robot through the OPC 40010 structure, reads its axes and calls MoveJoints, then prints
// what it saw as JSON. Usage: node client.js opc.tcp://127.0.0.1:4840 [robot] [device]
// Security None, named by the controller (`--security None`): node-opcua keeps its own PKI,
// which a test would have to trust; the Python tests cover Basic256Sha256.
"use strict";
const {
  OPCUAClient, MessageSecurityMode, SecurityPolicy, AttributeIds, DataType, VariantArrayType,
  makeBrowsePath, BrowseDirection,
} = require("node-opcua-client");

const DI = "http://opcfoundation.org/UA/DI/";
const ROBOTICS = "http://opcfoundation.org/UA/Robotics/";
const CELLWRIGHT = "urn:cellwright:opcua:robot";

async function child(session, nodeId, qualifiedName) {
  const result = await session.translateBrowsePath(makeBrowsePath(nodeId, `/${qualifiedName}`));
  if (!result.targets || result.targets.length === 0) throw new Error(`no ${qualifiedName} under ${nodeId}`);
  return result.targets[0].targetId.toString();
}

async function read(session, nodeId) {
  return (await session.read({ nodeId, attributeId: AttributeIds.Value })).value.value;
}

async function typeDefinition(session, nodeId) {
  const result = await session.browse({
    nodeId, referenceTypeId: "HasTypeDefinition", browseDirection: BrowseDirection.Forward,
    includeSubtypes: false, resultMask: 0x3f,
  });
  return result.references[0].nodeId;
}

async function main() {
  const [url, robot = "panda", device = "arm"] = process.argv.slice(2);
  const client = OPCUAClient.create({
    endpointMustExist: false, securityMode: MessageSecurityMode.None, securityPolicy: SecurityPolicy.None,
    connectionStrategy: { maxRetry: 2, initialDelay: 200, maxDelay: 1000 },
  });
  await client.connect(url);
  const session = await client.createSession();
  try {
    const namespaces = await session.readNamespaceArray();
    const [di, robotics, cw] = [DI, ROBOTICS, CELLWRIGHT].map((uri) => namespaces.indexOf(uri));
    const deviceSet = await child(session, "ns=0;i=85", `${di}:DeviceSet`);
    const system = await child(session, deviceSet, `${cw}:${robot}`);
    const systemType = await typeDefinition(session, system);
    const motionDevice = await child(session, await child(session, system, `${robotics}:MotionDevices`), `${cw}:${device}`);
    const deviceType = await typeDefinition(session, motionDevice);
    const axesFolder = await child(session, motionDevice, `${robotics}:Axes`);
    const browsed = await session.browse({ nodeId: axesFolder, browseDirection: BrowseDirection.Forward,
                                           referenceTypeId: "HierarchicalReferences", includeSubtypes: true,
                                           resultMask: 0x3f });
    const axes = [];
    for (const reference of browsed.references) {
      const axis = reference.nodeId.toString();
      const position = await child(session, await child(session, axis, `${di}:ParameterSet`), `${robotics}:ActualPosition`);
      const units = await read(session, await child(session, position, "0:EngineeringUnits"));
      axes.push({ name: reference.browseName.name, type: (await typeDefinition(session, axis)).toString(),
                  position: await read(session, position), unit: units.displayName.text });
    }
    const jointNames = await read(session, await child(session, motionDevice, `${cw}:JointNames`));
    const positions = jointNames.map((name) => axes.find((a) => a.name === name).position);
    const target = positions.map((value, i) => (i === 0 ? value + 0.1 : value));
    const call = await session.call({
      objectId: motionDevice, methodId: await child(session, motionDevice, `${cw}:MoveJoints`),
      inputArguments: [
        { dataType: DataType.Double, arrayType: VariantArrayType.Array, value: target },
        { dataType: DataType.Double, value: 0.5 },
        { dataType: DataType.Double, value: 20.0 },
      ],
    });
    const [commandId, error] = call.outputArguments.map((v) => v.value);
    const status = await child(session, motionDevice, `${cw}:CommandStatus`);
    let last = [];
    for (let i = 0; i < 400; i++) {
      last = Array.from(await read(session, status));
      if (last[0] === commandId && last[1] >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const after = [];
    for (const name of jointNames) {
      const axis = await child(session, axesFolder, `${cw}:${name}`);
      after.push(await read(session, await child(session, await child(session, axis, `${di}:ParameterSet`), `${robotics}:ActualPosition`)));
    }
    console.log("RESULT " + JSON.stringify({
      namespaces: { di, robotics, cw }, systemType: systemType.toString(), deviceType: deviceType.toString(),
      axes, commandId, error, status: last, target, after,
    }));
  } finally {
    await session.close();
    await client.disconnect();
  }
}

main().catch((err) => { console.error(String(err && err.stack || err)); process.exit(1); });
