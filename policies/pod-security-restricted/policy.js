// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file (and the
// lib/ it imports) into it, so the policy runs without npm. Edit this or lib/, never the YAML's javascript.
import { reviewPodSecurityRequest } from "../lib/index.js";

// Restricted (which includes baseline) at latest in every namespace; only the pod-security-exempt-* options apply.
const { denial } = reviewPodSecurityRequest(request, get, list, { level: "restricted" });
if (denial) deny(denial.message, denial.reason, denial.code);
