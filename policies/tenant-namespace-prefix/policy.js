// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file (and the
// lib/ it imports) into it, so the policy runs without npm. Edit this or lib/, never the YAML's javascript.
import { TENANT_LABEL, isExempt, newNamespaceTenant, optionChecked, readOptions, tenantOf } from "../lib/index.js";

const options = readOptions(get, request);
let tenant = "";
const problems = optionChecked(() => {
  if (isExempt(request, options)) return [];
  const found = newNamespaceTenant(request, options);
  tenant = found.tenant;
  return found.problems;
});
if (problems.length) deny(problems.join("; "));
if (tenant && !tenantOf(request.object)) {
  const metadata = request.object.metadata;
  metadata.labels = Object.assign({}, metadata.labels, { [TENANT_LABEL]: tenant });
  mutate(request.object);
}
