// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file (and the
// lib/ it imports) into it, so the policy runs without npm. Edit this or lib/, never the YAML's javascript.
import { namespaceOf, reviewPodSecurityRequest, subjectOf } from "../lib/index.js";

// The levels come from the namespace's pod-security.kubernetes.io/ labels, as the API server's own admission
// reads them: enforce denies, warn warns, audit is a log line (pod-security-audit also records it).
const { denial, warnings, audit } = reviewPodSecurityRequest(request, get, list);
const where = `${subjectOf(request)} in namespace ${JSON.stringify(namespaceOf(request))}`;
audit.forEach((line) => print(`audit: ${where} by ${JSON.stringify((request.userInfo || {}).username || "")}: ${line}`));
warnings.forEach((warning) => warn(warning));
if (denial) deny(denial.message, denial.reason, denial.code);
