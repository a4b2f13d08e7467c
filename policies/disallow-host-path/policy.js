// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file and the lib/
// modules it imports into it. Edit this or lib/, never the YAML's javascript.
import { hostPathProblems, isExempt, judgeChange, namespaceOf, readOptions } from "../lib/index.js";

// PersistentVolumes have no namespace: they take the ConfigMap's options.
const options = readOptions(get, request, ["allowed-host-paths", "host-path-read-only"]);
if (!isExempt(request, options)) {
  const check = (object) => hostPathProblems(object, options, namespaceOf(request));
  const { denial, warnings } = judgeChange(request, check);
  for (const warning of warnings) warn(warning);
  if (denial) deny(denial);
}
