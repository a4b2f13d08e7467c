// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file and the lib/
// modules it imports into it. Edit this or lib/, never the YAML's javascript.
import { externalNameProblems, isExempt, judgeChange, namespaceOf, readOptions } from "../lib/index.js";

const options = readOptions(get, request, ["disallow-externalname-services"]);
if (!isExempt(request, options)) {
  // `<service>.<namespace>` reaches another namespace through the DNS search path only if that namespace exists.
  const namespaceExists = (name) => get("Namespace", "v1", name) !== undefined;
  const check = (service) => externalNameProblems(service, options, namespaceOf(request), namespaceExists);
  const { denial, warnings } = judgeChange(request, check);
  for (const warning of warnings) warn(warning);
  if (denial) deny(denial);
}
