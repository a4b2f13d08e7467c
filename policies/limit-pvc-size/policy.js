// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file and the lib/
// modules it imports into it. Edit this or lib/, never the YAML's javascript.
import { isExempt, judgeChange, namespaceOf, pvcSizeProblems, readOptions } from "../lib/index.js";

const options = readOptions(get, request, ["max-pvc-size"]);
if (!isExempt(request, options)) {
  const check = (object) => pvcSizeProblems(object, options, namespaceOf(request));
  const { denial, warnings } = judgeChange(request, check);
  for (const warning of warnings) warn(warning);
  if (denial) deny(denial);
}
