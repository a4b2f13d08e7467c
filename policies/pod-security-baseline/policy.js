// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file (and the
// lib/ it imports) into it, so the policy runs without npm. Edit this or lib/, never the YAML's javascript.
import { podSecurityBaselineViolation } from "../lib/index.js";

const violation = podSecurityBaselineViolation(request);
if (violation) deny(violation);
