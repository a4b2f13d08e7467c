// Where the pods are in the objects a policy is sent: a Pod, or the pod template of a workload controller.

// Kinds whose pod template is spec.template (CronJob's is spec.jobTemplate.spec.template).
const TEMPLATE_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"]);

/**
 * The pod (metadata and spec) inside `object`: a Pod itself, the template of a Deployment, StatefulSet,
 * DaemonSet, ReplicaSet, ReplicationController or Job, the job template's pod template of a CronJob.
 * Any other kind with a pod-shaped spec.template (spec.template.spec.containers, e.g. an Argo Rollout) counts
 * too. Missing parts are empty objects; undefined when the object holds no pod.
 */
export function podTemplateOf(object) {
  if (!object || typeof object !== "object") return undefined;
  const spec = object.spec || {};
  if (object.kind === "Pod") return { metadata: object.metadata || {}, spec };
  let template;
  if (object.kind === "CronJob") template = ((spec.jobTemplate || {}).spec || {}).template || {};
  else if (TEMPLATE_KINDS.has(object.kind)) template = spec.template || {};
  else if (spec.template && spec.template.spec && Array.isArray(spec.template.spec.containers)) template = spec.template;
  else return undefined;
  return { metadata: template.metadata || {}, spec: template.spec || {} };
}

/** The pod spec of a Pod or of a workload's pod template (see podTemplateOf); undefined when there is none. */
export function podSpecOf(object) {
  const pod = podTemplateOf(object);
  return pod === undefined ? undefined : pod.spec;
}

/** Every container of a pod spec: initContainers, containers, then ephemeralContainers. */
export function containersOf(podSpec) {
  const spec = podSpec || {};
  return [].concat(spec.initContainers || [], spec.containers || [], spec.ephemeralContainers || []);
}

/**
 * How a message names the object of an admission request: "Pod web", "Deployment shop". Pods made from a
 * generateName (a ReplicaSet's) have no name yet at admission and are named by the prefix.
 */
export function subjectOf(request) {
  const object = request.object || request.oldObject || {};
  const metadata = object.metadata || {};
  const name = request.name || metadata.name || metadata.generateName || "";
  const kind = (request.kind || {}).kind || object.kind || "";
  return name ? `${kind} ${name}` : kind;
}
