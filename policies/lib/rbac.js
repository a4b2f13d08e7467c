// RBAC and credentials a tenant may not hand out: wildcard and escalation rules in Roles, bindings of the
// privileged ClusterRoles, and long-lived ServiceAccount token Secrets. Options come from lib/options.js.

import { OptionError, PREFIX, booleanOption, listOption } from "./options.js";
import { subjectOf } from "./workloads.js";

/** Verbs that get past RBAC's own escalation checks: the default of `rbac-forbidden-verbs`. */
export const ESCALATION_VERBS = ["escalate", "bind", "impersonate"];
/** ClusterRoles only the platform team may bind: the default of `privileged-roles`. */
export const PRIVILEGED_ROLES = ["cluster-admin", "admin"];
export const SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token";

const VERB = /^[a-z]+$/;
const SUBJECT = /^(User|Group|ServiceAccount):(.+)$/;

function forbiddenVerbs(options) {
  const verbs = listOption(options, "rbac-forbidden-verbs", ESCALATION_VERBS);
  if (verbs.some((verb) => !VERB.test(verb))) throw new OptionError("rbac-forbidden-verbs", options["rbac-forbidden-verbs"], "lower-case verbs separated by commas");
  return verbs;
}

function quoted(values) {
  return values.map((value) => JSON.stringify(value)).join(", ");
}

/**
 * What a Role's or ClusterRole's rules grant too broadly: `*` in verbs or apiGroups, a `*` anywhere in a
 * resource (every resource, every subresource of one, one subresource of every resource), and the verbs of
 * `rbac-forbidden-verbs` (escalate, bind, impersonate): one message naming every offending rule, or none.
 */
export function wildcardRbac(request, options) {
  const forbidden = forbiddenVerbs(options);
  const parts = [];
  let wildcards = false;
  let escalations = false;
  ((request.object || {}).rules || []).forEach((rule, index) => {
    const verbs = rule.verbs || [];
    const wild = [];
    if (verbs.includes("*")) wild.push('verbs "*"');
    if ((rule.apiGroups || []).includes("*")) wild.push('apiGroups "*"');
    const resources = (rule.resources || []).filter((resource) => resource.includes("*"));
    if (resources.length) wild.push(`resources ${quoted(resources)}`);
    if (wild.length) parts.push(`rules[${index}] uses wildcards (${wild.join(", ")})`);
    const used = verbs.filter((verb) => forbidden.includes(verb));
    if (used.length) parts.push(`rules[${index}] grants ${quoted(used)}`);
    wildcards = wildcards || wild.length > 0;
    escalations = escalations || used.length > 0;
  });
  if (!parts.length) return [];
  const advice = [];
  if (wildcards) advice.push("Name the verbs, apiGroups and resources each rule needs");
  if (escalations) advice.push(`${forbidden.join(", ")} are refused as they let a holder get past RBAC (the rbac-forbidden-verbs option)`);
  return [`${subjectOf(request)}: ${parts.join("; ")}. ${advice.join("; ")}`];
}

function allowedSubjects(options) {
  const entries = listOption(options, "rolebinding-allowed-subjects");
  return entries.map((entry) => {
    const match = SUBJECT.exec(entry);
    if (!match || (match[1] === "ServiceAccount" && !/^[^/]+\/[^/]+$/.test(match[2]))) {
      throw new OptionError("rolebinding-allowed-subjects", options["rolebinding-allowed-subjects"], "User:<name>, Group:<name> or ServiceAccount:<namespace>/<name> separated by commas");
    }
    return entry;
  });
}

function subjectName(subject, namespace) {
  if (subject.kind === "ServiceAccount") return `ServiceAccount:${subject.namespace || namespace}/${subject.name}`;
  return `${subject.kind}:${subject.name}`;
}

/**
 * A message for a RoleBinding or ClusterRoleBinding of a ClusterRole in `privileged-roles` (cluster-admin,
 * admin) to subjects outside `rolebinding-allowed-subjects` (`User:alice`, `Group:platform`,
 * `ServiceAccount:ns/name`); empty otherwise.
 */
export function privilegedBinding(request, options) {
  const binding = request.object || {};
  const roleRef = binding.roleRef || {};
  const roles = listOption(options, "privileged-roles", PRIVILEGED_ROLES);
  if (roleRef.kind !== "ClusterRole" || !roles.includes(roleRef.name)) return [];
  const allowed = allowedSubjects(options);
  const namespace = (binding.metadata || {}).namespace || request.namespace || "";
  const refused = (binding.subjects || []).map((subject) => subjectName(subject, namespace)).filter((name) => !allowed.includes(name));
  if (!refused.length) return [];
  const perNamespace = namespace ? `, per namespace the annotation ${PREFIX}rolebinding-allowed-subjects` : "";
  return [`${subjectOf(request)}: binding ClusterRole ${JSON.stringify(roleRef.name)} to ${refused.join(", ")} is not allowed (allowed subjects: ${allowed.join(", ") || "none"}, the rolebinding-allowed-subjects option${perNamespace}); bind a narrower role`];
}

/**
 * A message for a Secret of type kubernetes.io/service-account-token (a token that never expires) unless
 * `allow-service-account-token-secrets` is true.
 */
export function serviceAccountTokenSecret(request, options) {
  const secret = request.object || {};
  if (secret.type !== SERVICE_ACCOUNT_TOKEN || booleanOption(options, "allow-service-account-token-secrets", false)) return [];
  const account = ((secret.metadata || {}).annotations || {})["kubernetes.io/service-account.name"];
  const whose = account ? ` for ServiceAccount ${JSON.stringify(account)}` : "";
  return [`${subjectOf(request)}: type ${SERVICE_ACCOUNT_TOKEN} makes a token that never expires${whose}; use short-lived tokens (kubectl create token, or a projected serviceAccountToken volume), or set ${PREFIX}allow-service-account-token-secrets: "true" on the namespace`];
}
