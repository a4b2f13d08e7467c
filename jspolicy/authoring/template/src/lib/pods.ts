import type { V1Container, V1PodSpec } from "@jspolicy/types";

/** Every container of a pod spec: init, regular and ephemeral ones. */
export function allContainers(spec: V1PodSpec | undefined): V1Container[] {
  if (!spec) return [];
  return [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])];
}
