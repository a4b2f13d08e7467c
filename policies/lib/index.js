// jspolicy-guardrails: checks for jsPolicy policies. Each returns violation messages; the policy decides
// whether to deny() or warn().
// -- pod-security (lib/pod-security.js, lib/pod-security-admission.js) --
export {
  BASELINE, NEWEST_POD_SECURITY_VERSION, POD_SECURITY_LEVELS, parsePodSecurityLevel, parsePodSecurityVersion,
  podSecurity, podSecurityBaseline, podSecurityBaselineViolation, podSecurityDetail, podSecurityViolation,
} from "./pod-security.js";
export {
  POD_SECURITY_LABEL_PREFIX, POD_SECURITY_MAX_PODS_TO_CHECK, isSignificantPodUpdate, podSecurityExemptions,
  podSecurityNamespaceWarnings, podSecurityOptions, podSecurityPolicyOf, podSecurityReview, reviewPodSecurityRequest,
} from "./pod-security-admission.js";
// -- end pod-security --
export { disallowNamespaces, requireLabels } from "./tenancy.js";
export { containersOf, podSpecOf, podTemplateOf, subjectOf } from "./workloads.js";
export {
  OPTIONS_CONFIGMAP, OPTIONS_NAMESPACE, OptionError, PREFIX, SYSTEM_NAMESPACES, TENANT_LABEL, booleanOption, hasOption,
  isExempt, listOption, namespaceOf, numberOption, optionChecked, pairsOption, parseQuantity, quantityOption, readOptions,
  resolveOptions, tenantOf,
} from "./options.js";
// -- namespaces, rbac, tenant-defaults (lib/namespaces.js, lib/rbac.js, lib/tenant-defaults.js) --
export {
  PROTECTED_KEY, PROTECTED_PREFIXES, TENANT_GROUP_PREFIX, isTenantRequest, namespaceListOption, newNamespaceTenant,
  protectedDeletion, protectedExec, protectedNamespaceChanges, userTenants,
} from "./namespaces.js";
export {
  ESCALATION_VERBS, PRIVILEGED_ROLES, SERVICE_ACCOUNT_TOKEN, privilegedBinding, serviceAccountTokenSecret, wildcardRbac,
} from "./rbac.js";
export {
  DEFAULTS_NAME, DEFAULT_LIMIT, DEFAULT_QUOTA_HARD, DEFAULT_REQUEST, MANAGED_BY_LABEL, MANAGER, TENANT_LIMIT_RANGE,
  TENANT_NETWORK_POLICY, TENANT_RESOURCE_QUOTA, quantitiesOption, reconcileTenantDefaults, sameSpec, tenantDefaultFor,
} from "./tenant-defaults.js";
// -- network, storage (lib/network.js, lib/storage.js) --
export {
  ENDPOINT_MANAGERS, cidrOption, clusterDomainOption, endpointAddressesOf, endpointProblems, externalIPProblems,
  externalNameProblems, hostMatches, hostsOverlap, howToSet, inCIDRs, ingressClassProblems, ingressClassesOf,
  ingressHostAllowlistProblems, ingressHostConflicts, ingressHostPatterns, ingressHostsOf, internalNameReason,
  isEndpointManager, judgeChange, parseCIDR, parseIP, quoted, riskyIngressProblems, serviceTypeProblems,
} from "./network.js";
export {
  claimsOf, cleanHostPath, hostPathPrefixesOption, hostPathProblems, pvcSizeProblems, storageClassOf,
  storageClassProblems, underHostPaths,
} from "./storage.js";
// -- images, scheduling, resources (lib/images.js, lib/scheduling.js, lib/resources.js) --
export {
  DEFAULT_REGISTRIES, allowedRegistries, defaultPullPolicy, imageSourcesOf, parseImage, pullPolicyViolations,
  registryViolations, tagViolations,
} from "./images.js";
export {
  DEFAULT_TOLERATION_KEYS, SYSTEM_PRIORITY_CLASSES, addedBy, defaultPriorityClass, isControlPlane, isLabelKey,
  nodeNameViolations, nodePoolOf, nodePoolViolations, priorityClassViolations, withNodePool,
} from "./scheduling.js";
export {
  DEFAULT_MAX_REPLICAS, DEFAULT_REQUIRED_RESOURCES, ownerLabels, replicaViolations, replicasGrow, replicasOf,
  resourceViolations, serviceAccountNameOf, tokenMountViolation,
} from "./resources.js";
