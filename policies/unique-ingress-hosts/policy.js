// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file and the lib/
// modules it imports into it. Edit this or lib/, never the YAML's javascript.
import { ingressHostConflicts, isExempt, judgeChange, namespaceOf, readOptions, tenantOf } from "../lib/index.js";

const options = readOptions(get, request);
if (!isExempt(request, options)) {
  // jsPolicy's list() returns undefined for an empty result; this engine returns [].
  const ingresses = list("Ingress", "networking.k8s.io/v1") || [];
  const tenants = {};
  const tenantOfNamespace = (name) => {
    if (!(name in tenants)) tenants[name] = tenantOf(get("Namespace", "v1", name));
    return tenants[name];
  };
  const check = (ingress) => ingressHostConflicts(ingress, options, namespaceOf(request), ingresses, tenantOfNamespace);
  const { denial, warnings } = judgeChange(request, check);
  for (const warning of warnings) warn(warning);
  if (denial) deny(denial);
}
