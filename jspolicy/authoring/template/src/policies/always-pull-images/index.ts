// Mutating: every container pulls its image on each start (imagePullPolicy: Always), so a
// pod cannot run a cached image its node pulled with someone else's credentials.
import type { V1Pod } from "@jspolicy/types";
import { allContainers } from "../../lib/pods";

const pod = request.object as V1Pod | null | undefined;
let changed = false;
for (const container of allContainers(pod?.spec)) {
  if (container.imagePullPolicy !== "Always") {
    container.imagePullPolicy = "Always";
    changed = true;
  }
}
if (pod && changed) {
  mutate(pod); // jspolicy answers with a JSON Patch from the original object to this one
}
