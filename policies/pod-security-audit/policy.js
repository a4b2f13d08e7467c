// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file (and the
// lib/ it imports) into it, so the policy runs without npm. Edit this or lib/, never the YAML's javascript.
import { reviewPodSecurityRequest, subjectOf } from "../lib/index.js";

// The namespace's pod-security.kubernetes.io/audit level as a record that never blocks: this policy's
// violationPolicy is Dry, so its denial is only written to its JsPolicyViolations (or PolicyReport).
const { audit } = reviewPodSecurityRequest(request, get, list);
if (audit.length) deny(`${subjectOf(request)}: ${audit.join("; ")}`);
