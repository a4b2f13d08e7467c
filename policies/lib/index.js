// jspolicy-guardrails: checks for jsPolicy policies. Each returns violation messages; the policy decides
// whether to deny() or warn().
export { podSecurityBaseline, podSecurityBaselineViolation, BASELINE } from "./pod-security.js";
export { allowedRegistries, disallowNamespaces, requireLabels } from "./tenancy.js";
export { containersOf, podSpecOf, podTemplateOf, subjectOf } from "./workloads.js";
export {
  OPTIONS_CONFIGMAP, OPTIONS_NAMESPACE, OptionError, PREFIX, SYSTEM_NAMESPACES, TENANT_LABEL, booleanOption, hasOption,
  isExempt, listOption, namespaceOf, numberOption, parseQuantity, quantityOption, readOptions, resolveOptions, tenantOf,
} from "./options.js";
