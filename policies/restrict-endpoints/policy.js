// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file and the lib/
// modules it imports into it. Edit this or lib/, never the YAML's javascript.
import { endpointProblems, isEndpointManager, isExempt, judgeChange, namespaceOf, readOptions } from "../lib/index.js";

const options = readOptions(get, request, ["allowed-endpoint-cidrs"]);
if (!isExempt(request, options) && !isEndpointManager((request.userInfo || {}).username || "", options)) {
  const check = (object) => endpointProblems(object, options, namespaceOf(request));
  const { denial, warnings } = judgeChange(request, check);
  for (const warning of warnings) warn(warning);
  if (denial) deny(denial);
}
