// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file and the lib/
// modules it imports into it. Edit this or lib/, never the YAML's javascript.
import { ingressClassProblems, isExempt, judgeChange, namespaceOf, readOptions } from "../lib/index.js";

const options = readOptions(get, request, ["allowed-ingress-classes", "require-ingress-class"]);
if (!isExempt(request, options)) {
  const check = (ingress) => ingressClassProblems(ingress, options, namespaceOf(request));
  const { denial, warnings } = judgeChange(request, check);
  for (const warning of warnings) warn(warning);
  if (denial) deny(denial);
}
