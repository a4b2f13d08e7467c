// The source of policy.yaml's spec.javascript: `python -m tests.guardrail_sync` bundles this file (and the
// lib/ it imports) into it, so the policy runs without npm. Edit this or lib/, never the YAML's javascript.
// A controller policy: it runs on the leader for every event of a Namespace and of the objects it makes, and
// writes through create()/update() (see lib/tenant-defaults.js).
import { TENANT_NETWORK_POLICY, reconcileTenantDefaults } from "../lib/index.js";

const result = reconcileTenantDefaults(request, TENANT_NETWORK_POLICY, { get, create, update });
result.done.forEach((line) => print(line));
if (result.retry.length) requeue(result.retry.join("; "));
if (result.problems.length) deny(result.problems.join("; "));
