import { isExempt, optionChecked, readOptions, replicaViolations, replicasGrow } from "../lib/index.js";

const options = readOptions(get, request, ["max-replicas"]);
let shrinks = false;
const problems = optionChecked(() => {
  if (isExempt(request, options)) return [];
  const found = replicaViolations(request, options);
  shrinks = !replicasGrow(request);
  return found;
});
// An update that does not add replicas (a scale-down) stays possible above the maximum, with a warning.
if (problems.length && shrinks) warn(`${problems.join("; ")}; allowed because the update does not add replicas`);
else if (problems.length) deny(problems.join("; "));
