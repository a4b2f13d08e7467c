// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file and the lib/
// modules it imports into it. Edit this or lib/, never the YAML's javascript.
import { isExempt, judgeChange, namespaceOf, readOptions, serviceTypeProblems } from "../lib/index.js";

const options = readOptions(get, request, ["allowed-service-types"]);
if (!isExempt(request, options)) {
  const check = (service) => serviceTypeProblems(service, options, namespaceOf(request));
  const { denial, warnings } = judgeChange(request, check);
  for (const warning of warnings) warn(warning);
  if (denial) deny(denial);
}
