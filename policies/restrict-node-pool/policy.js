import { isExempt, namespaceOf, nodePoolOf, nodePoolViolations, optionChecked, readOptions, withNodePool } from "../lib/index.js";

// Mutating: a pod (template) without the pool's key in its nodeSelector gets it; other placements are refused.
const options = readOptions(get, request, ["node-pool", "allowed-toleration-keys"]);
let mutated;
const problems = optionChecked(() => {
  if (isExempt(request, options)) return [];
  const found = nodePoolViolations(request, options);
  mutated = withNodePool(request, options);
  return found;
});
if (problems.length) deny(problems.join("; "));
if (mutated) {
  const pool = nodePoolOf(options);
  warn(`added nodeSelector ${pool.key}=${pool.value}: the node pool of namespace ${JSON.stringify(namespaceOf(request))}`);
  mutate(mutated);
}
