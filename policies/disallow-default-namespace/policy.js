import { disallowNamespaces, isControlPlane, isExempt, readOptions, subjectOf } from "../lib/index.js";

// The webhook is called for the default namespace only (policy.yaml's namespaceSelector). What the control plane
// makes there on its own (the kubernetes Service, the pods of workloads that predate the policy) is left alone.
const options = readOptions(get, request);
const problems = isExempt(request, options) || isControlPlane(request) ? [] : disallowNamespaces(request, ["default"]);
if (problems.length) deny(`${subjectOf(request)}: ${problems.join("; ")} for Pods, workloads and Services: create it in your team's namespace (kubectl -n <namespace>)`);
