// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file (and the
// lib/ it imports) into it, so the policy runs without npm. Edit this or lib/, never the YAML's javascript.
import { isExempt, optionChecked, protectedNamespaceChanges, readOptions } from "../lib/index.js";

const options = readOptions(get, request);
const problems = optionChecked(() => (isExempt(request, options) ? [] : protectedNamespaceChanges(request, options)));
if (problems.length) deny(problems.join("; "));
