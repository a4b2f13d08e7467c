// Shared helpers: import them by relative path ("../../lib/labels"); the bundler
// copies what a policy uses into that policy's bundle.
import type { KubernetesObject } from "@jspolicy/types";

/** The labels from `required` that `object` lacks or has empty. */
export function missingLabels(object: KubernetesObject, required: readonly string[]): string[] {
  const labels = object.metadata?.labels ?? {};
  return required.filter((key) => !labels[key]);
}

/** "Deployment shop/web" (or "Pod web-7c9f8-" for a generated name), for messages. */
export function describe(object: KubernetesObject): string {
  const meta = object.metadata ?? {};
  const name = meta.name || meta.generateName || "(unnamed)";
  return `${object.kind ?? "object"} ${meta.namespace ? `${meta.namespace}/` : ""}${name}`;
}
