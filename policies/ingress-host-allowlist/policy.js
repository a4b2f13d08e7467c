// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file and the lib/
// modules it imports into it. Edit this or lib/, never the YAML's javascript.
import {
  ingressHostAllowlistProblems, isExempt, judgeChange, namespaceOf, readOptions, tenantOf,
} from "../lib/index.js";

const options = readOptions(get, request, ["allowed-ingress-hosts"]);
if (!isExempt(request, options)) {
  const namespace = namespaceOf(request);
  const tenant = tenantOf(get("Namespace", "v1", namespace));
  const check = (ingress) => ingressHostAllowlistProblems(ingress, options, namespace, tenant);
  const { denial, warnings } = judgeChange(request, check);
  for (const warning of warnings) warn(warning);
  if (denial) deny(denial);
}
