// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file and the lib/
// modules it imports into it. Edit this or lib/, never the YAML's javascript.
import { externalIPProblems, isExempt, judgeChange, readOptions } from "../lib/index.js";

const options = readOptions(get, request);
if (!isExempt(request, options)) {
  const check = (service) => externalIPProblems(service, options);
  const { denial, warnings } = judgeChange(request, check);
  for (const warning of warnings) warn(warning);
  if (denial) deny(denial);
}
