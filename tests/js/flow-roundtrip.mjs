#!/usr/bin/env node
// The JavaScript half of the round trip with the Rust persister
// (tests/tests/flow_js_roundtrip.rs): a front end's view of `flowstore serve`,
// through `APIStore` and the original design's key layout and JSON.
//
//   node tests/js/flow-roundtrip.mjs save    <baseUrl> <flowId> <variantId> <instanceId> <schemaVersion>
//   node tests/js/flow-roundtrip.mjs restore <baseUrl> <flowId> <variantId> <instanceId> <schemaVersion>
//
// save: writes an onboarding run (on step "profile", with fields the Rust side
// does not model) and prints the JSON it wrote. restore: reads the instance,
// checks it is a saved flow of that schema version under those ids, and prints
// the JSON it found. Exit 1 on a failed check or request, 2 on bad usage.

import { APIStore, restoreFlow, saveFlow } from "./api-store.mjs";

const USAGE =
  "usage: flow-roundtrip.mjs <save|restore> <baseUrl> <flowId> <variantId> <instanceId> <schemaVersion>";

/** The run a front end would save: two steps in, with extra fields everywhere. */
function onboardingState(now) {
  const welcome = { stepId: "welcome", startedAt: now - 5000, completedAt: now - 2000, action: "next" };
  return {
    stepId: "profile",
    context: { name: "Ada", plan: "pro", fromNode: true },
    path: [welcome, { stepId: "profile", startedAt: now - 2000 }],
    history: [welcome, { stepId: "profile", startedAt: now - 2000, device: "node" }],
    status: "active",
    startedAt: now - 5000,
    experiment: { bucket: 3 },
    __meta: { savedBy: "flow-roundtrip.mjs" },
  };
}

/** Every way `instance` is not the saved flow asked for. */
function problems(instance, ids, schemaVersion) {
  const found = [];
  for (const field of ["flowId", "variantId", "instanceId"]) {
    if (instance[field] !== ids[field]) {
      found.push(`${field} is ${JSON.stringify(instance[field])}, expected ${JSON.stringify(ids[field])}`);
    }
  }
  const state = instance.state;
  if (typeof state !== "object" || state === null) {
    return [...found, "state is not an object"];
  }
  if (typeof state.stepId !== "string") found.push("state.stepId is not a string");
  if (typeof state.context !== "object" || state.context === null) found.push("state.context is not an object");
  if (!["active", "complete"].includes(state.status)) found.push(`state.status is ${JSON.stringify(state.status)}`);
  if (!Number.isInteger(state.startedAt)) found.push("state.startedAt is not milliseconds");
  for (const list of ["path", "history"]) {
    if (!Array.isArray(state[list]) || !state[list].every((step) => typeof step.stepId === "string" && Number.isInteger(step.startedAt))) {
      found.push(`state.${list} is not a list of steps`);
    }
  }
  const meta = state.__meta ?? {};
  if (!Number.isInteger(meta.savedAt)) found.push("state.__meta.savedAt is not milliseconds");
  if (meta.version !== schemaVersion) {
    found.push(`state.__meta.version is ${JSON.stringify(meta.version)}, expected ${JSON.stringify(schemaVersion)}`);
  }
  return found;
}

async function main(argv) {
  const [command, baseUrl, flowId, variantId, instanceId, schemaVersion, ...rest] = argv;
  // The token comes from the environment, not the command line, where every
  // process on the machine could read it.
  const token = process.env.FLOWSTORE_TOKEN;
  if (!["save", "restore"].includes(command) || schemaVersion === undefined || rest.length > 0) {
    console.error(USAGE);
    return 2;
  }
  const store = new APIStore({ baseUrl, token });
  const ids = { flowId, variantId, instanceId };
  if (command === "save") {
    const written = await saveFlow(store, ids, onboardingState(Date.now()), schemaVersion);
    console.log(JSON.stringify(written));
    return 0;
  }
  const instance = await restoreFlow(store, ids);
  if (instance === null) {
    console.error(`no saved state for ${flowId}/${variantId}/${instanceId}`);
    return 1;
  }
  console.log(JSON.stringify(instance));
  const found = problems(instance, ids, schemaVersion);
  for (const problem of found) console.error(`restored flow: ${problem}`);
  return found.length === 0 ? 0 : 1;
}

// exitCode, not exit(): stdout is flushed before the process ends.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`flow-roundtrip.mjs: ${err.message}`);
    process.exitCode = 1;
  },
);
